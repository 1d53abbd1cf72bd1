'use client';

import { useEffect, useState } from 'react';

/**
 * Browsers give cameras, microphones and screen capture only to secure pages (HTTPS, or http://localhost). On a
 * plain-HTTP address this says so before anyone presses a button, and what the operator can do about it.
 */
export function SecureContextNotice() {
  // Known only in the browser (the server renders nothing here).
  const [secure, setSecure] = useState<boolean | null>(null);
  useEffect(() => setSecure(window.isSecureContext), []);
  if (secure !== false) return null;
  const here = typeof location !== 'undefined' ? location.origin : 'this address';
  const httpsHere = typeof location !== 'undefined' ? `https://${location.host}${location.pathname}` : '';
  return (
    <div className="alert alert-error" role="alert" data-testid="insecure-context">
      <p className="alert-line">
        <strong>This page is not secure ({here}), so the browser will refuse the camera, microphone and screen.</strong>{' '}
        Browsers allow them only over HTTPS, or on <code>http://localhost</code> on the server&apos;s own machine.
      </p>
      <p className="alert-line">
        To broadcast from here, the server&apos;s operator can set <code>TLS_CERT</code> and <code>TLS_KEY</code> (the server then
        serves HTTPS itself) or put an HTTPS reverse proxy in front of it (see <code>docs/deploy/</code>); then open{' '}
        {httpsHere ? <code>{httpsHere}</code> : 'the https:// address'}. OBS or ffmpeg (below) work without it.
      </p>
    </div>
  );
}
