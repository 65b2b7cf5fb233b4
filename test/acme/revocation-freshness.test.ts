/**
 * Revocation freshness and OCSP cost, against a real `wardgate serve` and real peers (`wardgate revoke`
 * in another process, `openssl ocsp -url`, `openssl crl`, curl):
 * - after `wardgate revoke`, the very next OCSP answer (POST and GET) is `revoked` and the next CRL lists
 *   the serial, whatever serve had cached; the HTTP caching headers let a cache in front of serve keep
 *   an answer at most 5 minutes and never past it (docs/acme.md, "Revocation freshness");
 * - a flood of random serials, from many addresses none of which is limited, gets at most the shared
 *   signing budget's worth of signed `unknown` answers; the rest is the unsigned `unauthorized` of
 *   RFC 5019 §2.2.3.
 */
import { execFile, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { OCSPRequest, OCSPResponse } from '@peculiar/asn1-ocsp';
import t from 'tap';
import { DISTRIBUTION_DEFAULTS } from '../../src/acme/distribution/index.ts';
import { TEST_PASSPHRASE, testCa } from '../helpers/ca.ts';
import { BIN } from '../helpers/cli.ts';
import { openssl } from '../helpers/openssl.ts';
import { freeLoopbackPort } from '../protocols/fixtures/helpers.ts';
import { spawnServe } from '../interop/fixtures/serve-process.ts';

// Addresses of this file: 127.30.10.0/24 (serve on .1, flood clients from .10 to .29).
const HOST = '127.30.10.1';

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => out.push(d));
    child.on('close', (status) => resolve({ status, out: Buffer.concat(out).toString('latin1') }));
  });
}

/** curl, headers (-D -) and body in one buffer split at the blank line. */
function curl(args: string[]): Promise<{ headers: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '20', '-D', '-', ...args], { encoding: 'buffer', maxBuffer: 1 << 24 }, (err, out) => {
      if (err) return reject(err);
      const cut = out.indexOf('\r\n\r\n');
      resolve({ headers: out.subarray(0, cut).toString('latin1'), body: out.subarray(cut + 4) });
    });
  });
}

function post(url: string, body: Uint8Array, localAddress: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', localAddress, headers: { 'content-type': 'application/ocsp-request' }, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve(Buffer.concat(chunks)));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

const maxAge = (headers: string) => Number(/cache-control:[^\r\n]*max-age=(\d+)/i.exec(headers)?.[1]);

t.test('wardgate serve: revocation freshness and random-serial OCSP floods', async (t) => {
  const { ca, dir, work } = await testCa(t);
  const file = (name: string, content: string | Uint8Array) => { const p = join(work, name); writeFileSync(p, content); return p; };
  const root = file('root.pem', ca.rootPem);
  const mid = file('ecdsa-1.pem', ca.issuerPem('ecdsa-1'));
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { record } = await ca.issue({
    spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })), keyType: 'ecdsa-p256',
    identifiers: [{ type: 'dns', value: 'pacs.klinikum.internal' }], profile: 'dicom-node',
  });
  t.equal(record.issuerId, 'ecdsa-1');
  const leaf = file('leaf.pem', record.pem);

  const [port, httpPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  // No per-address limits: the flood below shows the shared bound holds however many addresses ask.
  const serve = spawnServe(t, ['-d', dir, '--listen', `${HOST}:${port}`, '--http-listen', `${HOST}:${httpPort}`, '--distribution-rate', '0', '--ocsp-signature-rate', '0']);
  await serve.ready;
  const base = `http://${HOST}:${httpPort}`;

  const getReq = file('get.req', new Uint8Array(0));
  openssl(['ocsp', '-issuer', mid, '-cert', leaf, '-no_nonce', '-reqout', getReq]);
  const getUrl = `${base}/ocsp/${encodeURIComponent(readFileSync(getReq).toString('base64'))}`;
  const ocspGet = async (extra: string[] = []) => {
    const r = await curl([...extra, getUrl]);
    const status = await run('openssl', ['ocsp', '-respin', file('get.resp', r.body), '-issuer', mid, '-cert', leaf, '-CAfile', root, '-no_nonce']);
    return { ...r, out: status.out };
  };
  const ocspPost = () => run('openssl', ['ocsp', '-issuer', mid, '-cert', leaf, '-url', `${base}/ocsp`, '-CAfile', root, '-timeout', '20']);
  const crlText = async () => {
    const r = await curl([`${base}/crl/ecdsa-1.crl`]);
    const text = await run('openssl', ['crl', '-inform', 'DER', '-in', file('ecdsa-1.crl', r.body), '-noout', '-text']);
    return { headers: r.headers, text: text.out.toUpperCase() };
  };
  const serialInCrl = record.serial.toUpperCase().replace(/^0+/, '');

  t.test('before the revocation: good, and HTTP caches may keep it 5 minutes at most', async (t) => {
    const get = await ocspGet();
    t.match(get.out, `${leaf}: good`);
    t.match(get.out, 'Response verify OK');
    t.match(get.headers, /cache-control: public, max-age=\d+, no-transform, must-revalidate/i);
    t.ok(maxAge(get.headers) <= 300, `OCSP GET max-age ${maxAge(get.headers)} s <= 300 s (nextUpdate is an hour away)`);
    t.match((await ocspPost()).out, `${leaf}: good`);
    const crl = await crlText();
    t.notMatch(crl.text, serialInCrl);
    t.match(crl.headers, /cache-control: [^\r\n]*must-revalidate/i, 'CRL: no stale copies past max-age');
    t.ok(maxAge(crl.headers) <= 300, `CRL max-age ${maxAge(crl.headers)} s <= 300 s`);
  });

  t.test('wardgate revoke in another process: the next answers say revoked', async (t) => {
    const revoke = await run(process.execPath, [BIN, 'revoke', record.serial, '-d', dir, '--reason', 'keyCompromise'], { ...process.env, WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE });
    t.equal(revoke.status, 0, revoke.out);
    const post = await ocspPost();
    t.match(post.out, `${leaf}: revoked`);
    t.match(post.out, 'Reason: keyCompromise');
    const get = await ocspGet();
    t.match(get.out, `${leaf}: revoked`, 'the GET answer serve had cached is not served again');
    // A cache revalidating what it holds gets the new answer, never a 304 for the old one.
    const revalidated = await ocspGet(['-H', 'If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT', '-H', 'If-None-Match: *']);
    t.match(revalidated.headers, /^HTTP\/1\.1 200/);
    t.match(revalidated.out, `${leaf}: revoked`);
    t.match((await crlText()).text, serialInCrl, 'the next CRL download lists the serial');
  });

  t.test('random serials: signatures bounded by the shared budget, the rest unauthorized', async (t) => {
    const template = AsnConvert.parse(readFileSync(getReq), OCSPRequest);
    const randomSerialRequest = () => {
      const serial = randomBytes(16);
      serial[0] = (serial[0] & 0x7f) | 0x01; // positive, no leading zero octet (X.690 §8.3.2)
      template.tbsRequest.requestList[0].reqCert.serialNumber = serial.buffer.slice(serial.byteOffset, serial.byteOffset + 16);
      delete template.tbsRequestRaw;
      return new Uint8Array(AsnConvert.serialize(template));
    };
    const TOTAL = 200;
    const answers: Buffer[] = [];
    const t0 = Date.now();
    // 20 addresses, 10 requests each, all 20 in flight at once.
    await Promise.all(Array.from({ length: 20 }, async (_, k) => {
      for (let i = 0; i < TOTAL / 20; i++) answers.push(await post(`${base}/ocsp`, randomSerialRequest(), `127.30.10.${10 + k}`));
    }));
    const seconds = (Date.now() - t0) / 1000;
    const statuses = answers.map((a) => AsnConvert.parse(a, OCSPResponse).responseStatus);
    const signed = statuses.filter((s) => s === 0).length;
    const unauthorized = statuses.filter((s) => s === 6).length;
    t.equal(signed + unauthorized, TOTAL, 'each answer is a signed one or unauthorized');
    // The bucket starts full (one second's worth) and refills at the rate: that many, plus one for rounding.
    const bound = DISTRIBUTION_DEFAULTS.ocspUnknownSignaturesPerSecond * (1 + Math.ceil(seconds)) + 1;
    t.ok(signed >= 1, 'within the budget, a never-issued serial is answered (unknown)');
    t.ok(signed <= bound, `${signed} of ${TOTAL} answers signed in ${seconds.toFixed(1)} s (at most ${bound})`);
    const refused = answers[statuses.indexOf(6)];
    t.match((await run('openssl', ['ocsp', '-respin', file('flood.resp', refused), '-noverify'])).out, /unauthorized \(6\)/);
    const signedOne = answers[statuses.indexOf(0)];
    t.match((await run('openssl', ['ocsp', '-respin', file('unknown.resp', signedOne), '-CAfile', root, '-issuer', mid, '-resp_text'])).out, /Cert Status: unknown/);
    // The real certificate is still answered, and correctly.
    t.match((await ocspPost()).out, `${leaf}: revoked`);
  });
});
