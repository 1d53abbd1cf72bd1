import type { Metadata, Viewport } from 'next';
import Link from 'next/link';
import type { ReactNode } from 'react';
import './globals.css';

export const metadata: Metadata = {
  title: { default: 'GoLive', template: '%s · GoLive' },
  description: 'Go live from your browser. Watch about a second behind the camera.',
  icons: { icon: '/favicon.svg' },
};

export const viewport: Viewport = { themeColor: '#0f1115' };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header className="site-header">
          <Link href="/" className="brand" aria-label="GoLive home">
            <span className="brand-dot" aria-hidden="true" />
            GoLive
          </Link>
          <nav aria-label="Main">
            <Link href="/">Live now</Link>
            <Link href="/streams">Streams</Link>
            <Link href="/broadcast" className="button button-primary">
              Go live
            </Link>
          </nav>
        </header>
        <main className="site-main">{children}</main>
        <footer className="site-footer">
          Browser-first live streaming · RTMP in, low-latency HLS out · <a href="/healthz">status</a>
        </footer>
      </body>
    </html>
  );
}
