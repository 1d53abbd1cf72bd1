/**
 * A throwaway certificate authority for TLS tests, made with openssl: the CA, and a server certificate it signed for
 * `localhost` and 127.0.0.1. Nothing here is trusted anywhere but in the test that made it.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from './harness';

export interface TestCa {
  caFile: string;
  certFile: string;
  keyFile: string;
}

async function openssl(args: string[]): Promise<void> {
  const p = run('openssl', args, { timeoutMs: 30000 });
  const code = await p.exited;
  if (code !== 0) throw new Error(`openssl ${args[0]} exited ${code}: ${p.stderr()}`);
}

export async function makeTestCa(dir: string): Promise<TestCa> {
  const f = (n: string) => path.join(dir, n);
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=GoLive test CA']);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost']);
  await writeFile(f('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  await openssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf')]);
  return { caFile: f('ca.pem'), certFile: f('server.pem'), keyFile: f('server.key') };
}
