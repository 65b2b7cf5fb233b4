/**
 * The DICOM generator's unread-echo-flood (src/fuzz/dicom-generator.ts) writes its A-ASSOCIATE-RQ,
 * waits for the A-ASSOCIATE-AC and only then floods C-ECHO-RQs without reading (awaitAccept +
 * neverRead, src/fuzz/executor.ts). Written right behind the RQ, the flood is P-DATA-TF in Sta5, which
 * the gateway aborts at once (PS3.8 §9.2), so the backpressure path it exists for went untried.
 */
import net from 'node:net';
import t from 'tap';
import type { BackendConnection } from '../../src/fuzz/backend.ts';
import { isBulk } from '../../src/fuzz/bulk-exec.ts';
import { Campaign } from '../../src/fuzz/campaign.ts';
import type { DicomDictionary } from '../../src/fuzz/dicom-generator.ts';
import { type Exchange, exchangeFromJson, exchangeToJson } from '../../src/fuzz/exchange.ts';
import { DEFAULT_EXEC_OPTIONS, runClient } from '../../src/fuzz/executor.ts';
import { InputGenerator } from '../../src/fuzz/generate.ts';
import { prepareTarget } from '../../src/fuzz/setup.ts';
import { routeFixture } from './fixtures/routes.ts';

const MiB = 1024 * 1024;

/** The generator's own flood: the first one seed 14 makes (rare: about 1 exec in 33,000). */
function unreadEchoFlood(dicom?: DicomDictionary): Exchange {
  const gen = new InputGenerator({ protocol: 'dicom', seed: 14, sides: ['client'], dicom });
  for (let i = 0; i < 300_000; i++) {
    const ex = gen.generate(i).client;
    if (ex.label.endsWith(' unread-echo-flood')) return ex;
  }
  throw new Error('no unread-echo-flood in 300,000 execs of seed 14');
}

/** PDU types in stream order (PS3.8 §9.3.1 headers); a truncated last PDU is left out. */
function pduTypes(stream: Buffer): number[] {
  const out: number[] = [];
  for (let pos = 0; pos + 6 <= stream.length; ) {
    const end = pos + 6 + stream.readUInt32BE(pos + 2);
    if (end > stream.length) break;
    out.push(stream[pos]);
    pos = end;
  }
  return out;
}

t.test('an admitted unread-echo-flood floods the established association; the gateway holds a bounded amount', async (t) => {
  const f = await routeFixture(t, '127.40.14.1');
  const prepared = prepareTarget({ route: 'dicom-in', config: f.config, cert: f.cert, key: f.key, ca: f.ca });
  const target = prepared.target;
  await target.start();
  t.teardown(() => target.close?.());
  const flood = unreadEchoFlood(prepared.dicom);
  t.ok(flood.neverRead && flood.awaitAccept && isBulk(flood), 'a bulk exec that never reads and waits for the AC');

  // Watch what the campaign's own oracles look at: the backend's closed connections and the memory readings.
  const backend = target.backend!;
  const records: BackendConnection[] = [];
  const drain = backend.drain.bind(backend);
  backend.drain = () => {
    const got = drain();
    records.push(...got);
    return got;
  };
  const readings: Array<number | undefined> = [];
  const retained = target.retainedMb!.bind(target);
  target.retainedMb = async (maxAgeMs?: number) => {
    const mb = await retained(maxAgeMs);
    readings.push(mb);
    return mb;
  };
  const received = backend.receivedBytes;

  const campaign = new Campaign({ target, protocol: 'dicom', seed: 14, durationMs: 0, outDir: '', policy: prepared.policy, dicom: prepared.dicom });
  const verdict = await campaign.replayOnce({ client: flood });
  t.equal(verdict, undefined, verdict ? `finding: ${verdict.oracle}: ${verdict.detail}` : 'no finding');
  t.ok(readings.length >= 2 && readings.every((mb) => mb !== undefined), `the memory oracle sampled the gateway before and during the flood (${readings.map((mb) => mb?.toFixed(1)).join(', ')} MiB)`);

  // The flood's association: the backend's largest connection (the liveness probe opens another).
  for (let i = 0; i < 100 && backend.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 50));
  records.push(...backend.drain());
  const conn = records.reduce<BackendConnection | undefined>((a, b) => (!a || b.received.length > a.received.length ? b : a), undefined);
  if (!conn) return t.fail('the flood never reached the backend');
  t.same(conn.association, { callingAeTitle: 'FUZZSCU', calledAeTitle: 'PACS' }, 'admitted association');
  t.equal(conn.sent[0], 0x02, 'the backend accepted it (A-ASSOCIATE-AC)');
  const types = pduTypes(conn.received);
  t.equal(types[0], 0x01, 'A-ASSOCIATE-RQ first');
  const pdata = types.filter((type) => type === 0x04).length;
  const firstAbort = types.indexOf(0x07);
  t.ok(firstAbort < 0 || firstAbort > types.lastIndexOf(0x04), 'no A-ABORT before or among the P-DATA-TF');
  const echoPdu = flood.chunks[1].subarray(0, 6 + flood.chunks[1].readUInt32BE(2));
  const pdataBytes = pdata * echoPdu.length;
  // Before the flood waited for the AC the backend got no P-DATA at all: the gateway aborted on the first.
  t.ok(pdataBytes >= 4 * MiB, `the backend received ${pdata} C-ECHO-RQ PDUs (${(pdataBytes / MiB).toFixed(1)} MiB) on the established association`);
  const flooded = Buffer.concat(flood.chunks);
  t.ok(conn.received.length <= flooded.length && conn.received.equals(flooded.subarray(0, conn.received.length)), 'relayed byte for byte');
  t.ok(conn.sent.length > MiB, `the backend answered ${(conn.sent.length / MiB).toFixed(1)} MiB the requestor never read`);
  t.ok(backend.receivedBytes - received >= pdataBytes, 'counted by the backend');
});

t.test('a peer that refuses the association (or never answers) gets the A-ASSOCIATE-RQ and nothing after it', async (t) => {
  const flood = unreadEchoFlood();
  const rq = flood.chunks[0];
  const answers = [
    { name: 'A-ASSOCIATE-RJ', bytes: Buffer.from([0x03, 0, 0, 0, 0, 4, 0, 1, 1, 1]), outcome: 'complete' },
    { name: 'A-ABORT', bytes: Buffer.from([0x07, 0, 0, 0, 0, 4, 0, 0, 2, 0]), outcome: 'complete' },
    { name: 'silence', bytes: Buffer.alloc(0), outcome: 'quiet' },
  ];
  for (const answer of answers) {
    let got = Buffer.alloc(0);
    let closed!: () => void;
    const gone = new Promise<void>((r) => (closed = r));
    const server = net.createServer((s) => {
      s.on('error', () => undefined);
      s.on('close', () => closed());
      s.on('data', (d: Buffer) => {
        const before = got.length;
        got = Buffer.concat([got, d]);
        if (before < rq.length && got.length >= rq.length && answer.bytes.length > 0) s.write(answer.bytes);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.40.14.2', () => r()));
    const { port } = server.address() as net.AddressInfo;
    const result = await runClient(flood, { host: '127.40.14.2', port }, { ...DEFAULT_EXEC_OPTIONS, timeoutMs: 10_000 });
    await gone;
    await new Promise<void>((r) => server.close(() => r()));
    t.equal(result.outcome, answer.outcome, `${answer.name}: the exec ends (${result.outcome})`);
    t.ok(result.reply.equals(answer.bytes), `${answer.name}: what the peer said was read`);
    t.equal(result.sentBytes, rq.length, `${answer.name}: only the RQ was written`);
    t.ok(got.equals(rq), `${answer.name}: the peer received the RQ and not a byte more (${got.length} bytes)`);
  }
});

t.test('awaitAccept survives a reproducer round trip; a reproducer without it loads as before', async (t) => {
  const ex: Exchange = { protocol: 'dicom', side: 'client', label: 'x', chunks: [Buffer.from([1, 2])], neverRead: true, awaitAccept: true };
  const json = exchangeToJson(ex);
  t.equal(json.awaitAccept, true);
  t.equal(exchangeFromJson(JSON.parse(JSON.stringify(json)), 'test').awaitAccept, true);
  const { awaitAccept: _, ...old } = json;
  t.equal(exchangeFromJson(old, 'old').awaitAccept, false, 'absent: everything written at once, as when it was recorded');
  t.equal(exchangeToJson({ ...ex, awaitAccept: false }).awaitAccept, undefined, 'written only when set');
});
