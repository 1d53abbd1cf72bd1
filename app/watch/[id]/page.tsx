import type { Metadata } from 'next';
import { notFound } from 'next/navigation';

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  const { id } = await params;
  return { title: `Watch ${id}` };
}

export default async function WatchPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  if (!ID_PATTERN.test(id)) notFound();
  return (
    <>
      <div className="grid-2">
        <div>
          <div className="stage" data-testid="player">
            <div className="stage-message">
              <strong>Waiting for the broadcaster</strong>
              <span>The stream starts here by itself when it goes live.</span>
            </div>
          </div>
          <h1 style={{ marginTop: 16 }}>Stream {id}</h1>
        </div>
        <div className="panel">
          <h2>Watch elsewhere</h2>
          <p className="muted">RTMP and HLS addresses appear here once the stream is live.</p>
        </div>
      </div>
    </>
  );
}
