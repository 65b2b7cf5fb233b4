/**
 * The policy oracle judges what reached the backend against the streams the fuzzer sent recently. A
 * connection the target holds open long after its exec ended (a loaded gateway, a timer) and a
 * replay's connection that outlives the replay's own check must still find the stream they carry: a
 * stream missing from that window reads as "relayed bytes altered" although nothing was changed
 * (CI saw one such unconfirmed finding on the dicom-out route, under load).
 *
 * The target here is a transparent relay in front of the real instrumented backend: it forwards every
 * byte unchanged both ways and closes the backend side HOLD_MS after the fuzzer's side closed, longer
 * than the window keeps a stream (policyWindowMs) and than a replay waits for its connections.
 */
import net from 'node:net';
import t, { type Test } from 'tap';
import { InstrumentedBackend } from '../../src/fuzz/backend.ts';
import { Campaign, runCampaign } from '../../src/fuzz/campaign.ts';
import type { FuzzTarget } from '../../src/fuzz/target.ts';
import { SOP_CLASS, TRANSFER_SYNTAX, encodeAssociateRq } from '../../src/protocols/dicom/index.ts';
import { tempDir } from '../helpers/tmp.ts';

const HOST = '127.63.0.1';
const HOLD_MS = 2000;
const WINDOW_MS = 1000;

/** A relay that changes no byte and lets the backend side close HOLD_MS after the client side. */
async function slowClosingRelay(t: Test, upstream: { host: string; port: number }): Promise<number> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  };
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    track(client);
    const up = net.connect({ ...upstream, allowHalfOpen: true });
    track(up);
    client.on('data', (d) => up.write(d));
    up.on('data', (d) => { if (!client.destroyed) client.write(d); });
    client.once('close', () => setTimeout(() => up.end(), HOLD_MS).unref());
    client.once('end', () => client.end());
    up.once('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  t.teardown(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  }));
  return (server.address() as net.AddressInfo).port;
}

async function target(t: Test): Promise<FuzzTarget> {
  const backend = new InstrumentedBackend({ protocol: 'dicom', host: HOST });
  const at = await backend.start();
  t.teardown(() => backend.stop());
  const port = await slowClosingRelay(t, at);
  return {
    protocol: 'dicom', backend,
    endpoint: () => ({ host: HOST, port }),
    start: async () => undefined, stop: async () => undefined, restart: async () => false,
    exited: () => undefined, rssMb: () => undefined,
    describe: () => ({ kind: 'address', protocol: 'dicom', address: `${HOST}:${port}` }),
  };
}

t.test('a connection closed long after its exec ended is judged against that exec\'s stream', async (t) => {
  const r = await runCampaign({
    target: await target(t), protocol: 'dicom', seed: 11, durationMs: HOLD_MS + 2500, outDir: tempDir(t),
    concurrency: 4, minimize: false, policyWindowMs: WINDOW_MS,
  });
  t.ok(r.execs > 20, `${r.execs} execs`);
  t.same(r.reproducers.map((f) => `${f.oracle} at ${f.location}: ${f.detail}`), [], 'nothing relayed unchanged is a finding');
});

t.test('a replay\'s connection that outlives the replay is judged against the replayed stream', async (t) => {
  const campaign = new Campaign({
    target: await target(t), protocol: 'dicom', seed: 12, durationMs: HOLD_MS + 1500, outDir: tempDir(t),
    concurrency: 2, minimize: false, policyWindowMs: WINDOW_MS,
  });
  // An association no generated exec sends (its own calling AE title), so only the replay carries it.
  const rq = encodeAssociateRq({
    calledAeTitle: 'ANY-SCP', callingAeTitle: 'REPLAYED-ONLY',
    presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }],
    userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.77.3' },
  });
  const verdict = await campaign.replayOnce({ client: { protocol: 'dicom', side: 'client', label: 'replayed', chunks: [rq] } });
  t.equal(verdict, undefined, 'the replay itself sees nothing wrong (its connection is still open)');
  const r = await campaign.run();
  t.same(r.reproducers.map((f) => `${f.oracle} at ${f.location}: ${f.detail}`), [], 'the replay\'s late record is no finding');
});
