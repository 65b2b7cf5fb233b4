/**
 * The plain-HTTP distribution listener is unauthenticated, so each client address gets a request
 * budget: over it, downloads get 429 with Retry-After and OCSP gets an RFC 6960 `tryLater` response
 * (what `openssl ocsp` reports as such), while other addresses keep being served.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { OCSPResponse, OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import t from 'tap';
import { buildDistributionServer } from '../../../src/acme/distribution/index.ts';
import { testCa } from '../../helpers/ca.ts';
import { openssl } from '../../helpers/openssl.ts';
import { freeLoopbackPort } from '../../protocols/fixtures/helpers.ts';

// Addresses of this file: 127.32.2.0/24 (the server on .1, clients from .2 and .3; openssl connects
// from 127.0.0.1).
const HOST = '127.32.2.1';

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

function fetchFrom(localAddress: string, url: string, body?: Uint8Array): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method: body ? 'POST' : 'GET', localAddress, timeout: 10_000, agent: false,
      headers: body ? { 'content-type': 'application/ocsp-request' } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

const ocspStatus = (der: Buffer) => OCSPResponseStatus[AsnConvert.parse(der, OCSPResponse).responseStatus];

t.test('per-address limit on the distribution listener', async (t) => {
  const port = await freeLoopbackPort();
  const base = `http://${HOST}:${port}`;
  const { ca, work } = await testCa(t, { distributionBaseUrl: base });
  const clock = Date.now(); // frozen: spent budgets do not refill during the test
  const app = await buildDistributionServer(ca, { now: () => clock, requestsPerAddressPerSecond: 5 });
  await app.listen({ host: HOST, port });
  t.teardown(() => app.close());

  const file = (name: string, content: string | Uint8Array) => { const p = join(work, name); writeFileSync(p, content); return p; };
  const root = file('root.pem', ca.rootPem);
  const rsaMid = file('rsa-1.pem', ca.issuerPem('rsa-1'));
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const { record } = await ca.issue({ spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })), keyType: 'rsa-2048', identifiers: [{ type: 'dns', value: 'pacs.klinikum.internal' }], profile: 'dicom-node' });
  const leaf = file('pacs.pem', record.pem);
  const reqPath = join(work, 'pacs.req');
  openssl(['ocsp', '-issuer', rsaMid, '-cert', leaf, '-no_nonce', '-reqout', reqPath]);
  const ocspReq = new Uint8Array(readFileSync(reqPath));

  t.test('over the budget: 429 with Retry-After for downloads, tryLater for OCSP', async (t) => {
    for (let i = 0; i < 5; i++) t.equal((await fetchFrom('127.32.2.2', `${base}/ca/root.pem`)).status, 200, `request ${i + 1} of 5`);
    const over = await fetchFrom('127.32.2.2', `${base}/ca/root.pem`);
    t.equal(over.status, 429);
    t.match(over.headers['retry-after'], /^[1-9]\d*$/);
    t.match(over.body.toString(), /too many requests from 127\.32\.2\.2/);
    t.equal((await fetchFrom('127.32.2.2', `${base}/crl/rsa-1.crl`)).status, 429, 'every path shares the budget');

    const ocsp = await fetchFrom('127.32.2.2', `${base}/ocsp`, ocspReq);
    t.equal(ocsp.status, 200, 'OCSP errors travel as OCSP responses');
    t.equal(ocsp.headers['content-type'], 'application/ocsp-response');
    t.match(ocsp.headers['retry-after'], /^[1-9]\d*$/);
    t.equal(ocspStatus(ocsp.body), 'tryLater');
    const get = await fetchFrom('127.32.2.2', `${base}/ocsp/${encodeURIComponent(Buffer.from(ocspReq).toString('base64'))}`);
    t.equal(ocspStatus(get.body), 'tryLater', 'GET form too');
  });

  t.test('other addresses keep being served while one floods', async (t) => {
    const flood = Promise.all(Array.from({ length: 200 }, () => fetchFrom('127.32.2.2', `${base}/ocsp`, ocspReq)));
    const other = await fetchFrom('127.32.2.3', `${base}/ocsp`, ocspReq);
    t.equal(ocspStatus(other.body), 'successful');
    t.equal((await fetchFrom('127.32.2.3', `${base}/ca/root.pem`)).body.toString(), ca.rootPem);
    const flooded = await flood;
    t.ok(flooded.every((r) => ocspStatus(r.body) === 'tryLater'), 'the flooding address only got tryLater');
  });

  t.test('openssl ocsp reports tryLater once its address is over the budget', async (t) => {
    for (let i = 0; i < 5; i++) await fetchFrom('127.0.0.1', `${base}/ca/root.pem`);
    const r = await new Promise<string>((resolve) => {
      const child = spawn('openssl', ['ocsp', '-issuer', rsaMid, '-cert', leaf, '-url', `${base}/ocsp`, '-CAfile', root, '-timeout', '10'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d; });
      child.stderr.on('data', (d: Buffer) => { out += d; });
      child.on('close', () => resolve(out));
    });
    t.match(r, /Responder Error: trylater \(3\)/);
  });
});

t.test('0 turns the limit off', async (t) => {
  const { ca } = await testCa(t);
  const app = await buildDistributionServer(ca, { now: () => 0, requestsPerAddressPerSecond: 0 });
  t.teardown(() => app.close());
  for (let i = 0; i < 100; i++) {
    const r = await app.inject({ method: 'GET', url: '/ca/root.pem', remoteAddress: '127.32.2.2' });
    if (r.statusCode !== 200) return t.fail(`request ${i + 1}: ${r.statusCode}`);
  }
  t.pass('100 requests from one address at one instant');
});
