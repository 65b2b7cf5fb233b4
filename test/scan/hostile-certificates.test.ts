/**
 * Hostile certificates against the scanner: real `openssl s_server` peers on 127.62.0.0/24 presenting
 * a certificate with 10,000 SANs or a chain of 3,000 certificates, each scanned in the same run as a
 * normal TLS device whose entry must stay correct. The scan must end within its timeouts and report
 * what it observed about the hostile device, not something milder.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { DEFAULTS, Scanner } from '../../src/scan/scanner.ts';
import type { ServiceResult } from '../../src/scan/types.ts';
import { tempDir } from '../helpers/tmp.ts';

const dir = tempDir(t, 'wardgate-hostile-certs-');

function selfSigned(name: string, extraArgs: string[]): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`), '-days', '30', '-subj', `/CN=${name}`, ...extraArgs], { stdio: 'pipe' });
}

async function sServer(t: Test, address: string, port: number, args: string[]): Promise<ChildProcess> {
  const server = spawn('openssl', ['s_server', '-accept', `${address}:${port}`, '-cipher', 'ALL:@SECLEVEL=0', '-quiet', ...args], { stdio: ['pipe', 'ignore', 'ignore'] });
  t.teardown(() => { server.kill(); });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, address);
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (up) return server;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`openssl s_server on ${address}:${port} did not start`);
}

/** One run over the normal device (127.62.0.1) and the hostile one; returns results by address. */
async function scanPair(port: number, hostile: string): Promise<{ normal?: ServiceResult; hostile?: ServiceResult; elapsed: number }> {
  const scanner = new Scanner({ ...DEFAULTS, ports: [port], ratePerSecond: 1000, timeoutMs: 1500, anchors: [], advisories: [], lang: 'en' });
  const started = performance.now();
  const results = await scanner.run([{ address: '127.62.0.1' }, { address: hostile }]);
  return { normal: results.find((s) => s.address === '127.62.0.1'), hostile: results.find((s) => s.address === hostile), elapsed: performance.now() - started };
}

selfSigned('normal', ['-addext', 'subjectAltName=IP:127.62.0.1']);

function checkNormal(t: Test, s: ServiceResult | undefined): void {
  t.equal(s?.tls, true, 'normal device: TLS');
  t.equal(s?.certificate?.subject, 'CN=normal', 'normal device: its own certificate');
  t.same(s?.certificate?.sans, ['IP:127.62.0.1'], 'normal device: its own SAN');
  t.equal(s?.certificate?.signatureAlgorithm, 'ecdsaWithSHA256');
  t.notOk(s?.findings.some((f) => f.id === 'cert-hostname-mismatch' || f.id === 'cert-weak-signature'), 'normal device: no name or signature finding');
}

t.test('a SHA-1 certificate with 10,000 SANs still shows its SHA-1 signature', async (t) => {
  // Found in review: the signature algorithm was read by decoding the whole certificate with
  // @peculiar/asn1-schema, whose decoder caps the ASN.1 node count: a certificate with 10,000 SANs
  // (80 KiB, accepted by OpenSSL and Node) came out as signatureAlgorithm "unknown", so a SHA-1
  // signature raised no cert-weak-signature finding. Only the outer AlgorithmIdentifier is decoded now.
  const cnf = join(dir, 'many.cnf');
  const sans = Array.from({ length: 10000 }, (_, i) => `IP.${i + 1}=127.62.${10 + Math.floor(i / 250)}.${(i % 250) + 1}`);
  writeFileSync(cnf, `[req]\ndistinguished_name=dn\n[dn]\n[ext]\nsubjectAltName=@alt\n[alt]\n${sans.join('\n')}\n`);
  selfSigned('many', ['-sha1', '-config', cnf, '-extensions', 'ext']);
  t.ok(readFileSync(join(dir, 'many.pem')).length > 80_000, 'the certificate is large');
  await sServer(t, '127.62.0.1', 40120, ['-cert', join(dir, 'normal.pem'), '-key', join(dir, 'normal.key')]);
  await sServer(t, '127.62.0.2', 40120, ['-cert', join(dir, 'many.pem'), '-key', join(dir, 'many.key')]);
  const r = await scanPair(40120, '127.62.0.2');
  t.ok(r.elapsed < 30_000, `finished in ${Math.round(r.elapsed)} ms`);
  checkNormal(t, r.normal);
  const s = r.hostile;
  t.equal(s?.tls, true, 'hostile device: TLS');
  t.equal(s?.certificate?.sans.length, 10000, 'every SAN reported');
  t.equal(s?.certificate?.signatureAlgorithm, 'ecdsaWithSHA1', 'the signature algorithm is read');
  t.ok(s?.findings.some((f) => f.id === 'cert-weak-signature'), 'cert-weak-signature raised');
  t.equal(s?.tlsDetails?.hostnameMatches, false, '127.62.0.2 is not among the SANs');
});

t.test('a chain of 3,000 certificates is reported as TLS that could not be read, not as plaintext', async (t) => {
  // Found in review: OpenSSL refuses a Certificate message above 100 KiB ("excessive message size");
  // the prober took that for "not TLS here", so a TLS device presenting a 1.7 MB chain was reported
  // tls: false with plaintext probe notes. It is now a TLS port whose handshake failed.
  const pem = readFileSync(join(dir, 'normal.pem'), 'utf8');
  writeFileSync(join(dir, 'chain.pem'), pem.repeat(3000));
  await sServer(t, '127.62.0.1', 40121, ['-cert', join(dir, 'normal.pem'), '-key', join(dir, 'normal.key')]);
  await sServer(t, '127.62.0.3', 40121, ['-cert', join(dir, 'normal.pem'), '-key', join(dir, 'normal.key'), '-cert_chain', join(dir, 'chain.pem')]);
  const r = await scanPair(40121, '127.62.0.3');
  t.ok(r.elapsed < 30_000, `finished in ${Math.round(r.elapsed)} ms`);
  checkNormal(t, r.normal);
  const s = r.hostile;
  t.equal(s?.tls, true, 'hostile device: TLS');
  t.match(s?.note, /TLS handshake failed: .*excessive message size/, 'why the chain is missing');
  t.equal(s?.certificate, undefined, 'no certificate invented');
});
