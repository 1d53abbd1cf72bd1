'use client';

import { useCallback, useEffect, useRef, useState, type SyntheticEvent } from 'react';
import { CopyField, useCopy } from '../components/CopyField';
import type { Status } from './ingest';
import {
  AUDIO_BITS_PER_SECOND,
  AudioMixer,
  DEFAULT_PRESET,
  NO_MIC,
  PRESETS,
  canShareScreen,
  captureErrorMessage,
  hasMediaDevices,
  hasMediaRecorder,
  listDevices,
  openCamera,
  openMicrophone,
  openScreen,
  pickMimeType,
  presetById,
  recorderOptions,
  stopStream,
  type DeviceLists,
  type PresetId,
} from './media';
import {
  createStream,
  fetchIngestInfo,
  fetchObsServer,
  forgetStream,
  loadStream,
  saveStream,
  type IngestInfo,
  type StoredStream,
} from './streamStore';
import { useIngest } from './useIngest';

type Source = 'camera' | 'screen';
type Health = 'off' | 'connecting' | 'good' | 'struggling' | 'reconnecting';

interface Support {
  recorder: boolean;
  devices: boolean;
  screen: boolean;
  secure: boolean;
}

export interface GoliveState {
  status: Status;
  streamId: string | null;
  reconnects: number;
  error: string | null;
}

/** Test hooks, always present (harmless): see e2e/broadcast.spec.ts. */
export interface GoliveHooks {
  dropConnection(): void;
  sendGarbageFirst: boolean;
  state(): GoliveState;
}

declare global {
  interface Window {
    __golive?: GoliveHooks;
  }
}

interface MediaRefs {
  camera: MediaStream | null;
  /** Shared screen + mixed audio, what is recorded when sharing. */
  screenRecord: MediaStream | null;
  screenMixer: AudioMixer | null;
  /** Silence for a camera without a microphone. */
  silence: AudioMixer | null;
}

const MAX_TITLE = 120;
const DEFAULT_MAX_MESSAGE = 1024 * 1024;

function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function formatBitrate(bps: number): string {
  if (!Number.isFinite(bps) || bps <= 0) return '0 kbit/s';
  if (bps >= 1_000_000) return `${(bps / 1_000_000).toFixed(2)} Mbit/s`;
  return `${Math.round(bps / 1000)} kbit/s`;
}

function num(v: number | undefined, digits = 0): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–';
}

function codecOf(mimeType: string | null): string {
  const codecs = /codecs=([^;]*)/i.exec(mimeType ?? '')?.[1] ?? '';
  const video = codecs.split(',')[0]?.trim().toLowerCase() ?? '';
  if (/^(h264|avc1)/.test(video) || (!video && /mp4/i.test(mimeType ?? ''))) return 'H.264';
  if (video) return video.toUpperCase();
  return mimeType ?? '–';
}

function wsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ingest`;
}

const HEALTH_TEXT: Record<Health, string> = {
  off: 'Off air',
  connecting: 'Connecting',
  good: 'Good',
  struggling: 'Struggling',
  reconnecting: 'Reconnecting',
};

/** The whole /broadcast page below its heading: devices, preview, go live, figures, OBS settings. */
export function Broadcaster() {
  const [support, setSupport] = useState<Support | null>(null);
  const [ingestInfo, setIngestInfo] = useState<IngestInfo | null>(null);
  const [devices, setDevices] = useState<DeviceLists>({ cameras: [], microphones: [] });
  const [source, setSource] = useState<Source>('camera');
  const [cameraId, setCameraId] = useState('');
  const [micId, setMicId] = useState('');
  const [presetId, setPresetId] = useState<PresetId>(DEFAULT_PRESET);
  const [preview, setPreview] = useState<MediaStream | null>(null);
  const [screen, setScreen] = useState<MediaStream | null>(null);
  const [opening, setOpening] = useState(false);
  const [mediaError, setMediaError] = useState<string | null>(null);
  const [mediaNotice, setMediaNotice] = useState<string | null>(null);
  const [retry, setRetry] = useState(0);
  const [title, setTitle] = useState('');
  const [stored, setStored] = useState<StoredStream | null>(null);
  const [preparing, setPreparing] = useState(false);
  const [goLiveError, setGoLiveError] = useState<string | null>(null);
  const [obsOpen, setObsOpen] = useState(false);
  const [obsBusy, setObsBusy] = useState(false);
  const [obsError, setObsError] = useState<string | null>(null);
  const [now, setNow] = useState(() => Date.now());

  const videoRef = useRef<HTMLVideoElement>(null);
  const media = useRef<MediaRefs>({ camera: null, screenRecord: null, screenMixer: null, silence: null });
  const ensuring = useRef<Promise<StoredStream> | null>(null);

  const [snap, client] = useIngest({
    onRefused: (code) => {
      if (code === 4401) {
        // The stored id/key is useless: the next Go live creates a new stream.
        forgetStream();
        setStored(null);
      }
    },
  });

  const active = snap.status === 'connecting' || snap.status === 'live' || snap.status === 'reconnecting';
  const busy = active || preparing;
  const status: Status = preparing ? 'connecting' : goLiveError ? 'error' : snap.status;
  const preset = presetById(presetId);

  // --- what this browser and server can do ---

  useEffect(() => {
    setSupport({
      recorder: hasMediaRecorder(),
      devices: hasMediaDevices(),
      screen: canShareScreen(),
      secure: window.isSecureContext,
    });
    setStored(loadStream());
    let cancelled = false;
    fetchIngestInfo()
      .then((info) => !cancelled && setIngestInfo(info))
      .catch(() => undefined); // unknown: let Go live try and report what happens
    return () => {
      cancelled = true;
    };
  }, []);

  const refreshDevices = useCallback(() => {
    listDevices()
      .then(setDevices)
      .catch(() => undefined);
  }, []);

  useEffect(() => {
    if (!support?.devices) return;
    navigator.mediaDevices.addEventListener('devicechange', refreshDevices);
    return () => navigator.mediaDevices.removeEventListener('devicechange', refreshDevices);
  }, [support, refreshDevices]);

  // --- the source ended by itself (camera unplugged, "Stop sharing" in the browser's bar) ---

  const sourceEnded = useRef<(kind: Source) => void>(() => undefined);
  useEffect(() => {
    sourceEnded.current = (kind) => {
      const what = kind === 'screen' ? 'Screen sharing ended.' : 'The camera stopped (was it disconnected?).';
      const stopping = client.active;
      if (stopping) void client.stop();
      if (kind === 'screen') {
        setScreen(null);
        setSource('camera');
        setMediaNotice(stopping ? `${what} The broadcast was stopped.` : what);
      } else {
        setMediaError(stopping ? `${what} The broadcast was stopped.` : `${what} Press "Try again".`);
        setPreview(null);
      }
    };
  });

  // --- camera (+ microphone) ---

  useEffect(() => {
    if (!support?.devices || source !== 'camera') return;
    let cancelled = false;
    stopStream(media.current.camera);
    media.current.camera = null;
    setOpening(true);
    openCamera(presetById(presetId), cameraId || null, micId || null)
      .then((stream) => {
        if (cancelled) {
          stopStream(stream);
          return;
        }
        media.current.camera = stream;
        stream.getVideoTracks()[0]?.addEventListener('ended', () => {
          if (media.current.camera === stream) sourceEnded.current('camera');
        });
        setPreview(stream);
        setMediaError(null);
        if (micId !== NO_MIC && stream.getAudioTracks().length === 0) {
          setMediaNotice('No microphone could be opened: the stream will be silent.');
        }
      })
      .catch((err: unknown) => {
        if (cancelled) return;
        setPreview(null);
        setMediaError(captureErrorMessage(err, 'camera'));
      })
      .finally(() => {
        if (cancelled) return;
        setOpening(false);
        refreshDevices(); // labels appear once permission is granted
      });
    return () => {
      cancelled = true;
    };
  }, [support, source, cameraId, micId, presetId, retry, refreshDevices]);

  // --- screen: its own audio and the microphone, mixed ---

  useEffect(() => {
    if (source !== 'screen' || !screen) return;
    let cancelled = false;
    let mic: MediaStream | null = null;
    let mixer: AudioMixer | null = null;
    void (async () => {
      try {
        mic = await openMicrophone(micId || null);
      } catch (err) {
        if (!cancelled) setMediaNotice(captureErrorMessage(err, 'microphone'));
      }
      if (cancelled) {
        stopStream(mic);
        return;
      }
      mixer = new AudioMixer(mic ? [screen, mic] : [screen]);
      media.current.screenMixer = mixer;
      media.current.screenRecord = new MediaStream([...screen.getVideoTracks(), mixer.track]);
    })();
    return () => {
      cancelled = true;
      stopStream(mic);
      mixer?.close();
      media.current.screenMixer = null;
      media.current.screenRecord = null;
    };
  }, [source, screen, micId]);

  useEffect(() => {
    const track = screen?.getVideoTracks()[0];
    if (!track) return;
    const p = presetById(presetId);
    track.applyConstraints({ width: { ideal: p.width }, height: { ideal: p.height }, frameRate: { ideal: 30 } }).catch(() => undefined);
  }, [screen, presetId]);

  const shareScreen = async () => {
    setMediaNotice(null);
    let display: MediaStream;
    try {
      display = await openScreen(preset);
    } catch (err) {
      setMediaNotice(captureErrorMessage(err, 'screen'));
      return;
    }
    stopStream(media.current.camera);
    media.current.camera = null;
    display.getVideoTracks()[0]?.addEventListener('ended', () => sourceEnded.current('screen'));
    setMediaError(null);
    setScreen(display);
    setSource('screen');
    setPreview(display);
  };

  const switchToCamera = () => {
    stopStream(screen);
    setScreen(null);
    setPreview(null);
    setSource('camera');
  };

  // Release every device when the page goes away.
  useEffect(() => {
    const refs = media.current;
    return () => {
      stopStream(refs.camera);
      refs.camera = null;
      refs.silence?.close();
      refs.silence = null;
    };
  }, []);
  useEffect(() => () => stopStream(screen), [screen]);

  useEffect(() => {
    const v = videoRef.current;
    if (!v || v.srcObject === preview) return;
    v.srcObject = preview;
    if (preview) void v.play().catch(() => undefined);
  }, [preview]);

  // --- the stream: stored, or created ---

  const ensureStream = useCallback((): Promise<StoredStream> => {
    const existing = loadStream();
    if (existing) {
      setStored(existing);
      return Promise.resolve(existing);
    }
    ensuring.current ??= createStream(title.trim().slice(0, MAX_TITLE))
      .then((s) => {
        setStored(s);
        return s;
      })
      .finally(() => {
        ensuring.current = null;
      });
    return ensuring.current;
  }, [title]);

  const loadObs = useCallback(async () => {
    setObsError(null);
    setObsBusy(true);
    try {
      let s = await ensureStream();
      if (!s.obsServer) {
        const server = await fetchObsServer(s.id);
        if (server === null) {
          forgetStream(); // the server does not know it (any more)
          s = await ensureStream();
        } else {
          s = { ...s, obsServer: server };
          saveStream(s);
          setStored(s);
        }
      }
    } catch (err) {
      setObsError((err as Error).message);
    } finally {
      setObsBusy(false);
    }
  }, [ensureStream]);

  const onObsToggle = (e: SyntheticEvent<HTMLDetailsElement>) => {
    const open = e.currentTarget.open;
    setObsOpen(open);
    if (open) void loadObs();
  };

  const newStream = () => {
    forgetStream();
    setStored(null);
    if (snap.errorCode === 4401) setGoLiveError(null);
    if (obsOpen) void loadObs();
  };

  // --- go live / stop ---

  const recordStream = (): MediaStream | null => {
    const m = media.current;
    if (source === 'screen') {
      if (!screen) return null;
      void m.screenMixer?.context.resume().catch(() => undefined);
      return m.screenRecord ?? new MediaStream(screen.getVideoTracks());
    }
    const cam = m.camera;
    if (!cam) return null;
    if (cam.getAudioTracks().length > 0) return cam;
    m.silence ??= new AudioMixer([]);
    void m.silence.context.resume().catch(() => undefined);
    return new MediaStream([...cam.getVideoTracks(), m.silence.track]);
  };

  const goLive = async () => {
    if (busy) return;
    setGoLiveError(null);
    setMediaNotice(null);
    const forced = new URLSearchParams(location.search).get('codec');
    const mimeType = pickMimeType(forced);
    if (!mimeType) {
      setGoLiveError('This browser cannot record video in a format the server reads (WebM or MP4).');
      return;
    }
    const stream = recordStream();
    const video = stream?.getVideoTracks()[0];
    if (!stream || !video || video.readyState !== 'live') {
      setGoLiveError('There is nothing to broadcast: start the camera or share a screen first.');
      return;
    }
    setPreparing(true);
    let target: StoredStream;
    try {
      target = await ensureStream();
    } catch (err) {
      setPreparing(false);
      setGoLiveError((err as Error).message);
      return;
    }
    const hooks = window.__golive;
    const garbageFirst = hooks?.sendGarbageFirst === true;
    if (hooks) hooks.sendGarbageFirst = false;
    setPreparing(false);
    client.start({
      wsUrl: wsUrl(),
      streamId: target.id,
      key: target.key,
      title: title.trim().slice(0, MAX_TITLE) || undefined,
      mimeType,
      stream,
      recorderOptions: recorderOptions(mimeType, preset),
      maxMessageBytes: ingestInfo?.maxMessageBytes || DEFAULT_MAX_MESSAGE,
      garbageFirst,
    });
  };

  const stop = () => {
    void client.stop();
  };

  // --- live figures ---

  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);

  const bytesPerSecond = (preset.videoBitsPerSecond + AUDIO_BITS_PER_SECOND) / 8;
  let health: Health = 'off';
  if (status === 'reconnecting') health = 'reconnecting';
  else if (status === 'connecting') health = 'connecting';
  else if (status === 'live') health = snap.bufferedAmount > bytesPerSecond || snap.stats?.struggling === true ? 'struggling' : 'good';

  // --- messages ---

  const streamError = goLiveError ?? (snap.status === 'error' ? snap.error : null);
  const errors: string[] = [];
  if (support && !support.recorder) {
    errors.push('This browser cannot record video (it has no MediaRecorder). Use a recent Chrome, Edge, Firefox or Safari, or broadcast with OBS (below).');
  }
  if (support && !support.devices) {
    errors.push(
      support.secure
        ? 'This browser gives the page no access to cameras and microphones.'
        : 'Cameras and microphones need a secure page: open this site over HTTPS (or on localhost).',
    );
  }
  if (ingestInfo && !ingestInfo.available) {
    errors.push(`Browser broadcasting is unavailable on this server: ${ingestInfo.reason ?? 'no reason given'}`);
  }
  if (mediaError) errors.push(mediaError);
  if (streamError && !errors.includes(streamError)) errors.push(streamError);

  const canGoLive =
    !!support?.recorder && !!support.devices && ingestInfo?.available !== false && !!preview && !opening && !busy && !snap.stopping;

  // --- test hooks ---

  const hookState = useRef<GoliveState>({ status: 'idle', streamId: null, reconnects: 0, error: null });
  useEffect(() => {
    hookState.current = {
      status,
      streamId: snap.streamId ?? stored?.id ?? null,
      reconnects: snap.reconnects,
      error: streamError ?? errors[0] ?? null,
    };
  });
  useEffect(() => {
    const previous = window.__golive;
    window.__golive = {
      sendGarbageFirst: previous?.sendGarbageFirst ?? false,
      dropConnection: () => client.dropConnection(),
      state: () => ({ ...hookState.current }),
    };
  }, [client]);

  const streamId = snap.streamId ?? stored?.id ?? null;
  const onAir = snap.liveSince !== null && (status === 'live' || status === 'reconnecting');
  const watchUrl = snap.urls?.watch ?? (streamId && typeof location !== 'undefined' ? `${location.origin}/watch/${streamId}` : '');
  const obsServer = stored?.obsServer ?? '';

  return (
    <>
      {errors.length > 0 && (
        <div className="alert alert-error" role="alert" data-testid="error">
          {errors.map((e) => (
            <p key={e} className="alert-line">
              {e}
            </p>
          ))}
          {snap.status === 'error' && snap.errorCode === 4401 && (
            <p className="alert-line muted">The stored stream was forgotten: Go live creates a new one.</p>
          )}
          {mediaError && !busy && (
            <button type="button" className="button button-small" onClick={() => setRetry((n) => n + 1)}>
              Try again
            </button>
          )}
        </div>
      )}
      {mediaNotice && (
        <div className="alert alert-info" role="status">
          {mediaNotice}
        </div>
      )}

      <div className="grid-2 broadcast">
        <div className="broadcast-main">
          <div className="stage" data-testid="preview">
            <video
              ref={videoRef}
              muted
              playsInline
              autoPlay
              className={source === 'camera' ? 'mirrored' : undefined}
              aria-label={source === 'camera' ? 'Camera preview (mirrored)' : 'Screen preview'}
              hidden={!preview}
            />
            {!preview && (
              <div className="stage-message">
                <strong>{source === 'camera' ? 'Camera preview' : 'Screen preview'}</strong>
                <span>
                  {opening
                    ? 'Starting the camera… allow access when the browser asks.'
                    : mediaError
                      ? 'No picture: see the message above.'
                      : 'Pick a camera, or share a screen or window.'}
                </span>
              </div>
            )}
            {onAir && (
              <div className="stage-overlay" aria-hidden="true">
                <span className={`badge ${status === 'live' ? 'badge-live' : 'badge-reconnecting'}`}>
                  {status === 'live' ? 'Live' : 'Reconnecting'}
                </span>
                <span className="stage-time">{formatDuration(now - (snap.liveSince ?? now))}</span>
              </div>
            )}
          </div>

          <section className="panel" aria-labelledby="devices-heading">
            <h2 id="devices-heading">Camera and microphone</h2>
            <fieldset className="segmented" disabled={busy}>
              <legend>Source</legend>
              <label className={source === 'camera' ? 'segmented-on' : undefined}>
                <input type="radio" name="source" value="camera" checked={source === 'camera'} onChange={switchToCamera} />
                Camera
              </label>
              <label className={source === 'screen' ? 'segmented-on' : undefined}>
                <input
                  type="radio"
                  name="source"
                  value="screen"
                  checked={source === 'screen'}
                  disabled={!support?.screen}
                  onChange={() => void shareScreen()}
                />
                Screen or window
              </label>
            </fieldset>
            <div className="controls-grid">
              <div className="field">
                <label htmlFor="camera">Camera</label>
                <select
                  id="camera"
                  value={cameraId || (source === 'camera' ? (preview?.getVideoTracks()[0]?.getSettings().deviceId ?? '') : '')}
                  onChange={(e) => setCameraId(e.target.value)}
                  disabled={busy || source !== 'camera' || devices.cameras.length === 0}
                >
                  {devices.cameras.length === 0 && <option value="">No camera</option>}
                  {devices.cameras.map((d, i) => (
                    <option key={d.deviceId} value={d.deviceId}>
                      {d.label || `Camera ${i + 1}`}
                    </option>
                  ))}
                </select>
              </div>
              <div className="field">
                <label htmlFor="microphone">Microphone</label>
                <select
                  id="microphone"
                  value={micId}
                  onChange={(e) => setMicId(e.target.value)}
                  disabled={busy}
                >
                  <option value="">Default microphone</option>
                  {devices.microphones
                    .filter((d) => d.deviceId !== 'default' && d.deviceId !== 'communications')
                    .map((d, i) => (
                      <option key={d.deviceId} value={d.deviceId}>
                        {d.label || `Microphone ${i + 1}`}
                      </option>
                    ))}
                  <option value={NO_MIC}>No microphone</option>
                </select>
              </div>
              <div className="field">
                <label htmlFor="quality">Quality</label>
                <select id="quality" value={presetId} onChange={(e) => setPresetId(e.target.value as PresetId)} disabled={busy}>
                  {PRESETS.map((p) => (
                    <option key={p.id} value={p.id}>
                      {p.label}
                    </option>
                  ))}
                </select>
              </div>
            </div>
            <p className="muted small">
              {busy
                ? 'Stop the broadcast to change the source, devices or quality.'
                : source === 'screen'
                  ? 'Sharing a screen or window; the microphone is mixed in with its sound.'
                  : 'The preview is mirrored like a mirror; viewers see you the right way round.'}
            </p>
          </section>
        </div>

        <div className="broadcast-side">
          <section className="panel" aria-labelledby="stream-heading">
            <div className="panel-head">
              <h2 id="stream-heading">Stream</h2>
              <div className="status-row" aria-live="polite">
                <span className={`badge status-badge status-${status}`} data-testid="status">
                  {status}
                </span>
                <span className={`health health-${health}`} data-testid="health" data-health={health}>
                  <span className="health-dot" aria-hidden="true" />
                  {HEALTH_TEXT[health]}
                </span>
              </div>
            </div>
            <div className="field">
              <label htmlFor="title">Title</label>
              <input
                id="title"
                name="title"
                placeholder="My stream"
                maxLength={MAX_TITLE}
                value={title}
                onChange={(e) => setTitle(e.target.value)}
                disabled={busy}
              />
            </div>
            {stored && (
              <p className="muted small stream-id">
                Stream <code>{stored.id}</code> ·{' '}
                <button type="button" className="link-button" onClick={newStream} disabled={busy}>
                  new stream
                </button>
              </p>
            )}
            <div className="button-row">
              <button
                type="button"
                className="button button-primary"
                data-testid="go-live"
                onClick={() => void goLive()}
                disabled={!canGoLive}
              >
                {status === 'connecting' ? 'Connecting…' : 'Go live'}
              </button>
              <button type="button" className="button button-stop" data-testid="stop" onClick={stop} disabled={!active || snap.stopping}>
                Stop
              </button>
            </div>
            {snap.notice && (
              <p className={`notice ${status === 'reconnecting' ? 'notice-bad' : ''}`} role="status">
                {snap.notice}
              </p>
            )}
            {status === 'ended' && <p className="notice">The broadcast ended. Go live again to continue on the same stream.</p>}
          </section>

          {(status === 'live' || status === 'reconnecting') && streamId && (
            <section className="panel" aria-labelledby="share-heading">
              <h2 id="share-heading">Share</h2>
              <WatchLink url={watchUrl} />
              {snap.urls && <CopyField label="Play over RTMP" value={`ffplay ${snap.urls.rtmpPlay}`} />}
              {snap.urls && <CopyField label="HLS" value={snap.urls.hls} />}
            </section>
          )}

          {(status === 'live' || status === 'reconnecting') && (
            <section className="panel" aria-labelledby="figures-heading">
              <h2 id="figures-heading">Live figures</h2>
              <dl className="figures">
                <dt>On air</dt>
                <dd>{snap.liveSince ? formatDuration(now - snap.liveSince) : '–'}</dd>
                <dt>Upload</dt>
                <dd>{formatBitrate(snap.uploadBps)}</dd>
                <dt>Send buffer</dt>
                <dd>{Math.round(snap.bufferedAmount / 1024)} KB</dd>
                <dt>Server receives</dt>
                <dd>
                  {snap.stats?.ingest ? `${num(snap.stats.ingest.fps)} fps · ${formatBitrate((snap.stats.ingest.bitrateKbps ?? 0) * 1000)}` : '–'}
                </dd>
                <dt>Relay</dt>
                <dd>{snap.stats?.relay ? `${snap.stats.relay.live ? 'live' : 'not live'} · ${num(snap.stats.relay.fps)} fps` : '–'}</dd>
                <dt>Video</dt>
                <dd>
                  {codecOf(snap.mimeType)} {snap.transcode ? '(re-encoded to H.264 by the server)' : '(passed through)'}
                </dd>
                {snap.reconnects > 0 && (
                  <>
                    <dt>Reconnects</dt>
                    <dd>{snap.reconnects}</dd>
                  </>
                )}
              </dl>
            </section>
          )}

          <details className="panel obs" onToggle={onObsToggle}>
            <summary>Use OBS or ffmpeg instead</summary>
            <div className="obs-body">
              <p className="muted small">
                In OBS: Settings → Stream → Service <em>Custom…</em>, then paste the server and the stream key. Keep the key
                secret: anyone who has it can broadcast on this stream.
              </p>
              {obsError && (
                <div className="alert alert-error" role="alert">
                  {obsError}
                </div>
              )}
              {obsBusy && !stored && <p className="muted">Creating a stream…</p>}
              {stored && obsServer && (
                <>
                  <CopyField label="Server" value={obsServer} />
                  <CopyField label="Stream key" value={stored.key} />
                  <CopyField label="Or push a file with ffmpeg" value={`ffmpeg -re -i file.mp4 -c copy -f flv ${obsServer}/${stored.key}`} />
                  <p className="muted small">
                    Viewers watch at <a href={`/watch/${stored.id}`}>/watch/{stored.id}</a>.
                  </p>
                </>
              )}
            </div>
          </details>
        </div>
      </div>
    </>
  );
}

/** The watch page address with Copy and Open. */
function WatchLink({ url }: { url: string }) {
  const { copied, copy } = useCopy(url);
  return (
    <div className="field">
      <span className="field-label" id="watch-link-label">
        Watch link
      </span>
      <div className="copy-row">
        <a aria-describedby="watch-link-label" className="copy-link" href={url} data-testid="watch-link" target="_blank" rel="noopener noreferrer">
          {url}
        </a>
        <button type="button" className="button button-small" onClick={() => void copy()} aria-label="Copy watch link">
          {copied ? 'Copied' : 'Copy'}
        </button>
        <a className="button button-small" href={url} target="_blank" rel="noopener noreferrer" aria-label="Open watch page in a new tab">
          Open
        </a>
      </div>
    </div>
  );
}
