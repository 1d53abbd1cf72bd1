/**
 * Test certificates made with the real openssl: a test CA, and server certificates it signs for 127.0.0.1 and
 * localhost (P-256 keys: made in milliseconds). Everything goes into the caller's temp directory.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { run } from './harness';

export interface TestCa {
  dir: string;
  caFile: string;
  caKeyFile: string;
  /** The CA certificate (PEM), for `ca:` options. */
  ca: Buffer;
}

export interface TestCert {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

async function openssl(args: string[]): Promise<void> {
  const p = run('openssl', args, { timeoutMs: 30000 });
  assert.equal(await p.exited, 0, `openssl ${args.join(' ')}: ${p.stderr()}`);
}

export async function makeTestCa(dir: string, name = 'GoLive Test CA'): Promise<TestCa> {
  const caKeyFile = path.join(dir, 'ca.key');
  const caFile = path.join(dir, 'ca.pem');
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKeyFile, '-out', caFile, '-days', '3', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { dir, caFile, caKeyFile, ca: readFileSync(caFile) };
}

/** A server certificate signed by `ca`, written as `<name>.pem` / `<name>.key` (names: 127.0.0.1, ::1, localhost + extra). */
export async function makeServerCert(ca: TestCa, name: string, opts: { cn?: string; dns?: string[] } = {}): Promise<TestCert> {
  const keyFile = path.join(ca.dir, `${name}.key`);
  const csrFile = path.join(ca.dir, `${name}.csr`);
  const certFile = path.join(ca.dir, `${name}.pem`);
  const extFile = path.join(ca.dir, `${name}.ext`);
  const dns = ['localhost', ...(opts.dns ?? [])];
  writeFileSync(extFile, `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,${dns.map((d) => `DNS:${d}`).join(',')}\n`);
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', csrFile, '-subj', `/CN=${opts.cn ?? name}`]);
  await openssl(['x509', '-req', '-in', csrFile, '-CA', ca.caFile, '-CAkey', ca.caKeyFile, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', extFile]);
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}
