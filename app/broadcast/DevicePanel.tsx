'use client';

import { NO_MIC, PRESETS, type PresetId } from './media';
import type { MediaSource } from './useMediaSource';

/** Source (camera or screen), camera, microphone and quality; locked while broadcasting. */
export function DevicePanel({ media, busy }: { media: MediaSource; busy: boolean }) {
  const { support, devices, source, cameraId, micId, presetId, preview } = media;
  return (
    <section className="panel" aria-labelledby="devices-heading">
      <h2 id="devices-heading">Camera and microphone</h2>
      <fieldset className="segmented" disabled={busy}>
        <legend>Source</legend>
        <label className={source === 'camera' ? 'segmented-on' : undefined}>
          <input type="radio" name="source" value="camera" checked={source === 'camera'} onChange={media.switchToCamera} />
          Camera
        </label>
        <label className={source === 'screen' ? 'segmented-on' : undefined}>
          <input
            type="radio"
            name="source"
            value="screen"
            checked={source === 'screen'}
            disabled={!support?.screen}
            onChange={() => void media.shareScreen()}
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
            onChange={(e) => media.setCameraId(e.target.value)}
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
          <select id="microphone" value={micId} onChange={(e) => media.setMicId(e.target.value)} disabled={busy}>
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
          <select id="quality" value={presetId} onChange={(e) => media.setPresetId(e.target.value as PresetId)} disabled={busy}>
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
  );
}
