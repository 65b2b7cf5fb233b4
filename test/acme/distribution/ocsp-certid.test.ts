/**
 * What a CertID names, asked by real `openssl ocsp`: a negative serial is one this CA never issued
 * (`unknown`, RFC 6960 §2.2), even when its content octets equal a real certificate's serial; SHA-1
 * (openssl's default) and SHA-256 CertIDs, also mixed in one request, name the same certificate.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildDistributionServer } from '../../../src/acme/distribution/index.ts';
import { testCa } from '../../helpers/ca.ts';
import { freeLoopbackPort } from '../../protocols/fixtures/helpers.ts';
import { runPeer } from './fixtures/run-peer.ts';

// Addresses of this file: 127.49.0.0/24.
const HOST = '127.49.0.1';

t.test('OCSP CertIDs: serial sign and hash algorithm', async (t) => {
  const port = await freeLoopbackPort();
  const base = `http://${HOST}:${port}`;
  const { ca, work } = await testCa(t, { distributionBaseUrl: base });
  const app = await buildDistributionServer(ca, { requestsPerAddressPerSecond: 0, ocspSignaturesPerAddressPerSecond: 0, ocspUnknownSignaturesPerSecond: 0 });
  await app.listen({ host: HOST, port });
  t.teardown(() => app.close());

  const file = (name: string, content: string) => { const p = join(work, name); writeFileSync(p, content); return p; };
  const root = file('root.pem', ca.rootPem);
  const mid = file('ecdsa-1.pem', ca.issuerPem('ecdsa-1'));
  const issue = async (name: string) => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
    const { record } = await ca.issue({ spki, keyType: 'ecdsa-p256', identifiers: [{ type: 'dns', value: `${name}.klinikum.internal` }], profile: 'dicom-node' });
    return { record, path: file(`${name}.pem`, record.pem) };
  };
  const ocsp = (args: string[]) => runPeer('openssl', ['ocsp', '-issuer', mid, ...args, '-url', `${base}/ocsp`, '-CAfile', root, '-timeout', '10']);

  t.test('a negative serial whose octets equal a real serial is unknown, not that certificate', async (t) => {
    // Serials are 128 random bits: about every other one has the top bit set, which DER pads with 0x00.
    let leaf = await issue('pacs-0');
    for (let i = 1; BigInt(`0x${leaf.record.serial}`) < 1n << 127n; i++) leaf = await issue(`pacs-${i}`);
    const serial = BigInt(`0x${leaf.record.serial}`);
    // The same 16 content octets read as a two's-complement INTEGER: what a client that drops the pad sends.
    const negative = `-0x${((1n << 128n) - serial).toString(16)}`;
    const r = await ocsp(['-serial', negative, '-resp_text']);
    t.match(r.out, 'Response verify OK');
    // openssl prints whole octets: an odd number of hex digits gets a leading 0.
    const magnitude = ((1n << 128n) - serial).toString(16).toUpperCase();
    t.match(r.out, `Serial Number: -${magnitude.length % 2 ? `0${magnitude}` : magnitude}`, 'openssl sent the negative serial');
    t.match(r.out, `${negative}: unknown`);
    t.notMatch(r.out, `${negative}: good`);
    const positive = await ocsp(['-serial', `0x${leaf.record.serial}`]);
    t.match(positive.out, `0x${leaf.record.serial}: good`, 'the certificate itself is still good');
  });

  t.test('SHA-1 and SHA-256 CertIDs, alone and in one request, before and after a revocation', async (t) => {
    const a = await issue('ris');
    const b = await issue('his');
    for (const digest of ['-sha1', '-sha256']) {
      const r = await ocsp([digest, '-cert', a.path, '-resp_text']);
      t.match(r.out, 'Response verify OK', digest);
      t.match(r.out, `Hash Algorithm: ${digest.slice(1)}`, `${digest}: the answer echoes the CertID's hash`);
      t.match(r.out, `${a.path}: good`, digest);
    }
    const mixed = async () => (await ocsp(['-cert', a.path, '-sha256', '-cert', b.path, '-resp_text'])).out;
    const before = await mixed();
    t.match(before, 'Response verify OK');
    t.match(before, /Hash Algorithm: sha1[\s\S]*Hash Algorithm: sha256/);
    t.match(before, `${a.path}: good`);
    t.match(before, `${b.path}: good`);
    ca.revoke(b.record.serial, 1, 'test');
    const after = await mixed();
    t.match(after, `${a.path}: good`);
    t.match(after, `${b.path}: revoked`);
    t.match((await ocsp(['-sha256', '-cert', b.path])).out, `${b.path}: revoked`);
  });
});
