/** The offset of this browser's clock to the server's (ms, browser minus server), from the best of a few round trips. */
export async function measureClockOffset(samples = 4): Promise<number> {
  let best: { offset: number; rtt: number } | null = null;
  for (let i = 0; i < samples; i++) {
    const t0 = Date.now();
    const res = await fetch('/api/time', { cache: 'no-store' });
    const { now } = (await res.json()) as { now: number };
    const t1 = Date.now();
    const rtt = t1 - t0;
    const offset = (t0 + t1) / 2 - now;
    if (!best || rtt < best.rtt) best = { offset, rtt };
  }
  return best?.offset ?? 0;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}
