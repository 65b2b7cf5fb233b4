/**
 * Attack on the relay's pooled reads (src/proxy/pooled-reads.ts), real sockets on 127.60.1.0/24: a
 * requestor trickles a data set in tiny reads (1-byte TLS records inbound, small TCP segments
 * outbound) while the acceptor has stopped reading. Every read takes a whole pooled buffer (16 KiB
 * TLS, 64 KiB TCP) and every queued write of it pins that buffer, while backpressure (session.ts
 * forward, FORWARD_HIGH_WATER) counts only the bytes written: before the fix, 4,000 one-byte reads
 * pinned 4,000 buffers (64 MiB inbound, 250 MiB outbound) for 4 KB of data, a memory amplification
 * any admitted device could use per association. The acceptor then reads again and must receive
 * every byte, in order.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import t, { type Test as Tap } from 'tap';
import { SOP_CLASS, TRANSFER_SYNTAX, encodeAssociateAc, encodeAssociateRq } from '../../src/protocols/dicom/index.ts';
import { type BufferPool, TCP_POOL, TLS_POOL } from '../../src/proxy/pooled-reads.ts';
import { freeLoopbackPort, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const BACKEND = '127.60.1.1';
const GW = '127.60.1.2';
const PEER = '127.60.1.3';
const TRICKLE = 4000;

const ts = TRANSFER_SYNTAX.ImplicitVrLittleEndian;
const rq = encodeAssociateRq({ calledAeTitle: 'PACS', callingAeTitle: 'CT1', presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [ts] }], userInformation: { maxLength: 0 } });
const ac = encodeAssociateAc({ calledAeTitle: 'PACS', callingAeTitle: 'CT1', presentationContexts: [{ id: 1, result: 0, transferSyntax: ts }], userInformation: { maxLength: 0 } });

/** A P-DATA-TF header whose one data set PDV is longer than anything the test sends: all of it passes through. */
function openDataPdu(): Buffer {
  const pduLength = 0xfffffff0;
  const head = Buffer.alloc(12);
  head[0] = 0x04;
  head.writeUInt32BE(pduLength, 2);
  head.writeUInt32BE(pduLength - 4, 6);
  head[10] = 1;
  head[11] = 0x00;
  return head;
}

/** The acceptor: answers the RQ with an AC, then reads nothing until `release()`; hashes what follows the RQ. */
function stalledAcceptor(s: net.Socket, expect: () => number, onDone: (r: { bytes: number; sha256: string }) => void): { release: () => void } {
  s.on('error', () => undefined);
  const hash = createHash('sha256');
  let head = Buffer.alloc(0);
  let bytes = 0;
  let answered = false;
  s.on('data', (chunk: Buffer) => {
    if (!answered) {
      head = Buffer.concat([head, chunk]);
      if (head.length < rq.length) return;
      answered = true;
      chunk = head.subarray(rq.length);
      s.write(ac);
      s.pause();
    }
    hash.update(chunk);
    bytes += chunk.length;
    if (bytes >= expect()) onDone({ bytes, sha256: hash.digest('hex') });
  });
  return { release: () => s.resume() };
}

/** Start `make(onConnection)` on BACKEND as the stalled acceptor; `total()` is the byte count to wait for. */
async function acceptor(t: Tap, make: (onConnection: (s: net.Socket) => void) => net.Server, total: () => number) {
  let release = () => undefined as void;
  let done!: (r: { bytes: number; sha256: string }) => void;
  const result = new Promise<{ bytes: number; sha256: string }>((r) => (done = r));
  const server = make((s) => ({ release } = stalledAcceptor(s, total, done)));
  await new Promise<void>((r) => server.listen(0, BACKEND, () => r()));
  t.teardown(() => server.close());
  const received = () => Promise.race([result, new Promise<never>((_, j) => setTimeout(() => j(new Error('the acceptor did not get every byte')), 20_000))]);
  return { port: (server.address() as net.AddressInfo).port, release: () => release(), received };
}

const turn = () => new Promise((r) => setImmediate(r));
const written = (s: net.Socket, b: Buffer) => new Promise<void>((r, j) => s.write(b, (err) => (err ? j(err) : r())));

/**
 * Fill the path to the stalled acceptor (kernel buffers, then ~200 KiB queued in the gateway, far
 * below FORWARD_HIGH_WATER), then trickle TRICKLE one-byte reads; returns the pool's growth during the trickle.
 */
async function attack(client: net.Socket, pool: BufferPool, piece: number, sent: ReturnType<typeof createHash>): Promise<{ bytes: number; filled: boolean; growth: number }> {
  let bytes = 0;
  const send = async (b: Buffer) => {
    sent.update(b);
    bytes += b.length;
    await written(client, b);
    await turn();
  };
  await send(openDataPdu());
  const before = pool.allocated;
  const queued = () => pool.allocated - before >= (200 * 1024) / pool.size + 8;
  // Writes queue in the gateway once the kernel holds no more: from then on the pool allocates for every read.
  for (let i = 0; i < 4000 && !queued(); i++) {
    await send(randomBytes(piece));
    await new Promise((r) => setTimeout(r, 1));
  }
  const filled = queued();
  const start = pool.allocated;
  for (let i = 0; i < TRICKLE; i++) {
    await send(Buffer.of(i & 0xff));
    // Outbound (TCP in): one segment per loop turn, so the gateway reads each on its own.
    if (pool === TCP_POOL) await new Promise((r) => setTimeout(r, 0));
  }
  await new Promise((r) => setTimeout(r, 100));
  return { bytes, filled, growth: pool.allocated - start };
}

t.test('inbound (TLS in, TCP out): 1-byte TLS records to a stalled acceptor pin no 16 KiB buffer each; every byte arrives', async (t) => {
  const pki = await proxyPki(t);
  const gw = await pki.issue('gw', [GW]);
  const device = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
  let total = Infinity;
  const backend = await acceptor(t, (on) => net.createServer(on), () => total);
  const port = await freeLoopbackPort();
  await startGateway(t, { routes: [{ name: 'in', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `${BACKEND}:${backend.port}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust }, limits: { maxPduLength: 0xffffffff } }] });
  const client = tls.connect({ socket: net.connect({ host: GW, port, localAddress: PEER }), ca: readFileSync(pki.trust), cert: readFileSync(device.cert), key: readFileSync(device.key), checkServerIdentity: () => undefined });
  client.on('error', () => undefined);
  t.teardown(() => client.destroy());
  await new Promise<void>((r, j) => client.once('secureConnect', () => r()).once('error', j));
  client.write(rq);
  await new Promise<void>((r) => client.once('data', () => r()));
  const sent = createHash('sha256');
  const { bytes, filled, growth } = await attack(client, TLS_POOL, 16 * 1024, sent);
  t.ok(filled, 'writes to the acceptor queued in the gateway before the trickle');
  t.ok(growth < 300, `${TRICKLE} one-byte records pinned ${growth} pooled 16 KiB buffers (${(growth * 16) >> 10} MiB) for ${TRICKLE} bytes`);
  total = bytes;
  backend.release();
  const got = await backend.received();
  t.equal(got.bytes, bytes, 'every byte reached the acceptor');
  t.equal(got.sha256, sent.digest('hex'), 'in order and unaltered');
});

t.test('outbound (TCP in, TLS out): small TCP segments to a stalled acceptor pin no 64 KiB buffer each; every byte arrives', async (t) => {
  const pki = await proxyPki(t);
  const gw = await pki.issue('gw', [GW]);
  const pacs = await pki.issue('pacs', ['pacs.klinikum.internal']);
  let total = Infinity;
  const backend = await acceptor(t, (on) => tls.createServer({ cert: readFileSync(pacs.cert), key: readFileSync(pacs.key) }, on), () => total);
  const port = await freeLoopbackPort();
  await startGateway(t, { routes: [{ name: 'out', direction: 'outbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `${BACKEND}:${backend.port}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust, serverName: 'pacs.klinikum.internal' }, limits: { maxPduLength: 0xffffffff } }] });
  const client = net.connect({ host: GW, port, localAddress: PEER });
  client.setNoDelay(true);
  client.on('error', () => undefined);
  t.teardown(() => client.destroy());
  await new Promise((r) => client.once('connect', r));
  client.write(rq);
  await new Promise<void>((r) => client.once('data', () => r()));
  const sent = createHash('sha256');
  const { bytes, filled, growth } = await attack(client, TCP_POOL, 64 * 1024, sent);
  t.ok(filled, 'writes to the acceptor queued in the gateway before the trickle');
  t.ok(growth < 100, `${TRICKLE} small reads pinned ${growth} pooled 64 KiB buffers (${growth >> 4} MiB) for ${TRICKLE} bytes`);
  total = bytes;
  backend.release();
  const got = await backend.received();
  t.equal(got.bytes, bytes, 'every byte reached the acceptor');
  t.equal(got.sha256, sent.digest('hex'), 'in order and unaltered');
});

