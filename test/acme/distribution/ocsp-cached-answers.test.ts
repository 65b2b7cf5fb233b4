/**
 * OCSP answers are signed once per query and reused (RSA-2048 signatures cost 1-2 ms on the event loop
 * the ACME server shares), yet a revocation is answered at the next request: in this process
 * (`ca.revoke`) and from another one (`wardgate revoke` on the same data dir). Real `openssl ocsp`
 * verifies cached answers, and its default nonce requests work both while the address may have them
 * signed and once its signing budget is spent (then the cached answer comes back without the nonce).
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { Extension } from '@peculiar/asn1-x509';
import { BasicOCSPResponse, id_pkix_ocsp_nonce, OCSPRequest, OCSPResponse } from '@peculiar/asn1-ocsp';
import t from 'tap';
import { buildDistributionServer } from '../../../src/acme/distribution/index.ts';
import { TEST_PASSPHRASE, testCa } from '../../helpers/ca.ts';
import { BIN } from '../../helpers/cli.ts';
import { openssl } from '../../helpers/openssl.ts';
import { freeLoopbackPort } from '../../protocols/fixtures/helpers.ts';

// Addresses of this file: 127.32.1.0/24 (the server on .1, Node clients from .2 and .3; openssl
// connects from 127.0.0.1).
const HOST = '127.32.1.1';

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => out.push(d));
    child.on('close', (status) => resolve({ status, out: Buffer.concat(out).toString('utf8') }));
  });
}

/** POST an OCSP request from a chosen loopback source address. */
function post(url: string, body: Uint8Array, localAddress: string): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', localAddress, headers: { 'content-type': 'application/ocsp-request' }, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

function basic(der: Buffer): BasicOCSPResponse {
  return AsnConvert.parse(AsnConvert.parse(der, OCSPResponse).responseBytes!.response.buffer, BasicOCSPResponse);
}
const producedAt = (der: Buffer) => basic(der).tbsResponseData.producedAt.toISOString();
const certStatus = (der: Buffer) => {
  const s = basic(der).tbsResponseData.responses[0].certStatus;
  return s.good !== undefined ? 'good' : s.revoked !== undefined ? 'revoked' : 'unknown';
};
const thisUpdateLine = (out: string) => /This Update: (.+)/.exec(out)?.[1];

t.test('OCSP answers are reused until the status changes', async (t) => {
  const port = await freeLoopbackPort();
  const base = `http://${HOST}:${port}`;
  const { ca, work, dir } = await testCa(t, { distributionBaseUrl: base });
  // A clock of our own, moved forward by hand: two requests in different seconds must still get the
  // same signed bytes (RSA PKCS#1 v1.5 is deterministic, so within one second they would anyway).
  let clock = Date.now();
  const app = await buildDistributionServer(ca, { now: () => clock, ocspValidityMs: 10 * 60_000 });
  await app.listen({ host: HOST, port });
  t.teardown(() => app.close());

  const file = (name: string, content: string | Uint8Array) => { const p = join(work, name); writeFileSync(p, content); return p; };
  const root = file('root.pem', ca.rootPem);
  const rsaMid = file('rsa-1.pem', ca.issuerPem('rsa-1'));
  const issue = async (name: string) => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
    const { record } = await ca.issue({ spki, keyType: 'rsa-2048', identifiers: [{ type: 'dns', value: `${name}.klinikum.internal` }], profile: 'dicom-node' });
    return { record, path: file(`${name}.pem`, record.pem) };
  };
  const requestFor = (leaf: string, name: string, extra: string[] = ['-no_nonce']) => {
    const p = join(work, `${name}.req`);
    openssl(['ocsp', '-issuer', rsaMid, '-cert', leaf, ...extra, '-reqout', p]);
    return new Uint8Array(readFileSync(p));
  };
  const ask = (der: Uint8Array, from = '127.32.1.2') => post(`${base}/ocsp`, der, from);
  const opensslOcsp = (leaf: string, extra: string[] = []) =>
    run('openssl', ['ocsp', '-issuer', rsaMid, '-cert', leaf, '-url', `${base}/ocsp`, '-CAfile', root, '-timeout', '10', ...extra]);

  const his = await issue('his');

  t.test('two identical requests without a nonce get the same signed bytes (same producedAt)', async (t) => {
    const req = requestFor(his.path, 'his');
    const a = await ask(req);
    clock += 5_000;
    const b = await ask(req);
    t.equal(a.status, 200);
    t.equal(certStatus(a.body), 'good');
    t.equal(producedAt(b.body), producedAt(a.body), 'same producedAt, 5 s later');
    t.ok(a.body.equals(b.body), 'byte-identical answer');
    // The GET form of the same query, and the same query padded with an over-long nonce (which is not
    // echoed, RFC 8954 §2.1), are the same query: no way around the cache by changing the wrapping.
    const viaGet = await new Promise<Buffer>((resolve, reject) => {
      httpRequest(`${base}/ocsp/${encodeURIComponent(Buffer.from(req).toString('base64'))}`, { localAddress: '127.32.1.2' }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      }).on('error', reject).end();
    });
    t.ok(viaGet.equals(a.body), 'GET /ocsp/<base64>: same bytes');
    const padded = AsnConvert.parse(req, OCSPRequest);
    padded.tbsRequest.requestExtensions = [new Extension({ extnID: id_pkix_ocsp_nonce, extnValue: new OctetString(AsnConvert.serialize(new OctetString(new Uint8Array(64).fill(7)))) })];
    delete padded.tbsRequestRaw;
    t.ok((await ask(new Uint8Array(AsnConvert.serialize(padded)))).body.equals(a.body), 'a 64-octet nonce (ignored): same bytes');
  });

  t.test('openssl ocsp verifies the cached answer', async (t) => {
    const first = await opensslOcsp(his.path, ['-no_nonce']);
    clock += 5_000;
    const second = await opensslOcsp(his.path, ['-no_nonce']);
    for (const r of [first, second]) {
      t.equal(r.status, 0, r.out);
      t.match(r.out, 'Response verify OK');
      t.match(r.out, `${his.path}: good`);
    }
    t.equal(thisUpdateLine(second.out), thisUpdateLine(first.out), 'the second answer is the cached one');
  });

  t.test('ca.revoke: the next answer says revoked (no stale good)', async (t) => {
    const pacs = await issue('pacs');
    const req = requestFor(pacs.path, 'pacs');
    t.equal(certStatus((await ask(req)).body), 'good');
    t.equal(certStatus((await ask(req)).body), 'good', 'cached');
    ca.revoke(pacs.record.serial, 1, 'test');
    t.equal(certStatus((await ask(req)).body), 'revoked');
    const r = await opensslOcsp(pacs.path, ['-no_nonce', '-resp_text']);
    t.match(r.out, 'Response verify OK');
    t.match(r.out, `${pacs.path}: revoked`);
    t.match(r.out, 'Reason: keyCompromise');
  });

  t.test('`wardgate revoke` in another process on the same data dir: the next answer says revoked', async (t) => {
    const ris = await issue('ris');
    const req = requestFor(ris.path, 'ris');
    t.equal(certStatus((await ask(req)).body), 'good');
    t.equal(certStatus((await ask(req)).body), 'good', 'cached');
    const cli = await run(process.execPath, [BIN, 'revoke', ris.record.serial, '--data-dir', dir, '--reason', 'superseded'],
      { PATH: process.env.PATH, HOME: process.env.HOME, WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE });
    t.equal(cli.status, 0, cli.out);
    t.equal(certStatus((await ask(req)).body), 'revoked');
  });

  t.test('openssl with its default nonce: signed for the request, nonce echoed', async (t) => {
    const r = await opensslOcsp(his.path);
    t.equal(r.status, 0, r.out);
    t.match(r.out, 'Response verify OK');
    t.notMatch(r.out, /nonce/i, 'the nonce came back');
    t.match(r.out, `${his.path}: good`);
  });

  // Last: the clock then runs ahead of openssl's (which checks thisUpdate against its own).
  t.test('past half the validity a new answer is signed', async (t) => {
    const req = requestFor(his.path, 'his-refresh');
    const before = await ask(req);
    clock += 5 * 60_000 + 1_000;
    const after = await ask(req);
    t.not(producedAt(after.body), producedAt(before.body));
    t.equal(certStatus(after.body), 'good');
  });
});

t.test('nonce requests past the signing budget get the cached answer without the nonce', async (t) => {
  const port = await freeLoopbackPort();
  const base = `http://${HOST}:${port}`;
  const { ca, work } = await testCa(t, { distributionBaseUrl: base });
  const clock = Date.now(); // frozen: budgets do not refill
  const app = await buildDistributionServer(ca, { now: () => clock, ocspSignaturesPerAddressPerSecond: 1 });
  await app.listen({ host: HOST, port });
  t.teardown(() => app.close());
  const file = (name: string, content: string | Uint8Array) => { const p = join(work, name); writeFileSync(p, content); return p; };
  const root = file('root.pem', ca.rootPem);
  const rsaMid = file('rsa-1.pem', ca.issuerPem('rsa-1'));
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const { record } = await ca.issue({ spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })), keyType: 'rsa-2048', identifiers: [{ type: 'dns', value: 'lis.klinikum.internal' }], profile: 'dicom-node' });
  const leaf = file('lis.pem', record.pem);
  const opensslOcsp = (extra: string[] = []) =>
    run('openssl', ['ocsp', '-issuer', rsaMid, '-cert', leaf, '-url', `${base}/ocsp`, '-CAfile', root, '-timeout', '10', ...extra]);

  const fresh = await opensslOcsp();
  t.equal(fresh.status, 0, fresh.out);
  t.notMatch(fresh.out, /nonce/i, 'within the budget: the nonce is echoed');

  const spent = await opensslOcsp();
  t.match(spent.out, /Responder Error: trylater \(3\)/, 'budget spent and nothing cached: tryLater');

  // Another address (its own budget) has the nonce-less answer signed and cached ...
  const reqPath = join(work, 'lis.req');
  openssl(['ocsp', '-issuer', rsaMid, '-cert', leaf, '-no_nonce', '-reqout', reqPath]);
  const cached = await post(`${base}/ocsp`, new Uint8Array(readFileSync(reqPath)), '127.32.1.3');
  t.equal(certStatus(cached.body), 'good');

  // ... which openssl, out of budget, now gets for its nonce request: a warning, and a verified answer.
  const degraded = await opensslOcsp();
  t.equal(degraded.status, 0, degraded.out);
  t.match(degraded.out, 'WARNING: no nonce in response');
  t.match(degraded.out, 'Response verify OK');
  t.match(degraded.out, `${leaf}: good`);
});
