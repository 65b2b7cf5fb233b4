/**
 * RouteTarget's worker-thread mode (in-process, the gateway on its own event loop, bench --thread):
 * the real gateway relays there with every oracle of the in-process mode, and an exception the
 * gateway does not catch is an exit finding located by its stack, as with a gateway process. The
 * memory per relayed byte is read from the thread's own heap.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runCampaign } from '../../src/fuzz/campaign.ts';
import { prepareTarget } from '../../src/fuzz/setup.ts';
import { RouteTarget } from '../../src/fuzz/route-target.ts';
import { DEFAULT_EXEC_OPTIONS, runClient } from '../../src/fuzz/executor.ts';
import { memoryVerdict, runBulk } from '../../src/fuzz/bulk-exec.ts';
import { tempDir } from '../helpers/tmp.ts';
import { routeFixture } from './fixtures/routes.ts';
import { runCli } from './fixtures/run.ts';

const frame = (app: string) => Buffer.from(`\x0bMSH|^~\\&|${app}|FUZZFAC|RECEIVER|RECFAC|20260101120000||ADT^A01|T1|P|2.5\rPID|1||42\r\x1c\r`, 'latin1');

t.test('the real gateway on a worker thread relays, refuses by policy, and stops cleanly', async (t) => {
  const f = await routeFixture(t, '127.53.0.1');
  const p = prepareTarget({ route: 'hl7-out', config: f.config, cert: f.cert, key: f.key, ca: f.ca, side: 'client', inProcess: true, thread: true });
  const target = p.target as RouteTarget;
  await target.start();
  t.teardown(() => target.close());
  const admitted = await runClient({ protocol: 'hl7', side: 'client', label: 'ok', chunks: [frame('FUZZAPP')] }, target.endpoint());
  t.match(admitted.reply.toString('latin1'), /MSA\|AA/, 'an admitted message is relayed to the backend and its ACK back');
  const refused = await runClient({ protocol: 'hl7', side: 'client', label: 'denied', chunks: [frame('OTHERAPP')] }, target.endpoint());
  t.notMatch(refused.reply.toString('latin1'), /MSA\|AA/, 'a message the rules refuse is not acknowledged as accepted');
  for (let i = 0; i < 100 && target.backend.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 20));
  const records = target.backend.drain();
  t.equal(records.length, 1, 'only the admitted message opened an upstream connection');
  t.same(records[0]?.messages.map((m) => m.toString('latin1').split('|')[2]), ['FUZZAPP']);
  t.equal(target.exited(), undefined, 'no crash');
  const mb = await target.retainedMb();
  t.ok(mb !== undefined && mb > 1 && mb < 500, `the gateway thread reports its heap after GC: ${mb?.toFixed(1)} MiB`);
  await target.restart();
  const again = await runClient({ protocol: 'hl7', side: 'client', label: 'ok', chunks: [frame('FUZZAPP')] }, target.endpoint());
  t.match(again.reply.toString('latin1'), /MSA\|AA/, 'a restarted worker thread listens again');
  t.equal(target.exited(), undefined, 'a restart asked for is no crash');
});

t.test('an uncaught exception on the gateway thread is an exit finding, located by its stack', async (t) => {
  const f = await routeFixture(t, '127.53.0.2');
  const p = prepareTarget({ route: 'hl7-out', config: f.config, cert: f.cert, key: f.key, ca: f.ca, side: 'client', inProcess: true, thread: true });
  // The prepared target's options (config and PEMs read from the fixture's files), with the crashing stand-in.
  const target = new RouteTarget({ ...(p.target as RouteTarget)['o'], workerEntry: join(import.meta.dirname, 'fixtures', 'crashing-route-worker.ts') });
  await target.start();
  t.teardown(() => target.close());
  const r = await runCampaign({ target, protocol: 'hl7', seed: 7, durationMs: 20_000, outDir: tempDir(t), dicom: p.dicom, hl7: p.hl7, concurrency: 8, minimize: false, until: (found) => found.some((x) => x.oracle === 'exit') });
  const exit = r.reproducers.find((x) => x.oracle === 'exit');
  t.ok(exit, `an exit finding (${r.execs} execs)`);
  t.match(exit?.location, /^plantedWorkerCrash \(crashing-route-worker\.ts:\d+\)$/, 'located at the throwing frame');
  t.match(exit?.detail, /RangeError: planted crash in the gateway worker thread/);
  t.match(exit?.exchanges[0].chunks.map((c) => Buffer.from(c).toString('latin1')).join(''), /\|ORM\^/, 'the reproducer carries an ORM message');
});

t.test('a gateway thread that keeps what it relays is a memory finding, measured on the thread\'s own heap', async (t) => {
  // Before, a thread had no memory reading at all: bulk execs ran unmeasured and this went unseen.
  const f = await routeFixture(t, '127.53.0.4');
  const p = prepareTarget({ route: 'hl7-out', config: f.config, cert: f.cert, key: f.key, ca: f.ca, side: 'client', inProcess: true, thread: true });
  const target = new RouteTarget({ ...(p.target as RouteTarget)['o'], workerEntry: join(import.meta.dirname, 'fixtures', 'hoarding-route-worker.ts') });
  await target.start();
  t.teardown(() => target.close());
  const chunk = Buffer.alloc(256 * 1024, 0x41);
  const flood = { protocol: 'hl7' as const, side: 'client' as const, label: 'flood', chunks: Array.from({ length: 48 }, () => chunk) };
  const result = await runBulk(flood, target, DEFAULT_EXEC_OPTIONS);
  t.ok(result.retained, 'memory was sampled around the bulk exec');
  const verdict = memoryVerdict('hl7', flood, result);
  t.equal(verdict?.oracle, 'memory', `held ${result.retained ? (result.retained.open - result.retained.before).toFixed(1) : '?'} MiB of ${(result.acceptedBytes / 1048576).toFixed(1)} MiB taken`);
});

t.test('wardgate fuzz --route --gateway-thread: the real gateway on a worker thread, fuzzed from the command line', async (t) => {
  const f = await routeFixture(t, '127.53.0.3');
  const out = tempDir(t);
  const res = await runCli(['fuzz', '--route', 'hl7-out', '--config', f.config, '--cert', f.cert, '--key', f.key, '--ca', f.ca, '--gateway-thread', '--duration', '4s', '--seed', '11', '--out', out]);
  t.equal(res.code, 0, `no finding in the gateway: ${res.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  t.match(res.stderr, /gateway on a worker thread: the resident-memory bound \(--max-rss\) is off/, 'says which oracle it runs without');
  const file = JSON.parse(readFileSync(join(out, 'findings.json'), 'utf8'));
  t.ok(file.execs > 100, `${file.execs} execs at ${file.execsPerSecond}/s`);
  t.same(file.findings, []);
});
