// The viewer: hls.js plays `src`; every presented video frame (requestVideoFrameCallback) is drawn
// to a small canvas, the pixel clock read back and compared with this page's clock at the frame's
// expected display time. Query: src, ll (1 = lowLatencyMode), label, hls (JSON: extra hls.js config),
// prefetch (0 = without the watch page's preload-hint prefetch).
/* global Hls */
import { decodeLevels, latencyFrom, sampleLevels, WIDTH, HEIGHT } from '/pixel-clock.js';
import { attachCatchUp } from '/catch-up.js';
import { partPrefetch } from '/part-prefetch.js';

const q = new URLSearchParams(location.search);
const lowLatencyMode = q.get('ll') === '1';
const video = document.getElementById('v');
const status = document.getElementById('status');

const SCALE = 0.25;
const cw = Math.round(WIDTH * SCALE);
const ch = Math.round(HEIGHT * SCALE);
const canvas = new OffscreenCanvas(cw, ch);
const ctx = canvas.getContext('2d', { willReadFrequently: true });

/** rt mode's probe socket (rtProbe), and the newest rVFC metadata. */
let rtStats = null;
let lastMd = null;

function fresh() {
  return {
    since: Date.now(),
    frames: 0,
    read: 0,
    rejected: { ambiguous: 0, checksum: 0, implausible: 0, size: 0 },
    repeats: 0,
    latency: [],
    /** Seconds of media buffered ahead of the playhead, at each read frame. */
    bufferAhead: [],
    /** hls.js's own latency estimate (live edge - playhead), s. */
    hlsLatency: [],
    targetLatency: [],
    /** Date.now() - hls.playingDate (from EXT-X-PROGRAM-DATE-TIME), ms. */
    pdtLatency: [],
    /** pixel-clock latency - PDT latency: how far the stream's PDT anchor is off the capture clock, ms. */
    pixelMinusPdt: [],
    playbackRate: [],
    /** Once a second: [s since start, last latency ms, buffer ahead ms, rate, hls.js latency ms, target ms]. */
    timeline: [],
    /** Diagnosis: appends that left the buffer in pieces, stalls, and parts appended more than once. */
    events: [],
    /** Age of the newest media in a just-loaded part (LL) or segment: load end - PDT of its end, ms. */
    loadAge: [],
    loads: 0,
    segmentLoads: 0,
    /** Loads whose newest media was over 1 s old: which, and how long the request took. */
    lateLoads: [],
    waiting: 0,
    stalls: 0,
    /** Frames shown while video.buffered had more than one range (holes), and the most ranges seen. */
    holeFrames: 0,
    holes: [],
    maxRanges: 0,
    errors: [],
    droppedAtStart: video.getVideoPlaybackQuality?.().droppedVideoFrames ?? 0,
    /** Frames the decoder had (getVideoPlaybackQuality), the compositor showed (rVFC presentedFrames), and, in rt
     * mode, the socket brought, at the start of the window. */
    decodedAtStart: video.getVideoPlaybackQuality?.().totalVideoFrames ?? 0,
    presentedAtStart: lastMd?.presentedFrames ?? 0,
    receivedAtStart: rtStats?.frames[1] ?? 0,
    resolution: null,
  };
}
let stats = fresh();
let lastValue = -1;

// rt diagnosis: a second socket to the same /realtime URL, parsing each fragment's per-track timing (tfhd track,
// tfdt, trun durations), so the timeline can show the video and audio edges separately (one SourceBuffer's
// `buffered` is their intersection) and how frames arrive (messages per second, frames per message).
function rtProbe(url) {
  const st = { timescale: { 1: 90000, 2: 48000 }, edge: {}, msgs: 0, frames: { 1: 0, 2: 0 }, gaps: [], lastEnd: {}, durs: [] };
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const u32 = (v, o) => v.getUint32(o);
  function walk(v, from, to, fn) {
    let at = from;
    while (at + 8 <= to) {
      const size = u32(v, at);
      if (size < 8 || at + size > to) return;
      fn(String.fromCharCode(v.getUint8(at + 4), v.getUint8(at + 5), v.getUint8(at + 6), v.getUint8(at + 7)), at + 8, at + size);
      at += size;
    }
  }
  ws.onmessage = (e) => {
    if (typeof e.data === 'string') return;
    st.msgs++;
    const v = new DataView(e.data);
    walk(v, 0, v.byteLength, (t, s, end) => {
      if (t === 'moov') walk(v, s, end, (t2, s2, e2) => {
        if (t2 !== 'trak') return;
        let id = 0;
        walk(v, s2, e2, (t3, s3, e3) => {
          if (t3 === 'tkhd') id = u32(v, s3 + (v.getUint8(s3) === 1 ? 20 : 12));
          if (t3 === 'mdia') walk(v, s3, e3, (t4, s4) => {
            if (t4 === 'mdhd') st.timescale[id] = u32(v, s4 + (v.getUint8(s4) === 1 ? 20 : 12));
          });
        });
      });
      if (t !== 'moof') return;
      walk(v, s, end, (t2, s2, e2) => {
        if (t2 !== 'traf') return;
        let id = 0, base = 0, dur = 0, n = 0;
        walk(v, s2, e2, (t3, s3) => {
          if (t3 === 'tfhd') id = u32(v, s3 + 4);
          if (t3 === 'tfdt') base = v.getUint8(s3) === 1 ? u32(v, s3 + 4) * 2 ** 32 + u32(v, s3 + 8) : u32(v, s3 + 4);
          if (t3 === 'trun') {
            const flags = u32(v, s3) & 0xffffff;
            n = u32(v, s3 + 4);
            let o = s3 + 8 + (flags & 1 ? 4 : 0) + (flags & 4 ? 4 : 0);
            const per = ((flags & 0x100 ? 1 : 0) + (flags & 0x200 ? 1 : 0) + (flags & 0x400 ? 1 : 0) + (flags & 0x800 ? 1 : 0)) * 4;
            for (let i = 0; i < n; i++, o += per) if (flags & 0x100) dur += u32(v, o);
          }
        });
        const ts = st.timescale[id] || 1;
        const startS = base / ts;
        if (st.lastEnd[id] !== undefined && st.gaps.length < 40 && Math.abs(startS - st.lastEnd[id]) > 0.002) st.gaps.push({ id, gapMs: Math.round((startS - st.lastEnd[id]) * 1000) });
        if (id === 1 && st.durs.length < 60) st.durs.push([Math.round(startS * 1000), Math.round((dur / ts) * 1000)]);
        st.lastEnd[id] = (base + dur) / ts;
        st.edge[id] = (base + dur) / ts;
        st.frames[id] = (st.frames[id] || 0) + n;
      });
    });
  };
  return st;
}


// rt (a ws:// URL): the watch page's realtime player instead of hls.js, behind a stand-in with the fields read below.
const rt = q.get('rt');
let realtime = null;
if (rt) {
  const { createRealtimePlayer } = await import('/player/realtime-player.js');
  rtStats = rtProbe(rt);
  realtime = createRealtimePlayer(video, 'bench', { onEnded: () => undefined, onFail: (r) => stats.errors.push(`realtime: ${r}`), onMedia: () => undefined }, rt);
}
// stock=1: hls.js as a new user gets it, `new Hls()` with no config at all (lowLatencyMode on by default), no
// catch-up, no prefetch (run.ts mode hlsjs-stock; --hls adds to it, for diagnosis).
const stock = q.get('stock') === '1';
// The watch page's preload-hint prefetch (app/watch/part-prefetch.ts; only acts in low-latency mode).
const prefetch = rt || stock || q.get('prefetch') === '0' ? null : partPrefetch(Hls.DefaultConfig.loader);
const hls = rt
  ? {
      on() {},
      loadSource() {},
      attachMedia() {},
      get latency() {
        return realtime.behindLive() ?? NaN;
      },
      targetLatency: null,
      get playingDate() {
        return realtime.playingDate();
      },
    }
  : stock
  ? new Hls(JSON.parse(q.get('hls') || '{}')) // run.ts passes only --hls here (default {}: no config)
  : new Hls({
      // The product's watch page settings (app/watch/hls-config.ts) plus any experiment (run.ts --hls '{...}'), from run.ts.
      ...JSON.parse(q.get('hls') || '{}'),
      ...(prefetch ? prefetch.config : {}),
      lowLatencyMode,
    });
// As the watch page: some errors turn the prefetch off for the rest of the session (part-prefetch.ts STOP_ON).
if (prefetch) hls.on(Hls.Events.ERROR, (_e, data) => prefetch.prefetcher.onPlayerError(data.details));
hls.on(Hls.Events.ERROR, (_e, data) => {
  if (data.details === 'bufferStalledError') stats.stalls++;
  if (stats.errors.length < 30) stats.errors.push(`${data.fatal ? 'FATAL ' : ''}${data.type}/${data.details}`);
  if (data.fatal) {
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
    else setTimeout(() => hls.startLoad(), 1000);
  }
});
hls.on(Hls.Events.FRAG_LOADED, (_e, data) => {
  stats.loads++;
  const frag = data.frag;
  const part = data.part;
  if (!frag.programDateTime) return;
  // In low-latency mode only parts count (a whole segment loaded then is a catch-up, not the live edge).
  if (lowLatencyMode && !part) {
    stats.segmentLoads++;
    return;
  }
  const endMedia = part ? part.start + part.duration : frag.start + frag.duration;
  const endPdt = frag.programDateTime + (endMedia - frag.start) * 1000;
  const loaded = (part ?? frag).stats.loading.end;
  const loadedEpoch = Date.now() - (performance.now() - loaded);
  const age = loadedEpoch - endPdt;
  stats.loadAge.push(age);
  if (age > 1000 && stats.lateLoads.length < 20) {
    const st = (part ?? frag).stats.loading;
    stats.lateLoads.push({ sn: frag.sn, part: part ? part.index : null, ageMs: Math.round(age), requestToFirstByteMs: Math.round(st.first - st.start), requestStartAgeMs: Math.round(Date.now() - (performance.now() - st.start) - endPdt) });
  }
});
// The realtime player has no hls.js stall events: a 'waiting' after it started, not a seek's, is its stall.
video.addEventListener('waiting', () => {
  stats.waiting++;
  if (rtStats && video.currentTime > 0 && !video.seeking) stats.stalls++;
});
const rangesOf = () => {
  const b = video.buffered;
  const out = [];
  for (let i = 0; i < b.length; i++) out.push(`${b.start(i).toFixed(3)}-${b.end(i).toFixed(3)}`);
  return out.join(' ');
};
const appended = new Set();
const logEvent = (e) => {
  if (stats.events.length < 60) stats.events.push({ t: ((Date.now() - stats.since) / 1000).toFixed(2), ct: video.currentTime.toFixed(3), ranges: rangesOf(), ...e });
};
hls.on(Hls.Events.FRAG_BUFFERED, (_e, data) => {
  const key = `${data.frag.sn}.${data.part ? data.part.index : 'all'}`;
  const again = appended.has(key);
  appended.add(key);
  if (again || video.buffered.length > 1) logEvent({ ev: again ? 'appended-again' : 'appended-hole', key, start: (data.part ?? data.frag).start.toFixed(3), end: ((data.part ?? data.frag).start + (data.part ?? data.frag).duration).toFixed(3) });
});
hls.on(Hls.Events.ERROR, (_e, data) => {
  if (data.type === Hls.ErrorTypes.MEDIA_ERROR) logEvent({ ev: data.details });
});
video.addEventListener('waiting', () => logEvent({ ev: 'waiting' }));
video.addEventListener('seeking', () => logEvent({ ev: 'seeking' }));
// The start, from the page's load (kept through the warm-up; issue #17's question of where a stock player starts and
// why): the first playlists, part/segment loads and appends, the first seek and 'playing', with the playhead and the
// edge at each, ms since the page's script ran.
const startLog = [];
const t0 = performance.now();
const startEvent = (ev, extra) => {
  if (startLog.length >= 40) return;
  const b = video.buffered;
  startLog.push({ ev, ms: Math.round(performance.now() - t0), ct: +video.currentTime.toFixed(3), edge: b.length ? +b.end(b.length - 1).toFixed(3) : null, ...extra });
};
if (!rt) {
  hls.on(Hls.Events.MANIFEST_LOADED, () => startEvent('manifest'));
  hls.on(Hls.Events.LEVEL_LOADED, (_e, d) => {
    const det = d.details;
    if (startLog.filter((x) => x.ev === 'level').length < 3) startEvent('level', { plEdge: +det.edge.toFixed(3), age: +(det.age ?? 0).toFixed(3), sync: hls.liveSyncPosition === null ? null : +hls.liveSyncPosition.toFixed(3), target: hls.targetLatency, startPosition: hls.startPosition });
  });
  hls.on(Hls.Events.FRAG_LOADING, (_e, d) => startEvent('loading', { sn: d.frag.sn, part: d.part ? d.part.index : null, start: +(d.part ?? d.frag).start.toFixed(3), independent: d.part ? d.part.independent : undefined }));
  hls.on(Hls.Events.FRAG_BUFFERED, (_e, d) => startEvent('buffered', { sn: d.frag.sn, part: d.part ? d.part.index : null }));
}
video.addEventListener('seeking', () => startEvent('seeking'), { once: true });
video.addEventListener('playing', () => startEvent('playing', { sync: hls.liveSyncPosition ?? null }), { once: true });
hls.loadSource(q.get('src'));
hls.attachMedia(video);
// As the watch page (app/watch/[id]/Watch.tsx), in low-latency mode.
if (!stock && lowLatencyMode && q.get('catchup') !== '0') attachCatchUp(hls, video);
video.muted = true;
video.play().catch(() => undefined);
setInterval(() => {
  if (video.paused && video.readyState >= 2) video.play().catch(() => undefined);
}, 1000);

/** Luma sampler from the frame on screen: the Y plane via WebCodecs (no RGB conversion), else a canvas. */
let frameBuf = null;
let readPath = null;
async function lumaOfFrame() {
  if (typeof VideoFrame === 'function' && readPath !== 'canvas') {
    const vf = new VideoFrame(video);
    try {
      const fmt = vf.format;
      const yuv = fmt === 'I420' || fmt === 'I420A' || fmt === 'NV12' || fmt === 'I422' || fmt === 'I444';
      const rgb = fmt === 'RGBA' || fmt === 'RGBX' || fmt === 'BGRA' || fmt === 'BGRX';
      if (yuv || rgb) {
        const size = vf.allocationSize();
        if (!frameBuf || frameBuf.length < size) frameBuf = new Uint8Array(size);
        const layout = await vf.copyTo(frameBuf);
        const { offset, stride } = layout[0];
        const w = vf.visibleRect.width;
        const h = vf.visibleRect.height;
        const buf = frameBuf;
        readPath = `VideoFrame ${fmt}`;
        const clampX = (x) => Math.min(w - 1, Math.max(0, x));
        const clampY = (y) => Math.min(h - 1, Math.max(0, y));
        if (yuv) return { w, h, luma: (x, y) => buf[offset + clampY(y) * stride + clampX(x)] };
        const [r, b] = fmt.startsWith('RGB') ? [0, 2] : [2, 0];
        return {
          w,
          h,
          luma: (x, y) => {
            const i = offset + clampY(y) * stride + clampX(x) * 4;
            return (buf[i + r] * 77 + buf[i + 1] * 150 + buf[i + b] * 29) >> 8;
          },
        };
      }
    } finally {
      vf.close();
    }
  }
  readPath = 'canvas';
  ctx.drawImage(video, 0, 0, cw, ch);
  const px = ctx.getImageData(0, 0, cw, ch).data;
  return {
    w: WIDTH,
    h: HEIGHT,
    scale: SCALE,
    luma: (x, y) => {
      const i = (Math.min(ch - 1, Math.max(0, y)) * cw + Math.min(cw - 1, Math.max(0, x))) * 4;
      return (px[i] * 77 + px[i + 1] * 150 + px[i + 2] * 29) >> 8;
    },
  };
}

async function onFrame(_now, md) {
  // The frame is on screen at expectedDisplayTime: take Date.now() and shift it there.
  const shownAt = Date.now() + (md.expectedDisplayTime - performance.now());
  try {
    stats.frames++;
    if (md.width !== WIDTH || md.height !== HEIGHT) {
      stats.rejected.size++;
      stats.resolution = `${md.width}x${md.height}`;
      return;
    }
    const img = await lumaOfFrame();
    if (img.w !== WIDTH || img.h !== HEIGHT) {
      stats.rejected.size++;
      stats.resolution = `${img.w}x${img.h} (${readPath})`;
      return;
    }
    const d = decodeLevels(sampleLevels(img.luma, img.scale ?? 1));
    if (!d.ok) {
      stats.rejected[d.reason]++;
      return;
    }
    const lat = latencyFrom(d.value, shownAt);
    if (lat < -50 || lat > 60_000) {
      stats.rejected.implausible++;
      return;
    }
    stats.read++;
    if (d.value === lastValue) stats.repeats++;
    lastValue = d.value;
    stats.latency.push(lat);
    const b = video.buffered;
    if (b.length > 1) {
      stats.holeFrames++;
      for (let i = 1; i < b.length; i++) {
        const key = b.end(i - 1).toFixed(3);
        if (stats.holes.length < 12 && !stats.holes.some((h) => h.at === key)) {
          // Which SourceBuffer has it (hls.js internals, for diagnosis only).
          let perBuffer = null;
          try {
            const sbs = hls.bufferController?.mediaSource?.sourceBuffers;
            if (sbs) perBuffer = Array.from(sbs).map((sb) => `${sb.buffered.length} range(s)`).join(', ');
            const tracks = hls.bufferController?.tracks;
            if (tracks) perBuffer = `${Object.keys(tracks).join('+')}: ${perBuffer}`;
          } catch {
            /* internals changed */
          }
          stats.holes.push({ at: key, gapMs: Math.round((b.start(i) - b.end(i - 1)) * 1000), aheadOfPlayheadMs: Math.round((b.end(i - 1) - video.currentTime) * 1000), perBuffer });
        }
      }
    }
    stats.maxRanges = Math.max(stats.maxRanges, b.length);
    stats.bufferAhead.push(b.length ? b.end(b.length - 1) - video.currentTime : 0);
    stats.hlsLatency.push(hls.latency);
    stats.targetLatency.push(hls.targetLatency ?? NaN);
    stats.playbackRate.push(video.playbackRate);
    const pd = hls.playingDate;
    if (pd) {
      stats.pdtLatency.push(shownAt - pd.getTime());
      stats.pixelMinusPdt.push(lat - (shownAt - pd.getTime()));
    }
  } catch (e) {
    if (stats.errors.length < 30) stats.errors.push(`frame: ${e?.message ?? e}`);
  }
}
function loop(now, md) {
  lastMd = md;
  video.requestVideoFrameCallback(loop);
  void onFrame(now, md);
}
video.requestVideoFrameCallback(loop);

setInterval(() => {
  const l = stats.latency;
  const b = video.buffered;
  const r3 = (x) => Math.round(x * 1000);
  stats.timeline.push([Math.round((Date.now() - stats.since) / 1000), l.length ? l[l.length - 1] : null, b.length ? r3(b.end(b.length - 1) - video.currentTime) : 0, video.playbackRate, r3(hls.latency), r3(hls.targetLatency ?? NaN)]);
  if (rtStats) {
    const q = video.getVideoPlaybackQuality();
    const r3 = (x) => (x === undefined ? null : Math.round(x * 1000));
    logEvent({ ev: 'rt', ctMs: r3(video.currentTime), vEdgeMs: r3(rtStats.edge[1]), aEdgeMs: r3(rtStats.edge[2]), total: q.totalVideoFrames, dropped: q.droppedVideoFrames, presented: lastMd?.presentedFrames, rvfc: stats.frames, msgs: rtStats.msgs, vFrames: rtStats.frames[1], aFrames: rtStats.frames[2], rate: video.playbackRate, rs: video.readyState, ...realtime.steering() });
  }
  status.textContent = `${q.get('label')}: frames ${stats.frames} read ${stats.read} last ${l.length ? l[l.length - 1] : '-'} ms, rate ${video.playbackRate}, target ${hls.targetLatency}`;
}, 1000);

window.bench = {
  reset() {
    stats = fresh();
  },
  collect() {
    const s = stats;
    stats = fresh();
    const q = video.getVideoPlaybackQuality?.();
    if (startLog.length) s.events.push({ ev: 'start', log: startLog.slice() });
    if (rtStats) s.events.push({ ev: 'rt-gaps', gaps: rtStats.gaps.slice(0, 20), durs: rtStats.durs.slice(0, 40) });
    return { ...s, readPath, prefetch: prefetch ? { ...prefetch.prefetcher.counts } : null, seconds: (Date.now() - s.since) / 1000, dropped: (q?.droppedVideoFrames ?? 0) - s.droppedAtStart, decoded: (q?.totalVideoFrames ?? 0) - s.decodedAtStart, presented: (lastMd?.presentedFrames ?? 0) - s.presentedAtStart, received: rtStats ? rtStats.frames[1] - s.receivedAtStart : null, visibility: document.visibilityState };
  },
};
