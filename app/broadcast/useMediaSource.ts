'use client';

import { useCallback, useEffect, useRef, useState } from 'react';
import {
  AudioMixer,
  DEFAULT_PRESET,
  NO_MIC,
  canShareScreen,
  captureErrorMessage,
  hasMediaDevices,
  hasMediaRecorder,
  listDevices,
  openCamera,
  openMicrophone,
  openScreen,
  presetById,
  stopStream,
  type DeviceLists,
  type Preset,
  type PresetId,
} from './media';

export type Source = 'camera' | 'screen';

export interface Support {
  recorder: boolean;
  devices: boolean;
  screen: boolean;
  secure: boolean;
}

interface MediaRefs {
  camera: MediaStream | null;
  /** Shared screen + mixed audio, what is recorded when sharing. */
  screenRecord: MediaStream | null;
  screenMixer: AudioMixer | null;
  /** Silence for a camera without a microphone. */
  silence: AudioMixer | null;
}

export interface MediaSource {
  /** What this browser can do; null before the first render in the browser. */
  support: Support | null;
  devices: DeviceLists;
  source: Source;
  cameraId: string;
  micId: string;
  presetId: PresetId;
  preset: Preset;
  /** What the preview shows: the camera or the shared screen. */
  preview: MediaStream | null;
  opening: boolean;
  mediaError: string | null;
  mediaNotice: string | null;
  setCameraId(id: string): void;
  setMicId(id: string): void;
  setPresetId(id: PresetId): void;
  setMediaNotice(notice: string | null): void;
  /** Open the camera again after it failed. */
  retry(): void;
  shareScreen(): Promise<void>;
  switchToCamera(): void;
  /** What to record now (camera, or screen with mixed audio; silence added to a camera without a microphone). */
  recordStream(): MediaStream | null;
}

/**
 * Devices and what the preview shows: camera + microphone, or a shared screen mixed with the microphone.
 * `stopBroadcast` is called when the source ends by itself (camera unplugged, "Stop sharing" in the browser's bar);
 * it returns whether a broadcast was running (and is now stopping).
 */
export function useMediaSource(stopBroadcast: () => boolean): MediaSource {
  const [support, setSupport] = useState<Support | null>(null);
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
  const [retries, setRetries] = useState(0);
  const media = useRef<MediaRefs>({ camera: null, screenRecord: null, screenMixer: null, silence: null });
  const preset = presetById(presetId);

  useEffect(() => {
    setSupport({
      recorder: hasMediaRecorder(),
      devices: hasMediaDevices(),
      screen: canShareScreen(),
      secure: window.isSecureContext,
    });
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

  // --- the source ended by itself ---

  const sourceEnded = useRef<(kind: Source) => void>(() => undefined);
  useEffect(() => {
    sourceEnded.current = (kind) => {
      const what = kind === 'screen' ? 'Screen sharing ended.' : 'The camera stopped (was it disconnected?).';
      const stopping = stopBroadcast();
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
  }, [support, source, cameraId, micId, presetId, retries, refreshDevices]);

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

  return {
    support,
    devices,
    source,
    cameraId,
    micId,
    presetId,
    preset,
    preview,
    opening,
    mediaError,
    mediaNotice,
    setCameraId,
    setMicId,
    setPresetId,
    setMediaNotice,
    retry: () => setRetries((n) => n + 1),
    shareScreen,
    switchToCamera,
    recordStream,
  };
}
