/**
 * `conformance tls-node` against endpoints that misbehave on purpose: silent or hanging-up endpoints
 * (which prove nothing about TLS versions), a front that answers legacy ClientHellos with garbage and
 * passes everything else to a real openssl s_server (one bad probe must not end the run), and a server
 * whose Certificate message carries PEM text instead of DER (RFC 5246 §7.4.2). Fakes listen on 127.30.1.x
 * (127.30.2.5 for the hang-up after an answered hello).
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { runTlsNode, type Report } from '../../src/conformance/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makePki } from './fixtures/pki.ts';
import { peerOption, startSServer } from './fixtures/servers.ts';
import { helloFront } from './fixtures/hello-front.ts';

type Answer = 'silent' | 'close' | 'pipe' | Buffer;

const record = (type: number, body: Buffer) => Buffer.concat([Buffer.from([type, 3, 3, body.length >> 8, body.length & 0xff]), body]);
const handshake = (type: number, body: Buffer) => Buffer.concat([Buffer.from([type, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
/** RFC 5246 §7.4.1.3: version, random, empty session id, suite, null compression, no extensions. */
const serverHello = (version: number, suite: number) => handshake(2, Buffer.concat([Buffer.from([version >> 8, version & 0xff]), Buffer.alloc(32, 7), Buffer.from([0, suite >> 8, suite & 0xff, 0])]));
const PROTOCOL_VERSION_ALERT = record(21, Buffer.from([2, 70]));

/**
 * A fake product: reads the ClientHello's client_version (offset 9, RFC 5246 §7.4.1.2) and answers as
 * `answer` says; 'pipe' relays the connection, hello included, to a real TLS server on `backendPort`.
 */
function fakeNode(t: { teardown: (fn: () => void) => void }, host: string, answer: (clientVersion: number) => Answer, backendPort?: number): Promise<number> {
  return helloFront(t, host, (b) => b.length >= 11, (b) => {
    const a = answer(b.readUInt16BE(9));
    return a === 'pipe' ? { relayTo: backendPort! } : a;
  });
}

function row(report: Report, check: string) {
  const r = report.rows.find((x) => x.check === check);
  if (!r) throw new Error(`${check} not in the report`);
  return r;
}

t.test('an endpoint that never answers, or hangs up at once, does not pass legacy-versions-refused', async (t) => {
  for (const [host, behaviour] of [['127.30.1.1', 'silent'], ['127.30.1.2', 'close']] as const) {
    const port = await fakeNode(t, host, () => behaviour);
    const { report } = await runTlsNode({ endpoint: { host, port }, timeoutMs: 400, settleMs: 50 });
    const legacy = row(report, 'tls-node:legacy-versions-refused');
    t.equal(legacy.status, 'inconclusive', `${behaviour}: ${legacy.evidence}`);
    t.match(legacy.evidence, /never answered as a TLS server/, `${behaviour}: the reason is given`);
    t.equal(row(report, 'tls-node:tls12-supported').status, 'fail', `${behaviour}: no TLS 1.2 either`);
  }
});

t.test('a TLS 1.2+ node that hangs up on legacy hellos without an alert still passes: it demonstrably speaks TLS', peerOption('openssl'), async (t) => {
  const host = '127.30.1.3';
  const pki = await makePki(tempDir(t), host);
  const { port: backend } = await startSServer(t, host, ['-cert', pki.nodeEc.cert, '-key', pki.nodeEc.key, '-cert_chain', pki.inter]);
  const port = await fakeNode(t, host, (v) => (v < 0x0303 ? 'close' : 'pipe'), backend);
  const { report } = await runTlsNode({ endpoint: { host, port }, caPem: readFileSync(pki.root, 'utf8'), timeoutMs: 5000, settleMs: 100 });
  const legacy = row(report, 'tls-node:legacy-versions-refused');
  t.equal(legacy.status, 'pass', legacy.evidence);
  t.match(legacy.evidence, /TLSv1: connection closed without a ServerHello/);
  t.equal(row(report, 'tls-node:tls12-supported').status, 'pass');
});

t.test('a hang-up after the endpoint answered an earlier hello is still a refusal when the endpoint keeps answering', peerOption('openssl'), async (t) => {
  // The kit repeats the last hello the endpoint answered (here SSL 3.0, with an alert) to tell a product
  // that stopped answering from one that refuses TLS 1.0/1.1 by hanging up; this one is alive.
  const host = '127.30.2.5';
  const pki = await makePki(tempDir(t), host);
  const { port: backend } = await startSServer(t, host, ['-cert', pki.nodeEc.cert, '-key', pki.nodeEc.key, '-cert_chain', pki.inter]);
  const port = await fakeNode(t, host, (v) => (v === 0x0300 ? PROTOCOL_VERSION_ALERT : v < 0x0303 ? 'close' : 'pipe'), backend);
  const { report } = await runTlsNode({ endpoint: { host, port }, caPem: readFileSync(pki.root, 'utf8'), timeoutMs: 5000, settleMs: 100 });
  t.equal(report.incomplete, undefined, 'the run is complete');
  const legacy = row(report, 'tls-node:legacy-versions-refused');
  t.equal(legacy.status, 'pass', legacy.evidence);
  t.match(legacy.evidence, /SSLv3: refused with alert protocol_version; TLSv1: connection closed without a ServerHello; TLSv1\.1: connection closed without a ServerHello/);
});

t.test('garbage answers to some probes fail only the checks that depend on them, with a printable reason', peerOption('openssl'), async (t) => {
  const host = '127.30.1.4';
  const pki = await makePki(tempDir(t), host);
  const { port: backend } = await startSServer(t, host, ['-cert', pki.nodeEc.cert, '-key', pki.nodeEc.key, '-cert_chain', pki.inter]);
  const garbage: Record<number, Buffer> = {
    // Not TLS at all, with a terminal escape in it.
    0x0300: Buffer.from('HTTP/1.1 400 Bad Request\r\nServer: \x1b]0;pwned\x07\r\n\r\n'),
    // A record whose length lies (above RFC 5246 §6.2.1's 2^14 + 2048).
    0x0301: Buffer.from([22, 3, 1, 0xff, 0xff, 2, 0, 0, 0]),
    // A ServerHello whose session_id length runs past its end.
    0x0302: record(22, handshake(2, Buffer.concat([Buffer.from([3, 2]), Buffer.alloc(32, 7), Buffer.from([200, 0xc0, 0x2f, 0])]))),
  };
  const port = await fakeNode(t, host, (v) => garbage[v] ?? 'pipe', backend);
  const run = await runTlsNode({ endpoint: { host, port }, caPem: readFileSync(pki.root, 'utf8'), timeoutMs: 5000, settleMs: 100 }).then((r) => r, (err: Error) => err);
  if (run instanceof Error) return t.fail(`the run ended with ${run.message}`);
  const { report } = run;
  const legacy = row(report, 'tls-node:legacy-versions-refused');
  t.equal(legacy.status, 'fail', legacy.evidence);
  t.match(legacy.evidence, /SSLv3: answer is not TLS .*content type 0x48/, 'the non-TLS stream is named');
  t.match(legacy.evidence, /TLSv1: answer is not TLS .*record length 65535/, 'the lying record length is named');
  t.match(legacy.evidence, /TLSv1\.1: answer is not TLS .*truncated ServerHello/, 'the lying session id length is named');
  t.notMatch(JSON.stringify(report), /[\u0000-\u001f\u007f-\u009f]/, 'no control character in the report');
  for (const check of ['tls-node:tls12-supported', 'tls-node:tls13-supported', 'tls-node:recommended-cipher', 'tls-node:chain-to-ca', 'tls-node:server-name-match', 'tls-node:server-cert-validity']) {
    const r = row(report, check);
    t.equal(r.status, 'pass', `${check} is judged on the good probes: ${r.evidence}`);
  }
});

t.test('PEM text in a TLS 1.2 Certificate message fails the chain checks (RFC 5246 §7.4.2 requires DER)', async (t) => {
  const host = '127.30.1.5';
  const pki = await makePki(tempDir(t), host);
  // The leaf and its intermediate, each sent as PEM text in a certificate_list entry.
  const entries = [pki.nodeEc.cert, pki.inter].map((f) => readFileSync(f));
  const list = Buffer.concat(entries.map((pem) => Buffer.concat([u24(pem.length), pem])));
  const flight = record(22, Buffer.concat([serverHello(0x0303, 0xc02b), handshake(11, Buffer.concat([u24(list.length), list])), handshake(14, Buffer.alloc(0))]));
  const port = await fakeNode(t, host, (v) => (v === 0x0303 ? flight : PROTOCOL_VERSION_ALERT));
  const { report, evidence } = await runTlsNode({ endpoint: { host, port }, caPem: readFileSync(pki.root, 'utf8'), timeoutMs: 2000, settleMs: 50 });
  t.equal(evidence.serverChain.length, 0, 'no certificate was taken from PEM text');
  const chain = row(report, 'tls-node:chain-to-ca');
  t.equal(chain.status, 'fail', chain.evidence);
  t.match(chain.evidence, /certificate 1 of the TLSv1\.2 Certificate message \(\d+ bytes\) is PEM text, not DER/);
  for (const check of ['tls-node:server-name-match', 'tls-node:server-key-strength', 'tls-node:server-cert-validity', 'tls-node:revocation-pointers']) {
    const r = row(report, check);
    t.equal(r.status, 'fail', `${check}: ${r.evidence}`);
  }
  t.equal(row(report, 'tls-node:tls12-supported').status, 'pass', 'the ServerHello itself was fine');
  t.equal(row(report, 'tls-node:legacy-versions-refused').status, 'pass', 'legacy hellos got protocol_version alerts');
});

t.test('a Certificate message whose entry length lies fails the checks that need the flight, not the run', async (t) => {
  const host = '127.30.1.6';
  // certificate_list of 10 bytes holding one entry that claims 4000 bytes (RFC 5246 §7.4.2 framing).
  const lying = Buffer.concat([u24(10), u24(4000), Buffer.alloc(7, 0x30)]);
  const flight = record(22, Buffer.concat([serverHello(0x0303, 0xc02b), handshake(11, lying), handshake(14, Buffer.alloc(0))]));
  const port = await fakeNode(t, host, (v) => (v === 0x0303 ? flight : PROTOCOL_VERSION_ALERT));
  const { report } = await runTlsNode({ endpoint: { host, port }, timeoutMs: 2000, settleMs: 50 });
  const tls12 = row(report, 'tls-node:tls12-supported');
  t.equal(tls12.status, 'pass', 'the ServerHello came before the defect');
  t.match(tls12.evidence, /what followed is not TLS \(truncated Certificate entry/);
  for (const check of ['tls-node:chain-to-ca', 'tls-node:server-name-match', 'tls-node:requests-client-cert']) {
    const r = row(report, check);
    t.equal(r.status, 'fail', `${check}: ${r.evidence}`);
    t.match(r.evidence, /TLSv1\.2 server flight is not parseable TLS \(truncated Certificate entry/, `${check}: the reason is given`);
  }
});
