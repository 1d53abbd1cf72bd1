/**
 * The benchmarks act as the operator: every server they start (in process or as a child, which inherits the
 * environment) runs with this ADMIN_TOKEN, and streams are created with it as a Bearer token.
 */
export const BENCH_ADMIN_TOKEN = (process.env.ADMIN_TOKEN ||= 'bench-operator-token-0123456789');

export const operatorJson = { Authorization: `Bearer ${BENCH_ADMIN_TOKEN}`, 'Content-Type': 'application/json' };

/** POST /api/streams as the operator; throws with the answer on anything but 201. */
export async function createBenchStream(base: string, title?: string): Promise<{ id: string; key: string }> {
  const res = await fetch(`${base}/api/streams`, { method: 'POST', headers: operatorJson, body: JSON.stringify(title ? { title } : {}) });
  if (res.status !== 201) throw new Error(`POST /api/streams: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; key: string };
}
