/**
 * The camera needs a secure page: browsers give getUserMedia only to https:// origins and to http://localhost
 * (loopback). Said once at start when the pages will be plain HTTP to anyone but this machine.
 */
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function secureContextAdvice(opts: { tls: boolean; host: string; publicUrl: string | undefined; port: number }): string | null {
  if (opts.tls || opts.publicUrl?.startsWith('https:')) return null;
  if (LOOPBACK.has(opts.host) || opts.host.startsWith('127.')) return null;
  return (
    `pages are served over plain HTTP: /broadcast is not a secure context (window.isSecureContext is false) on any address but ` +
    `http://localhost:${opts.port}, and browsers refuse it the camera, microphone and screen there. To broadcast from other machines, ` +
    `set TLS_CERT and TLS_KEY (HTTPS on PORT), or put an HTTPS reverse proxy in front (docs/deploy/nginx.conf) and set PUBLIC_URL=https://…`
  );
}
