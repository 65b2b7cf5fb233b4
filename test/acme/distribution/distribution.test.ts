/**
 * The plain-HTTP distribution listener against real clients: `openssl ocsp` (POST, nonce, signature
 * check against the root), curl (downloads and the GET form of OCSP), `openssl crl`, `openssl verify
 * -crl_check` with a downloaded CRL, and `openssl pkcs7 -print_certs` on the EST cacerts bundle.
 */
import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildDistributionServer } from '../../../src/acme/distribution/index.ts';
import type { KeyType } from '../../../src/pki/key-types.ts';
import { testCa } from '../../helpers/ca.ts';
import { openssl } from '../../helpers/openssl.ts';
import { freeLoopbackPort } from '../../protocols/fixtures/helpers.ts';
import { runPeer } from './fixtures/run-peer.ts';

// Addresses of this file: 127.32.0.0/24.
const HOST = '127.32.0.1';

function curl(args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '--max-time', '10', '--noproxy', '*', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = []; const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('close', (status) => (status === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`curl ${args.join(' ')}: ${Buffer.concat(err)}`))));
  });
}

t.test('distribution listener with real clients', async (t) => {
  const port = await freeLoopbackPort();
  const base = `http://${HOST}:${port}`;
  const { ca, work } = await testCa(t, { distributionBaseUrl: base });
  const app = await buildDistributionServer(ca, { crlCacheMs: 60_000 });
  await app.listen({ host: HOST, port });
  t.teardown(() => app.close());

  const file = (name: string, content: string | Buffer) => { const p = join(work, name); writeFileSync(p, content); return p; };
  const root = file('root.pem', ca.rootPem);
  const ecMid = file('ecdsa-1.pem', ca.issuerPem('ecdsa-1'));
  const rsaMid = file('rsa-1.pem', ca.issuerPem('rsa-1'));
  const chainFile = file('chain.pem', ca.rootPem + ca.issuerPem('ecdsa-1') + ca.issuerPem('rsa-1'));
  let n = 0;
  const issue = async (keyType: KeyType, name: string) => {
    const { publicKey } = keyType.startsWith('rsa')
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
    const { record } = await ca.issue({ spki, keyType, identifiers: [{ type: 'dns', value: `${name}.klinikum.internal` }], profile: 'dicom-node' });
    return { record, path: file(`leaf-${n++}.pem`, record.pem) };
  };
  const ocsp = async (issuer: string, cert: string, extra: string[] = []) =>
    await runPeer('openssl', ['ocsp', '-issuer', issuer, '-cert', cert, '-url', `${base}/ocsp`, '-CAfile', root, '-timeout', '10', ...extra]);

  const leaf = await issue('ecdsa-p256', 'pacs');
  const other = await issue('ecdsa-p256', 'ris');
  const rsaLeaf = await issue('rsa-2048', 'his');

  t.test('issued leaves point at this listener (CRL DP, AIA OCSP and caIssuers)', async (t) => {
    const text = openssl(['x509', '-in', leaf.path, '-noout', '-text']);
    t.match(text, `URI:${base}/crl/ecdsa-1.crl`);
    t.match(text, `OCSP - URI:${base}/ocsp`);
    t.match(text, `CA Issuers - URI:${base}/ca/ecdsa-1.der`);
  });

  t.test('openssl ocsp: good, signed by the issuing intermediate, nonce echoed', async (t) => {
    const r = await ocsp(ecMid, leaf.path);
    t.equal(r.status, 0, r.out);
    t.match(r.out, 'Response verify OK');
    t.match(r.out, `${leaf.path}: good`);
    t.notMatch(r.out, /nonce/i, 'no nonce warning: the nonce came back');
    t.match(r.out, /Next Update:/);
  });

  t.test('openssl ocsp: RSA issuer, good', async (t) => {
    const r = await ocsp(rsaMid, rsaLeaf.path);
    t.match(r.out, 'Response verify OK');
    t.match(r.out, `${rsaLeaf.path}: good`);
  });

  t.test('openssl ocsp: revoked with time and reason after ca.revoke', async (t) => {
    ca.revoke(leaf.record.serial, 1, 'test');
    const r = await ocsp(ecMid, leaf.path, ['-resp_text']);
    t.match(r.out, 'Response verify OK');
    t.match(r.out, `${leaf.path}: revoked`);
    t.match(r.out, 'Reason: keyCompromise');
    t.match(r.out, /Revocation Time: \w+ +\d+ \d\d:\d\d:\d\d \d{4} GMT/);
    t.match(r.out, /Responder Id: [0-9A-F]{40}/, 'ResponderID byKey');
  });

  t.test('openssl ocsp: unknown serial of our issuer, and two certificates in one request', async (t) => {
    const r = await runPeer('openssl', ['ocsp', '-issuer', ecMid, '-serial', '0x0123456789abcdef', '-cert', other.path, '-url', `${base}/ocsp`, '-CAfile', root, '-timeout', '10']);
    t.match(r.out, 'Response verify OK');
    t.match(r.out, '0x0123456789abcdef: unknown');
    t.match(r.out, `${other.path}: good`);
  });

  t.test('a certificate asked for under the wrong issuer is unknown', async (t) => {
    const r = await runPeer('openssl', ['ocsp', '-issuer', rsaMid, '-serial', `0x${other.record.serial}`, '-url', `${base}/ocsp`, '-CAfile', root, '-timeout', '10']);
    t.match(r.out, `0x${other.record.serial}: unknown`);
  });

  t.test('an issuer we do not have: unauthorized', async (t) => {
    const key = join(work, 'foreign.key'); const cert = join(work, 'foreign.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=Foreign CA', '-days', '1'], { stdio: 'pipe' });
    const r = await runPeer('openssl', ['ocsp', '-issuer', cert, '-serial', '0x01', '-url', `${base}/ocsp`, '-timeout', '10']);
    t.match(r.out, /Responder Error: unauthorized \(6\)/);
  });

  t.test('garbage POST: malformedRequest, as an OCSP response with HTTP 200', async (t) => {
    const resp = file('garbage.resp', await curl(['-H', 'Content-Type: application/ocsp-request', '--data-binary', 'not an ocsp request', `${base}/ocsp`]));
    const r = await runPeer('openssl', ['ocsp', '-respin', resp, '-noverify', '-resp_text']);
    t.match(r.out, /malformedrequest \(1\)/i);
    const headers = (await curl(['-o', '/dev/null', '-D', '-', '-H', 'Content-Type: application/ocsp-request', '--data-binary', '\x30\x03\x02\x01', `${base}/ocsp`])).toString();
    t.match(headers, /^HTTP\/1\.1 200/);
    t.match(headers, /content-type: application\/ocsp-response/i);
  });

  t.test('GET form (RFC 6960 A.1) with curl, cacheable without a nonce', async (t) => {
    const req = join(work, 'get.req');
    openssl(['ocsp', '-issuer', ecMid, '-cert', other.path, '-no_nonce', '-reqout', req]);
    const b64 = readFileSync(req).toString('base64');
    const respPath = join(work, 'get.resp');
    const headers = (await curl(['-D', '-', '-o', respPath, `${base}/ocsp/${encodeURIComponent(b64)}`])).toString();
    t.match(headers, /cache-control: public, max-age=\d+, no-transform, must-revalidate/i);
    t.match(headers, /last-modified: /i);
    const r = await runPeer('openssl', ['ocsp', '-respin', respPath, '-issuer', ecMid, '-cert', other.path, '-CAfile', root, '-no_nonce']);
    t.match(r.out, 'Response verify OK');
    t.match(r.out, `${other.path}: good`);
    // Unencoded slashes and plus signs, as some clients send them, work too.
    const raw = file('raw-get.resp', await curl([`${base}/ocsp/${b64}`]));
    t.match((await runPeer('openssl', ['ocsp', '-respin', raw, '-issuer', ecMid, '-cert', other.path, '-CAfile', root, '-no_nonce'])).out, `${other.path}: good`);
    for (const junk of ['not*base64!', Buffer.from('garbage').toString('base64')]) {
      const bad = file('bad-get.resp', await curl([`${base}/ocsp/${junk}`]));
      t.match((await runPeer('openssl', ['ocsp', '-respin', bad, '-noverify'])).out, /malformedrequest \(1\)/i, junk);
    }
  });

  t.test('CRL: openssl crl parses and verifies it; openssl verify -crl_check uses it', async (t) => {
    const derPath = join(work, 'ecdsa-1.crl');
    const headers = (await curl(['-D', '-', '-o', derPath, `${base}/crl/ecdsa-1.crl`])).toString();
    t.match(headers, /content-type: application\/pkix-crl/i);
    const text = openssl(['crl', '-inform', 'DER', '-in', derPath, '-noout', '-text', '-CAfile', chainFile]);
    t.match(text.toUpperCase(), leaf.record.serial.toUpperCase());
    t.match(text, 'Key Compromise');
    const verified = await runPeer('openssl', ['crl', '-inform', 'DER', '-in', derPath, '-noout', '-CAfile', chainFile]);
    t.match(verified.out, 'verify OK');
    const crlPem = file('ecdsa-1.crl.pem', openssl(['crl', '-inform', 'DER', '-in', derPath]));
    const revoked = await runPeer('openssl', ['verify', '-crl_check', '-CRLfile', crlPem, '-CAfile', root, '-untrusted', ecMid, leaf.path]);
    t.not(revoked.status, 0);
    t.match(revoked.out, 'certificate revoked');
    const good = await runPeer('openssl', ['verify', '-crl_check', '-CRLfile', crlPem, '-CAfile', root, '-untrusted', ecMid, other.path]);
    t.equal(good.status, 0, good.out);
  });

  t.test('CRL caching: same CRL until a revocation, then a new one at once', async (t) => {
    const number = (der: Buffer) => Number(/CRL Number: *\n? *(\d+)/.exec(openssl(['crl', '-inform', 'DER', '-in', file('n.crl', der), '-noout', '-text']))?.[1]);
    const a = await curl([`${base}/crl/rsa-1.crl`]);
    const b = await curl([`${base}/crl/rsa-1.crl`]);
    t.same(a, b, 'served from cache');
    ca.revoke(rsaLeaf.record.serial, 4, 'test');
    const after = await curl([`${base}/crl/rsa-1.crl`]);
    t.not(after.equals(a), true, 'a new CRL after the revocation');
    const p = file('rsa-1.crl', after);
    t.match(openssl(['crl', '-inform', 'DER', '-in', p, '-noout', '-text']).toUpperCase(), rsaLeaf.record.serial.toUpperCase());
    t.ok(number(after) > number(a), `CRL number increased (${number(a)} -> ${number(after)})`);
  });

  t.test('unknown CRL and certificate names: 404 with the valid names', async (t) => {
    const r = (await curl(['-w', '%{http_code}', `${base}/crl/nope.crl`])).toString();
    t.match(r, /ecdsa-1\.crl, rsa-1\.crl\n404$/);
    t.match((await curl(['-w', '%{http_code}', `${base}/ca/..%2Fca.json.der`])).toString(), /404$/);
  });

  t.test('trust anchors: /ca/root.pem, /ca/root.der, and the caIssuers URL', async (t) => {
    t.equal((await curl([`${base}/ca/root.pem`])).toString(), ca.rootPem);
    const der = file('root.der', await curl([`${base}/ca/root.der`]));
    t.equal(openssl(['x509', '-inform', 'DER', '-in', der, '-noout', '-fingerprint', '-sha256']), openssl(['x509', '-in', root, '-noout', '-fingerprint', '-sha256']));
    const mid = file('mid.der', await curl([`${base}/ca/ecdsa-1.der`]));
    t.equal(openssl(['x509', '-inform', 'DER', '-in', mid, '-noout', '-subject']), openssl(['x509', '-in', ecMid, '-noout', '-subject']));
  });

  t.test('EST /.well-known/est/cacerts: base64 certs-only PKCS#7 with root and intermediates', async (t) => {
    const headers = (await curl(['-D', '-', '-o', join(work, 'cacerts.b64'), `${base}/.well-known/est/cacerts`])).toString();
    t.match(headers, /content-type: application\/pkcs7-mime/i);
    t.match(headers, /content-transfer-encoding: base64/i);
    const der = file('cacerts.p7', execFileSync('base64', ['-d', join(work, 'cacerts.b64')]));
    const printed = openssl(['pkcs7', '-inform', 'DER', '-in', der, '-print_certs', '-noout']);
    t.match(printed, /subject=.*Test Klinikum.*Root/i);
    t.match(printed, /ECDSA Issuing CA 1/);
    t.match(printed, /RSA Issuing CA 1/);
    t.equal(printed.match(/subject=/g)?.length, 3);
  });
});
