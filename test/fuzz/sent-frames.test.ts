/**
 * The HL7 relayed-answer oracle's index of sent frames (src/fuzz/sent-frames.ts, the backend's
 * sentFrame): frames counted per stream and forgotten with the stream, open connections included;
 * and, end to end, a relay that alters the ACKs it passes back is still caught by it.
 */
import net from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { InstrumentedBackend } from '../../src/fuzz/backend.ts';
import { runCampaign } from '../../src/fuzz/campaign.ts';
import { checkRelayedFrames } from '../../src/fuzz/oracles.ts';
import { RouteTarget } from '../../src/fuzz/route-target.ts';
import { SentFrames } from '../../src/fuzz/sent-frames.ts';
import { prepareTarget } from '../../src/fuzz/setup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { routeFixture } from './fixtures/routes.ts';

const mllp = (...payloads: string[]) => Buffer.from(payloads.map((p) => `\x0b${p}\x1c\r`).join(''), 'latin1');
const payload = (p: string) => Buffer.from(p, 'latin1');

t.test('frames are counted per stream and leave with the oldest stream', async (t) => {
  const frames = new SentFrames(2);
  frames.add(mllp('MSH|A', 'MSH|SHARED'));
  frames.add(mllp('MSH|B', 'MSH|SHARED'));
  t.ok(frames.has(payload('MSH|A')) && frames.has(payload('MSH|B')) && frames.has(payload('MSH|SHARED')));
  t.notOk(frames.has(payload('MSH|C')), 'a frame nobody sent');
  t.notOk(frames.has(payload('MSH|')), 'a prefix of a sent frame is not that frame');
  frames.add(mllp('MSH|C'));
  t.equal(frames.size, 2);
  t.notOk(frames.has(payload('MSH|A')), 'the oldest stream\'s own frame is gone');
  t.ok(frames.has(payload('MSH|SHARED')), 'a frame the second stream also sent stays');
  frames.add(mllp('MSH|D'));
  t.notOk(frames.has(payload('MSH|SHARED')), 'gone once no kept stream sent it');
  const long = `MSH|${'x'.repeat(5000)}`;
  frames.add(mllp(long));
  t.ok(frames.has(payload(long)) && !frames.has(payload(`${long}y`)), 'long frames are keyed by length and digest');
  t.equal(checkRelayedFrames(mllp('MSH|D', long), (p) => frames.has(p)), undefined, 'every received frame was sent');
  t.equal(checkRelayedFrames(mllp('MSH|D', 'MSH|E'), (p) => frames.has(p))?.location, 'hl7: relayed answer altered');
});

t.test('the backend knows the frames it wrote, on open connections and after they close', async (t) => {
  const backend = new InstrumentedBackend({ protocol: 'hl7', host: '127.53.2.1' });
  const at = await backend.start();
  t.teardown(() => backend.stop());
  const socket = net.connect(at.port, at.host);
  const got: Buffer[] = [];
  socket.on('data', (d: Buffer) => got.push(d));
  socket.write(mllp('MSH|^~\\&|FUZZAPP|FUZZFAC|RCV|RCVFAC|20260101||ADT^A01|K1|P|2.5\rPID|1||42\r'));
  for (let i = 0; i < 100 && !Buffer.concat(got).includes(0x1c); i++) await new Promise((r) => setTimeout(r, 20));
  const ack = Buffer.concat(got).subarray(1, Buffer.concat(got).indexOf(0x1c));
  t.match(ack.toString('latin1'), /MSA\|AA\|K1/, 'the backend acknowledged');
  t.ok(backend.sentFrame(ack), 'known while the connection is open');
  socket.destroy();
  for (let i = 0; i < 100 && backend.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(backend.sentFrame(ack), 'and after it closed');
  t.notOk(backend.sentFrame(Buffer.from(ack.toString('latin1').replace('MSA|AA', 'MSA|AE'), 'latin1')), 'an altered ACK is not');
});

t.test('a relay that alters the ACKs it passes back is a relayed-answer finding', async (t) => {
  const f = await routeFixture(t, '127.53.2.2');
  const p = prepareTarget({ route: 'hl7-out', config: f.config, cert: f.cert, key: f.key, ca: f.ca, side: 'server', inProcess: true, thread: true, plaintext: true });
  const target = new RouteTarget({ ...(p.target as RouteTarget)['o'], workerEntry: join(import.meta.dirname, 'fixtures', 'altering-route-worker.ts') });
  await target.start();
  t.teardown(() => target.close());
  const r = await runCampaign({ target, protocol: 'hl7', seed: 11, durationMs: 20_000, outDir: tempDir(t), sides: ['server'], dicom: p.dicom, hl7: p.hl7, concurrency: 8, minimize: false, until: (found) => found.some((x) => x.location === 'hl7: relayed answer altered') });
  const altered = r.reproducers.find((x) => x.location === 'hl7: relayed answer altered');
  t.ok(altered, `found (${r.execs} execs): ${altered?.detail ?? r.reproducers.map((x) => x.location).join(', ')}`);
});
