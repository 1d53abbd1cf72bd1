#!/bin/sh
# For experiments only (run.ts --ingest-out-args): runs the real ffmpeg with extra output options
# (LATENCY_INGEST_OUT_ARGS, space-separated) inserted before the last argument, the ingest's RTMP
# output URL. Other invocations (ffmpeg -version) pass through unchanged.
real="${LATENCY_REAL_FFMPEG:-ffmpeg}"
if [ "$#" -lt 2 ] || [ -z "$LATENCY_INGEST_OUT_ARGS" ]; then exec "$real" "$@"; fi
n=$#
i=0
for a in "$@"; do
  i=$((i + 1))
  if [ "$i" -eq "$n" ]; then
    # shellcheck disable=SC2086
    set -- "$@" $LATENCY_INGEST_OUT_ARGS "$a"
  else
    set -- "$@" "$a"
  fi
done
shift "$n"
exec "$real" "$@"
