/**
 * The kit's own TLS pieces without a peer: the raw ClientHello, the server-flight parser against
 * hostile input (typed errors, never a crash), the cipher-suite classes and the chain builder.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { isWardgateError } from '../../src/errors.ts';
import { buildClientHello } from '../../src/conformance/tls/client-hello.ts';
import { verifyChain } from '../../src/conformance/tls/chain.ts';
import { decodeDerCertificate } from '../../src/conformance/tls/der-certificate.ts';
import { CIPHER_SUITES, classify, suiteByCode } from '../../src/conformance/tls/cipher-suites.ts';
import { parseCertificateList, parseServerHello, ServerFlightParser } from '../../src/conformance/tls/server-flight.ts';
import { prng, mutate } from '../protocols/fixtures/helpers.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makePki } from './fixtures/pki.ts';

function record(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h[0] = type; h.writeUInt16BE(0x0303, 1); h.writeUInt16BE(body.length, 3);
  return Buffer.concat([h, body]);
}

function handshake(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
}

const serverHelloBody = Buffer.concat([
  Buffer.from([0x03, 0x03]), Buffer.alloc(32, 7), Buffer.from([0]), Buffer.from([0xc0, 0x2f]), Buffer.from([0]),
  Buffer.from([0x00, 0x09, 0xff, 0x01, 0x00, 0x01, 0x00, 0x00, 0x17, 0x00, 0x00]), // renegotiation_info, extended_master_secret
]);

t.test('ClientHello: record, version, suites and extensions are where RFC 5246 puts them', async (t) => {
  const hello = buildClientHello({ version: 0x0301, suites: [0x002f, 0xc013], serverName: 'pacs.klinikum.internal' });
  t.equal(hello[0], 22, 'handshake record');
  t.equal(hello.readUInt16BE(1), 0x0301, 'record version');
  t.equal(hello.readUInt16BE(3), hello.length - 5, 'record length');
  t.equal(hello[5], 1, 'ClientHello');
  t.equal(hello.readUInt16BE(9), 0x0301, 'client_version');
  t.equal(hello.readUInt16BE(44), 4, 'two suites');
  t.ok(hello.includes(Buffer.from('pacs.klinikum.internal')), 'SNI for a name');
  t.notOk(buildClientHello({ version: 0x0303, suites: [0xc02f], serverName: '127.0.0.1' }).includes(Buffer.from('127.0.0.1')), 'no SNI for an IP literal');
  const ssl3 = buildClientHello({ version: 0x0300, suites: [0x002f] });
  t.equal(ssl3.length, 5 + 4 + 2 + 32 + 1 + 4 + 2, 'SSL 3.0 hello has no extensions');
});

t.test('server flight: ServerHello + Certificate + CertificateRequest + ServerHelloDone, split across records', async (t) => {
  const certs = Buffer.concat([Buffer.from([0, 0, 3]), Buffer.from([1, 2, 3])]);
  const certMsg = Buffer.concat([Buffer.from([0, 0, certs.length]), certs]);
  const hs = Buffer.concat([handshake(2, serverHelloBody), handshake(11, certMsg), handshake(13, Buffer.from([1, 1, 0, 0, 0, 0])), handshake(14, Buffer.alloc(0))]);
  const wire = Buffer.concat([record(22, hs.subarray(0, 20)), record(22, hs.subarray(20))]);
  const p = new ServerFlightParser();
  let done = false;
  for (let i = 0; i < wire.length && !done; i += 7) done = p.push(wire.subarray(i, i + 7));
  t.equal(done, true);
  t.equal(p.flight.hello?.cipherSuite, 0xc02f);
  t.same(p.flight.hello?.extensions, [0xff01, 0x0017]);
  t.same(p.flight.certificates.map((c) => [...c]), [[1, 2, 3]]);
  t.equal(p.flight.certificateRequested, true);
  t.equal(p.flight.done, true);
});

t.test('server flight: an alert ends it', async (t) => {
  const p = new ServerFlightParser();
  t.equal(p.push(record(21, Buffer.from([2, 70]))), true);
  t.same(p.flight.alert, { level: 2, description: 70 });
});

t.test('server flight: a non-TLS answer (an HTTP error page) is a typed error, not an empty flight', async (t) => {
  const p = new ServerFlightParser();
  t.throws(() => p.push(Buffer.from('HTTP/1.0 400 Bad request\r\n\r\n')), { code: 'TLS_PROBE_FAILED', message: /not a TLS record: content type 0x48/ });
  t.throws(() => new ServerFlightParser().push(Buffer.from([0x17, 0x04, 0x03, 0, 1, 0])), { code: 'TLS_PROBE_FAILED', message: /version 0x0403/ }, 'record version major must be 3');
  t.equal(new ServerFlightParser().push(record(23, Buffer.from([1, 2, 3]))), true, 'application data still ends a plaintext flight');
});

t.test('certificate_list entries: only exactly one DER certificate is taken (RFC 5246 §7.4.2)', async (t) => {
  const pki = await makePki(tempDir(t), '127.0.0.1');
  const pem = readFileSync(pki.nodeEc.cert);
  const der = new X509Certificate(pem).raw;
  t.ok('cert' in decodeDerCertificate(der), 'DER');
  t.same(decodeDerCertificate(pem), { problem: 'is PEM text, not DER' });
  t.match(decodeDerCertificate(Buffer.concat([der, Buffer.from([0, 0])])), { problem: /not exactly one DER/ }, 'trailing bytes');
  // A DER SEQUENCE header in front of PEM text: Node's parser looks for PEM first and would take it.
  const body = Buffer.concat([Buffer.from('\n'), pem]);
  const wrapped = Buffer.concat([Buffer.from([0x30, 0x82, body.length >> 8, body.length & 0xff]), body]);
  t.match(decodeDerCertificate(wrapped), { problem: /not exactly one DER/ }, 'PEM inside a SEQUENCE header');
  t.same(decodeDerCertificate(Buffer.from('junk')), { problem: 'is not a DER X.509 certificate' });
});

t.test('server flight: hostile input gives typed errors or an incomplete flight, never a crash', async (t) => {
  t.throws(() => parseServerHello(Buffer.alloc(10)), { code: 'TLS_PROBE_FAILED' }, 'short ServerHello');
  t.throws(() => parseCertificateList(Buffer.from([0, 0, 9, 0, 0, 5, 1])), { code: 'TLS_PROBE_FAILED' }, 'truncated certificate list');
  t.throws(() => new ServerFlightParser().push(Buffer.from([22, 3, 3, 0xff, 0xff])), { code: 'TLS_PROBE_FAILED' }, 'oversized record');
  const good = record(22, Buffer.concat([handshake(2, serverHelloBody), handshake(14, Buffer.alloc(0))]));
  const rand = prng(7);
  let untyped = 0;
  for (let i = 0; i < 3000; i++) {
    try {
      new ServerFlightParser().push(mutate(rand, good));
    } catch (err) {
      if (!isWardgateError(err, 'TLS_PROBE_FAILED')) untyped++;
    }
  }
  t.equal(untyped, 0, '3000 mutated flights: only TLS_PROBE_FAILED errors');
});

t.test('cipher suite classes follow BCP 195', async (t) => {
  const table: Array<[string, number, string]> = [
    ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 0xc02f, 'recommended'],
    ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 0xcca9, 'acceptable'],
    ['TLS_DHE_RSA_WITH_AES_128_GCM_SHA256', 0x009e, 'discouraged'],
    ['TLS_RSA_WITH_AES_128_GCM_SHA256', 0x009c, 'discouraged'],
    ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 0xc013, 'discouraged'],
    ['TLS_RSA_WITH_3DES_EDE_CBC_SHA', 0x000a, 'forbidden'],
    ['TLS_RSA_WITH_RC4_128_SHA', 0x0005, 'forbidden'],
    ['TLS_RSA_EXPORT_WITH_RC4_40_MD5', 0x0003, 'forbidden'],
    ['TLS_RSA_WITH_NULL_SHA256', 0x003b, 'forbidden'],
    ['TLS_DH_anon_WITH_AES_128_GCM_SHA256', 0x00a6, 'forbidden'],
    ['TLS_RSA_WITH_DES_CBC_SHA', 0x0009, 'forbidden'],
  ];
  for (const [name, code, cls] of table) t.equal(classify(name, code), cls, name);
  t.equal(new Set(CIPHER_SUITES.map((s) => s.code)).size, CIPHER_SUITES.length, 'no duplicate code points');
  t.equal(CIPHER_SUITES.filter((s) => s.cls === 'recommended').length, 4, 'the four RFC 9325 §4.2 suites');
  t.equal(suiteByCode(0x1301).cls, 'discouraged', 'unknown code points are not trusted');
});

t.test('chain builder: full chain passes, missing intermediate, foreign anchor and expiry fail', async (t) => {
  const pki = await makePki(tempDir(t), '127.0.0.1');
  const cert = (f: string) => new X509Certificate(readFileSync(f));
  const leaf = cert(pki.nodeEc.cert); const inter = cert(pki.inter); const root = cert(pki.root);
  t.equal(verifyChain([leaf, inter], [root]).ok, true, 'leaf + intermediate to root');
  t.match(verifyChain([leaf], [root]).problem, /no certificate .* issued "CN=node.klinikum.internal"/, 'intermediate missing');
  t.equal(verifyChain([leaf], [inter]).ok, true, 'intermediate given as anchor');
  t.equal(verifyChain([leaf, inter], [leaf]).ok, true, 'pinned end-entity');
  t.equal(verifyChain([leaf, inter], [cert(pki.client.cert)]).ok, false, 'unrelated anchor');
  t.match(verifyChain([leaf, inter], [root], new Date(Date.now() + 400 * 86_400_000)).problem, /expired/, 'after notAfter');
  t.equal(verifyChain([], [root]).ok, false, 'nothing sent');
});
