/**
 * pooled-reads.ts with real sockets on 127.54.1.0/24: a TLS server socket switched to pooled reads in
 * the middle of a stream delivers every byte in order, recycling its buffers only after the writes
 * fed from them completed (the receiver is slow, so writes queue and backpressure pauses the reader);
 * a socket without an open handle is left alone; and the DICOM relay reads data sets that way
 * (storescu +tls -> inbound route -> storescp, object byte-identical).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { BufferPool, type Lease, TLS_POOL, readPooled } from '../../src/proxy/pooled-reads.ts';
import { forward } from '../../src/proxy/session.ts';
import { tempDir } from '../helpers/tmp.ts';
import { datasetOf, writeDicomFile } from './fixtures/dicom-file.ts';
import { freeLoopbackPort, peerOption, requireBinary, run, startGateway, startStorescp } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const HOST = '127.54.1.1';
const GW = '127.54.1.2';

/** A TCP receiver that stops reading for 20 ms after every MiB, so the relay's writes to it queue up. */
async function slowSink(t: { teardown: (fn: () => void) => void }): Promise<{ port: number; done: Promise<{ bytes: number; sha256: string }> }> {
  let finish!: (r: { bytes: number; sha256: string }) => void;
  const done = new Promise<{ bytes: number; sha256: string }>((r) => (finish = r));
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    const hash = createHash('sha256');
    let bytes = 0;
    let nextPause = 1 << 20;
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      if (bytes >= nextPause) {
        nextPause += 1 << 20;
        socket.pause();
        setTimeout(() => socket.resume(), 20);
      }
    });
    socket.on('end', () => {
      finish({ bytes, sha256: hash.digest('hex') });
      socket.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  t.teardown(() => server.close());
  return { port: (server.address() as net.AddressInfo).port, done };
}

t.test('a TLS server socket switched mid-stream: every byte in order, buffers reused only after their writes completed', async (t) => {
  const pki = await proxyPki(t);
  const files = await pki.issue('relay', [HOST]);
  const sink = await slowSink(t);
  const pool = new BufferPool(16 * 1024, 128);
  let pooledChunks = 0;
  let pauses = 0;
  const server = tls.createServer({ cert: readFileSync(files.cert), key: readFileSync(files.key) }, (client) => {
    const upstream = net.connect({ host: HOST, port: sink.port });
    upstream.on('error', () => undefined);
    client.on('error', () => undefined);
    let seen = 0;
    let switched = false;
    const onChunk = (chunk: Buffer, lease?: Lease) => {
      if (lease) pooledChunks++;
      const wasPaused = client.isPaused();
      forward(client, upstream, chunk, lease);
      if (!wasPaused && client.isPaused()) pauses++;
      seen += chunk.length;
      // Switched from inside a 'data' callback, as the relay does on the A-ASSOCIATE-AC.
      if (!switched && seen >= 1 << 20) switched = readPooled(client, onChunk, pool);
    };
    client.on('data', onChunk);
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  t.teardown(() => server.close());

  const sent = createHash('sha256');
  const total = 48 << 20;
  const client = tls.connect({ host: HOST, port: (server.address() as net.AddressInfo).port, ca: readFileSync(pki.trust), servername: undefined });
  await new Promise<void>((r, j) => client.once('secureConnect', () => r()).once('error', j));
  client.on('error', () => undefined);
  client.resume();
  for (let off = 0; off < total;) {
    // Odd write sizes, so records and reads never line up with anything.
    const piece = randomBytes(Math.min(total - off, 100_000 + (off % 77_777)));
    sent.update(piece);
    off += piece.length;
    if (!client.write(piece)) await new Promise((r) => client.once('drain', r));
  }
  client.end();
  const got = await sink.done;
  t.equal(got.bytes, total, 'every byte arrived');
  t.equal(got.sha256, sent.digest('hex'), 'in order and unaltered: no buffer was refilled while a write still referred to it');
  t.ok(pooledChunks > 2000, `most of the stream came in pooled buffers (${pooledChunks} chunks)`);
  t.ok(pauses > 0, `the slow receiver made the relay pause the TLS socket (${pauses} times)`);
  t.ok(pool.allocated < pooledChunks / 10, `buffers were recycled: ${pool.allocated} allocated for ${pooledChunks} reads`);
});

t.test('a socket without an open handle is left as it is', async (t) => {
  const pool = new BufferPool(1024, 4);
  t.equal(readPooled(new net.Socket(), () => undefined, pool), false, 'unconnected socket: nothing to read into');
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.end('late');
  });
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  t.teardown(() => server.close());
  const socket = net.connect({ host: HOST, port: (server.address() as net.AddressInfo).port });
  await new Promise((r) => socket.once('connect', r));
  socket.destroy();
  t.equal(readPooled(socket, () => undefined, pool), false, 'destroyed socket');
  t.equal(pool.allocated, 0, 'no buffer taken');
});

t.test('the DICOM relay reads data sets into pooled buffers: storescu +tls -> inbound -> storescp, byte-identical', peerOption('storescu', 'storescp'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const gw = await pki.issue('gw', [GW]);
  const device = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
  const stored = join(work, 'stored');
  mkdirSync(stored);
  const scpPort = await freeLoopbackPort();
  await startStorescp(t, scpPort, stored, { extra: ['-pdu', '131072'] });
  const gwPort = await freeLoopbackPort();
  await startGateway(t, { routes: [{ name: 'in', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${gwPort}`, upstream: `127.0.0.1:${scpPort}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust } }] });
  const file = join(work, 'image.dcm');
  // 24 MiB of pixel data in 128 KiB PDUs: ~1,500 TLS records, most of them inside a PDU.
  writeDicomFile(file, { sopInstanceUid: '1.2.826.0.1.3680043.10.1234.54.1', rows: 4096, columns: 6144 });
  const before = TLS_POOL.allocated;
  const r = await run(requireBinary('storescu'), ['-aet', 'CT1', '-aec', 'STORESCP', '-pdu', '131072', '+tls', device.key, device.cert, '+cf', pki.trust, GW, String(gwPort), file], 60_000);
  t.equal(r.code, 0, `storescu succeeded: ${r.output}`);
  const files = readdirSync(stored);
  t.equal(files.length, 1, 'one object stored');
  t.ok(datasetOf(join(stored, files[0])).equals(datasetOf(file)), 'stored data set is byte-identical to the sent one');
  const allocated = TLS_POOL.allocated - before;
  t.ok(allocated > 0, 'the relay read the TLS side into pooled buffers');
  t.ok(allocated <= 160, `and recycled them (${allocated} allocated for ~1,500 records)`);
});

// A guard: whole PDUs the relay decodes (command sets, for policy and audit) are forwarded without a hold
// on the read buffer, which is safe only because the framer assembles them in buffers of their own. Were
// one a slice of the pooled buffer, the next read would refill it while the write to a backpressured
// upstream was still queued, and the backend would get other bytes than the gateway had just checked.
t.test('command PDUs queued behind a slow backend leave unaltered (the read buffer is held for them too)', async (t) => {
  const { encodeAssociateAc, encodeAssociateRq, encodeCEchoRq, encodePDataTf, SOP_CLASS, TRANSFER_SYNTAX } = await import('../../src/protocols/dicom/index.ts');
  const pki = await proxyPki(t);
  const gw = await pki.issue('gw', [GW]);
  const device = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
  const ts = TRANSFER_SYNTAX.ImplicitVrLittleEndian;
  const rq = encodeAssociateRq({ calledAeTitle: 'PACS', callingAeTitle: 'CT1', presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [ts] }], userInformation: { maxLength: 0 } });
  const ac = encodeAssociateAc({ calledAeTitle: 'PACS', callingAeTitle: 'CT1', presentationContexts: [{ id: 1, result: 0, transferSyntax: ts }], userInformation: { maxLength: 0 } });
  // ~4 MiB of complete C-ECHO-RQ command PDUs, each different (message IDs), so a refilled buffer shows.
  const pdus = Array.from({ length: 40_000 }, (_, i) => encodePDataTf([{ contextId: 1, command: true, last: true, data: encodeCEchoRq({ messageId: (i % 65_535) + 1 }) }]));
  const stream = Buffer.concat(pdus);
  // The backend: answers the RQ with an AC, then reads nothing for 800 ms while the relay's writes queue.
  let received = Buffer.alloc(0);
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const backend = net.createServer((s) => {
    s.on('error', () => undefined);
    let answered = false;
    s.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (!answered && received.length >= rq.length) {
        answered = true;
        received = received.subarray(rq.length);
        s.write(ac);
        s.pause();
        setTimeout(() => s.resume(), 800);
      }
      if (received.length >= stream.length) done();
    });
  });
  await new Promise<void>((r) => backend.listen(0, HOST, () => r()));
  t.teardown(() => backend.close());
  const port = await freeLoopbackPort();
  await startGateway(t, { routes: [{ name: 'in', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `${HOST}:${(backend.address() as net.AddressInfo).port}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust } }] });
  const client = tls.connect({ host: GW, port, ca: readFileSync(pki.trust), cert: readFileSync(device.cert), key: readFileSync(device.key), checkServerIdentity: () => undefined });
  client.on('error', () => undefined);
  await new Promise<void>((r, j) => client.once('secureConnect', () => r()).once('error', j));
  client.write(rq);
  await new Promise<void>((r) => client.once('data', () => r()));
  for (let off = 0; off < stream.length;) {
    const piece = stream.subarray(off, Math.min(stream.length, off + 50_000 + (off % 7_919)));
    off += piece.length;
    if (!client.write(piece)) await new Promise((r) => client.once('drain', r));
  }
  await Promise.race([all, new Promise((r) => setTimeout(r, 20_000))]);
  client.destroy();
  t.equal(received.length, stream.length, 'every command PDU reached the backend');
  t.ok(received.equals(stream), 'byte for byte as sent and checked');
});
