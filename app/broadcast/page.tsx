import type { Metadata } from 'next';

export const metadata: Metadata = { title: 'Go live' };

export default function BroadcastPage() {
  return (
    <>
      <h1>Go live</h1>
      <p className="lead">Pick a camera and microphone, or share your screen, and press Go live.</p>
      <div className="grid-2">
        <div className="stage" data-testid="preview">
          <div className="stage-message">
            <strong>Camera preview</strong>
            <span>Browser broadcasting is being built. Until then, push with OBS or ffmpeg over RTMP.</span>
          </div>
        </div>
        <div className="panel">
          <h2>Stream</h2>
          <div className="field">
            <label htmlFor="title">Title</label>
            <input id="title" name="title" placeholder="My stream" disabled />
          </div>
          <button type="button" className="button button-primary" disabled>
            Go live
          </button>
        </div>
      </div>
    </>
  );
}
