import type { Metadata } from 'next';
import { StreamsGate } from './StreamManager';

export const metadata: Metadata = {
  title: 'Streams',
  description: 'The operator’s stream manager: create, rename, list or unlist, re-key and delete streams.',
  robots: { index: false, follow: false },
};

export default function StreamsPage() {
  return (
    <>
      <h1>Streams</h1>
      <p className="lead">Every stream on this server, live or not. Only the operator sees this list.</p>
      <StreamsGate />
    </>
  );
}
