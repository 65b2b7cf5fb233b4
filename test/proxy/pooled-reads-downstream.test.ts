/**
 * Attacks on the relay's pooled reads (src/proxy/pooled-reads.ts) in the acceptor -> requestor
 * direction (C-GET: the acceptor sends the data sets), with real sockets on 127.60.2.0/24, on both
 * route types: outbound reads the acceptor's TLS records into 16 KiB buffers and writes them to a
 * TCP requestor (libuv writes straight from the pooled buffer: the dangerous pairing), inbound reads
 * TCP into 64 KiB buffers and writes them to a TLS requestor. Several associations run at once
 * through one gateway, sharing its pools; the requestors read slowly, so writes queue and
 * backpressure pauses the acceptor's socket; half of them reset the connection mid-stream, with
 * writes queued. Every association that is not reset must get the acceptor's bytes unaltered and in
 * order (hashes at both ends), and no buffer may sit in a pool twice (two readers would share it).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { SOP_CLASS, TRANSFER_SYNTAX, encodeAssociateAc, encodeAssociateRq } from '../../src/protocols/dicom/index.ts';
import { type BufferPool, TCP_POOL, TLS_POOL } from '../../src/proxy/pooled-reads.ts';
import { freeLoopbackPort, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const BACKEND = '127.60.2.1';
const GW = '127.60.2.2';
const PEER = '127.60.2.3';
const ASSOCIATIONS = 8;
const DATA = 12 << 20;

const ts = TRANSFER_SYNTAX.ImplicitVrLittleEndian;
const rq = encodeAssociateRq({ calledAeTitle: 'PACS', callingAeTitle: 'CT1', presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [ts] }], userInformation: { maxLength: 0 } });
const ac = encodeAssociateAc({ calledAeTitle: 'PACS', callingAeTitle: 'CT1', presentationContexts: [{ id: 1, result: 0, transferSyntax: ts }], userInformation: { maxLength: 0 } });

/** One P-DATA-TF holding `body` as a single data set PDV: past its 12 header bytes everything passes through. */
function dataPdu(body: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head[0] = 0x04;
  head.writeUInt32BE(body.length + 6, 2);
  head.writeUInt32BE(body.length + 2, 6);
  head[10] = 1;
  head[11] = 0x02;
  return Buffer.concat([head, body]);
}

/** The acceptor: answers the RQ with an AC, then sends one big data PDU in odd-sized writes; resolves with its hash. */
function acceptor(s: net.Socket, sentHashes: string[]): void {
  s.on('error', () => undefined);
  let have = 0;
  s.on('data', async (chunk: Buffer) => {
    have += chunk.length;
    if (have < rq.length || have - chunk.length >= rq.length) return;
    s.write(ac);
    const stream = dataPdu(randomBytes(DATA));
    sentHashes.push(createHash('sha256').update(stream).digest('hex'));
    for (let off = 0; off < stream.length && !s.destroyed;) {
      const piece = stream.subarray(off, Math.min(stream.length, off + 30_000 + (off % 50_021)));
      off += piece.length;
      if (!s.write(piece)) await new Promise((r) => s.once('drain', r).once('close', r));
    }
  });
}

/**
 * The requestor: sends the RQ, skips the AC, hashes the rest while pausing 15 ms after every MiB;
 * `reset` requestors send a TCP RST once 3 MiB arrived, with the gateway's writes to them queued.
 */
function requestor({ socket, raw }: { socket: net.Socket; raw: net.Socket }, reset: boolean): Promise<{ bytes: number; sha256: string } | 'reset'> {
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    const hash = createHash('sha256');
    let skip = ac.length;
    let bytes = 0;
    let nextPause = 1 << 20;
    socket.on('data', (chunk: Buffer) => {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length);
        skip -= n;
        chunk = chunk.subarray(n);
      }
      hash.update(chunk);
      bytes += chunk.length;
      if (reset && bytes >= 3 << 20) {
        // The RST goes out on the TCP socket under the TLS one.
        raw.resetAndDestroy();
        resolve('reset');
        return;
      }
      if (bytes >= DATA + 12) {
        resolve({ bytes, sha256: hash.digest('hex') });
        socket.destroy();
        return;
      }
      if (bytes >= nextPause) {
        nextPause += 1 << 20;
        socket.pause();
        setTimeout(() => socket.resume(), 15);
      }
    });
    socket.write(rq);
  });
}

function freeListHasNoDuplicates(pool: BufferPool): boolean {
  const free = (pool as unknown as { free: { buffer: Buffer }[] }).free;
  return new Set(free.map((l) => l.buffer)).size === free.length;
}

for (const direction of ['outbound', 'inbound'] as const) {
  t.test(`${direction}: ${ASSOCIATIONS} C-GET-like streams acceptor -> slow requestors at once, half reset mid-stream: the rest byte-identical`, async (t) => {
    const pki = await proxyPki(t);
    const gw = await pki.issue('gw', [GW]);
    const pacs = await pki.issue('pacs', ['pacs.klinikum.internal']);
    const device = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
    const sent: string[] = [];
    const backend = direction === 'outbound'
      ? tls.createServer({ cert: readFileSync(pacs.cert), key: readFileSync(pacs.key) }, (s) => acceptor(s, sent))
      : net.createServer((s) => acceptor(s, sent));
    await new Promise<void>((r) => backend.listen(0, BACKEND, () => r()));
    t.teardown(() => backend.close());
    const upstream = `${BACKEND}:${(backend.address() as net.AddressInfo).port}`;
    const port = await freeLoopbackPort();
    const route = direction === 'outbound'
      ? { name: 'out', direction, protocol: 'dicom', listen: `${GW}:${port}`, upstream, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust, serverName: 'pacs.klinikum.internal' }, limits: { maxPduLength: 0xffffffff } }
      : { name: 'in', direction, protocol: 'dicom', listen: `${GW}:${port}`, upstream, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust }, limits: { maxPduLength: 0xffffffff } };
    await startGateway(t, { routes: [route] });
    const pool = direction === 'outbound' ? TLS_POOL : TCP_POOL;
    const before = pool.allocated;
    const connect = (): { socket: net.Socket; raw: net.Socket } => {
      const raw = net.connect({ host: GW, port, localAddress: PEER });
      if (direction === 'outbound') return { socket: raw, raw };
      return { socket: tls.connect({ socket: raw, ca: readFileSync(pki.trust), cert: readFileSync(device.cert), key: readFileSync(device.key), checkServerIdentity: () => undefined }), raw };
    };
    const sockets = Array.from({ length: ASSOCIATIONS }, connect);
    t.teardown(() => sockets.forEach((s) => s.socket.destroy()));
    let timer: NodeJS.Timeout | undefined;
    const results = await Promise.race([
      Promise.all(sockets.map((s, i) => requestor(s, i % 2 === 1))),
      new Promise<never>((_, j) => (timer = setTimeout(() => j(new Error('a requestor did not get its data set')), 60_000))),
    ]).finally(() => clearTimeout(timer));
    const received = results.filter((r) => r !== 'reset');
    t.equal(received.length, ASSOCIATIONS / 2, 'every association that was not reset completed');
    for (const r of received) {
      t.equal(r.bytes, DATA + 12, 'every byte arrived');
      t.ok(sent.includes(r.sha256), 'in order and unaltered: the acceptor sent exactly these bytes');
    }
    t.ok(pool.allocated > before, `the gateway read the acceptors into pooled buffers (${pool.allocated - before} allocated)`);
    await new Promise((r) => setTimeout(r, 200));
    t.ok(freeListHasNoDuplicates(pool), 'no buffer returned to the pool twice');
  });
}
