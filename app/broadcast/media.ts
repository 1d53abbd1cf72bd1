/**
 * Browser media for the broadcast page: quality presets, codec choice, capture (camera, microphone, screen)
 * and the error messages users see when capture fails. No React here.
 */

export type PresetId = '480p' | '720p' | '1080p';

export interface Preset {
  id: PresetId;
  label: string;
  width: number;
  height: number;
  /** MediaRecorder `videoBitsPerSecond`. */
  videoBitsPerSecond: number;
}

export const PRESETS: readonly Preset[] = [
  { id: '480p', label: '480p · 1.2 Mbit/s', width: 854, height: 480, videoBitsPerSecond: 1_200_000 },
  { id: '720p', label: '720p · 2.5 Mbit/s', width: 1280, height: 720, videoBitsPerSecond: 2_500_000 },
  { id: '1080p', label: '1080p · 4.5 Mbit/s', width: 1920, height: 1080, videoBitsPerSecond: 4_500_000 },
];

export const DEFAULT_PRESET: PresetId = '720p';
export const FRAME_RATE = 30;
export const AUDIO_BITS_PER_SECOND = 128_000;

export function presetById(id: PresetId): Preset {
  return PRESETS.find((p) => p.id === id) ?? PRESETS[1];
}

/** MediaRecorder MIME types, best first: H.264 is copied by the server, anything else is re-encoded. */
export const MIME_PREFERENCE = [
  'video/webm;codecs=h264,opus',
  'video/webm;codecs=avc1,opus',
  'video/mp4;codecs=avc1.42E01F,mp4a.40.2', // Safari
  'video/mp4',
  'video/webm;codecs=vp8,opus',
  'video/webm;codecs=vp9,opus',
  'video/webm',
] as const;

/** `?codec=` values that force a MIME type (tests use `vp8` to exercise the server's transcode path). */
const FORCED: Record<string, string> = {
  h264: 'video/webm;codecs=h264,opus',
  vp8: 'video/webm;codecs=vp8,opus',
  vp9: 'video/webm;codecs=vp9,opus',
  mp4: 'video/mp4',
};

export function hasMediaRecorder(): boolean {
  return typeof window !== 'undefined' && typeof window.MediaRecorder === 'function';
}

/**
 * The MIME type to record with, or null when the browser supports none of ours.
 * `forced` (from `?codec=`) wins when the browser supports it.
 */
export function pickMimeType(forced: string | null): string | null {
  if (!hasMediaRecorder()) return null;
  const wanted = forced ? FORCED[forced.toLowerCase()] : undefined;
  if (wanted && MediaRecorder.isTypeSupported(wanted)) return wanted;
  for (const t of MIME_PREFERENCE) if (MediaRecorder.isTypeSupported(t)) return t;
  return null;
}

/** Chromium reads `videoKeyFrameIntervalDuration` (ms); without it keyframes come about every 5 s. */
export interface RecorderOptions extends MediaRecorderOptions {
  videoKeyFrameIntervalDuration?: number;
}

export function recorderOptions(mimeType: string, preset: Preset): RecorderOptions {
  return {
    mimeType,
    videoBitsPerSecond: preset.videoBitsPerSecond,
    audioBitsPerSecond: AUDIO_BITS_PER_SECOND,
    videoKeyFrameIntervalDuration: 1000,
  };
}

export interface DeviceLists {
  cameras: MediaDeviceInfo[];
  microphones: MediaDeviceInfo[];
}

export function hasMediaDevices(): boolean {
  return typeof navigator !== 'undefined' && !!navigator.mediaDevices && typeof navigator.mediaDevices.getUserMedia === 'function';
}

export function canShareScreen(): boolean {
  return hasMediaDevices() && typeof navigator.mediaDevices.getDisplayMedia === 'function';
}

/** Cameras and microphones; labels are empty until the page has permission. */
export async function listDevices(): Promise<DeviceLists> {
  const all = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: all.filter((d) => d.kind === 'videoinput' && d.deviceId !== ''),
    microphones: all.filter((d) => d.kind === 'audioinput' && d.deviceId !== ''),
  };
}

function videoConstraints(preset: Preset, deviceId: string | null): MediaTrackConstraints {
  return {
    ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
    width: { ideal: preset.width },
    height: { ideal: preset.height },
    frameRate: { ideal: FRAME_RATE },
  };
}

function audioConstraints(deviceId: string | null): MediaTrackConstraints | boolean {
  return deviceId ? { deviceId: { exact: deviceId } } : true;
}

/** `'none'` is the microphone picker's "no microphone" choice. */
export const NO_MIC = 'none';

/**
 * Camera (+ microphone) at the preset's size. A device that has gone away falls back to the default one;
 * a missing microphone is not fatal (the stream gets silence).
 */
export async function openCamera(preset: Preset, cameraId: string | null, micId: string | null): Promise<MediaStream> {
  const wantAudio = micId !== NO_MIC;
  const attempt = (cam: string | null, mic: string | null, audio: boolean) =>
    navigator.mediaDevices.getUserMedia({ video: videoConstraints(preset, cam), audio: audio ? audioConstraints(mic) : false });
  try {
    return await attempt(cameraId, micId, wantAudio);
  } catch (err) {
    const name = (err as DOMException).name;
    if (name === 'OverconstrainedError' && (cameraId || micId)) return attempt(null, null, wantAudio);
    // No microphone (or it is busy): go on with video only.
    if (wantAudio && (name === 'NotFoundError' || name === 'NotReadableError')) {
      const video = await attempt(cameraId, null, false);
      return video;
    }
    throw err;
  }
}

/** A shared screen or window; its own audio when the user shared it. */
export async function openScreen(preset: Preset): Promise<MediaStream> {
  return navigator.mediaDevices.getDisplayMedia({
    video: { width: { ideal: preset.width }, height: { ideal: preset.height }, frameRate: { ideal: FRAME_RATE } },
    audio: true,
  });
}

/** Only the microphone (to mix into a shared screen). */
export async function openMicrophone(micId: string | null): Promise<MediaStream | null> {
  if (micId === NO_MIC) return null;
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: audioConstraints(micId), video: false });
  } catch (err) {
    if ((err as DOMException).name === 'OverconstrainedError' && micId) {
      return navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    }
    throw err;
  }
}

/**
 * Mixes audio tracks into one with Web Audio. With no input at all it yields silence, so every broadcast has an
 * audio track (players and the HLS packager expect one).
 */
export class AudioMixer {
  readonly context: AudioContext;
  private readonly destination: MediaStreamAudioDestinationNode;
  private readonly sources: MediaStreamAudioSourceNode[] = [];

  constructor(streams: MediaStream[]) {
    this.context = new AudioContext();
    this.destination = this.context.createMediaStreamDestination();
    for (const s of streams) {
      if (s.getAudioTracks().length === 0) continue;
      const src = this.context.createMediaStreamSource(s);
      src.connect(this.destination);
      this.sources.push(src);
    }
    void this.context.resume().catch(() => undefined);
  }

  get track(): MediaStreamTrack {
    return this.destination.stream.getAudioTracks()[0];
  }

  close(): void {
    for (const s of this.sources) s.disconnect();
    for (const t of this.destination.stream.getTracks()) t.stop();
    void this.context.close().catch(() => undefined);
  }
}

export function stopStream(stream: MediaStream | null | undefined): void {
  for (const t of stream?.getTracks() ?? []) t.stop();
}

/** What to tell the user when capture failed. */
export function captureErrorMessage(err: unknown, what: 'camera' | 'screen' | 'microphone'): string {
  const name = err instanceof DOMException || err instanceof Error ? err.name : '';
  const message = err instanceof Error ? err.message : String(err);
  if (what === 'screen') {
    if (name === 'NotAllowedError') return 'Screen sharing was cancelled or blocked. Pick a screen or window to share, or use the camera.';
    if (name === 'NotFoundError') return 'There is no screen or window to share.';
    return `Could not share the screen: ${message || name}`;
  }
  const device = what === 'camera' ? 'camera and microphone' : 'microphone';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `Permission to use the ${device} was denied. Allow it in the browser's site settings (the icon left of the address), then press "Try again".`;
    case 'NotFoundError':
      return what === 'camera'
        ? 'No camera was found. Connect one and press "Try again", or share your screen instead.'
        : 'No microphone was found.';
    case 'NotReadableError':
    case 'AbortError':
      return `The ${device} could not be started: another application may be using it.`;
    case 'OverconstrainedError':
      return `The selected ${what} cannot do this quality. Pick a lower preset or another device.`;
    default:
      return `Could not open the ${device}: ${message || name || 'unknown error'}`;
  }
}
