/**
 * bench/fuzz: fuzzer throughput and time to bugs, all measured in one run.
 * - execs/s (one exec = one new TCP connection carrying one generated exchange) against a gateway
 *   route in this process: plaintext side (outbound routes) and TLS side (inbound routes), DICOM and
 *   HL7, every oracle on (backend policy checks as records close, liveness probe every 250 ms), and
 *   the plaintext route: the outbound routes in the TLS-free harness (`--plaintext`), no handshake at all;
 * - the same fuzzer straight against the instrumented backend, without the gateway: the ratio shows
 *   how much of the cost is the gateway's;
 * - time to each planted bug of the faulty targets, over several seeds (minimization off, so the
 *   clock stops at detection).
 *
 *   node --import tsx bench/fuzz/bench.ts [--seconds 10] [--seeds 3] [--concurrency 32] [--child | --thread]
 *     [--only dicom-direct,dicom-out,dicom-in,hl7-direct,hl7-out,hl7-in,dicom-plain,hl7-plain]   (rows to run; --seeds 0: no planted bugs)
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCampaign } from '../../src/fuzz/campaign.ts';
import { type Reproducer } from '../../src/fuzz/findings.ts';
import { prepareTarget } from '../../src/fuzz/setup.ts';
import { AddressTarget, SpawnTarget } from '../../src/fuzz/target.ts';
import { freeLoopbackPort } from '../../test/protocols/fixtures/helpers.ts';
import { REPO, faultyCommand } from '../../test/fuzz/fixtures/run.ts';
import { routeFixture } from '../../test/fuzz/fixtures/routes.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, seeds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '32' }, child: { type: 'boolean', default: false }, thread: { type: 'boolean', default: false }, only: { type: 'string' } } });
const ONLY = values.only ? new Set(values.only.split(',')) : undefined;
const want = (row: string) => !ONLY || ONLY.has(row);
const SECONDS = Number(values.seconds);
const SEEDS = Number(values.seeds);
const CONCURRENCY = Number(values.concurrency);
const teardowns: Array<() => unknown> = [];
const work = mkdtempSync(join(tmpdir(), 'wardgate-bench-fuzz-'));
teardowns.push(() => rmSync(work, { recursive: true, force: true }));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const fixture = await routeFixture({ teardown: (fn) => teardowns.push(fn) });

interface Row { what: string; execs: number; perSecond: number; findings: number; cpuUsPerExec?: { self: number; child: number; mainThread: number } }
const rows: Row[] = [];

/** utime + stime of a process (or, with `/task/TID`, one thread) in microseconds (/proc stat fields 14 and 15, in clock ticks of 10 ms). */
function procCpuUs(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10_000;
  } catch {
    return 0;
  }
}

/** CPU of this process (all threads) and of its direct children (the gateway in child mode), in microseconds. */
function cpuNow(): { self: number; mainThread: number; children: Map<number, number> } {
  const u = process.cpuUsage();
  // The main thread alone (the fuzzer and its backend); the rest of `self` is other threads: the
  // gateway's worker thread with --thread, V8's GC helpers and libuv's pool.
  const mainThread = procCpuUs(`${process.pid}/task/${process.pid}`);
  const children = new Map<number, number>();
  for (const task of readdirSync(`/proc/${process.pid}/task`)) {
    let list = '';
    try { list = readFileSync(`/proc/${process.pid}/task/${task}/children`, 'utf8'); } catch { /* no children file */ }
    for (const pid of list.split(' ').filter(Boolean).map(Number)) children.set(pid, procCpuUs(pid));
  }
  return { self: u.user + u.system, mainThread, children };
}

/** CPU per exec over a campaign: this process and its children (children started during it count from 0). */
async function measured(run: () => Promise<{ execs: number }>): Promise<{ self: number; child: number; mainThread: number }> {
  const a = cpuNow();
  const r = await run();
  const b = cpuNow();
  let child = 0;
  for (const [pid, us] of b.children) child += us - (a.children.get(pid) ?? 0);
  const n = Math.max(1, r.execs);
  return { self: Math.round((b.self - a.self) / n), child: Math.round(child / n), mainThread: Math.round((b.mainThread - a.mainThread) / n) };
}

async function routeRate(route: string, label: string, plaintext = false): Promise<Row> {
  const p = prepareTarget({ route, config: fixture.config, cert: fixture.cert, key: fixture.key, ca: fixture.ca, side: 'client', inProcess: !values.child, thread: values.thread, plaintext });
  await p.target.start();
  try {
    let r!: Awaited<ReturnType<typeof runCampaign>>;
    const cpu = await measured(async () => (r = await runCampaign({ target: p.target, protocol: p.protocol, seed: 1, durationMs: SECONDS * 1000, outDir: join(work, route), sides: p.sides, policy: p.policy, dicom: p.dicom, hl7: p.hl7, concurrency: CONCURRENCY, minimize: false })));
    return { what: label, execs: r.execs, perSecond: r.execsPerSecond, findings: r.findings.length, cpuUsPerExec: cpu };
  } finally {
    await p.target.close!();
  }
}

/** The same generator and oracles against the bare instrumented backend (no gateway in between). */
async function directRate(protocol: 'dicom' | 'hl7'): Promise<Row> {
  const p = prepareTarget({ route: protocol === 'dicom' ? 'dicom-out' : 'hl7-out', config: fixture.config, cert: fixture.cert, key: fixture.key, ca: fixture.ca, side: 'client', inProcess: true });
  const { InstrumentedBackend } = await import('../../src/fuzz/backend.ts');
  const backend = new InstrumentedBackend({ protocol, host: '127.0.0.1' });
  const at = await backend.start();
  try {
    // The backend's records are checked as in the route rows (bytes altered?), and so drained: left
    // unread they kept every connection's bytes, floods included, for the whole row (400 MiB in 8 s).
    const target = Object.assign(new AddressTarget(protocol, { host: at.host, port: at.port }), { backend });
    let r!: Awaited<ReturnType<typeof runCampaign>>;
    const cpu = await measured(async () => (r = await runCampaign({ target, protocol, seed: 1, durationMs: SECONDS * 1000, outDir: join(work, `direct-${protocol}`), dicom: p.dicom, hl7: p.hl7, concurrency: CONCURRENCY, minimize: false })));
    return { what: `${protocol} direct to the backend, plaintext (no gateway)`, execs: r.execs, perSecond: r.execsPerSecond, findings: r.findings.length, cpuUsPerExec: cpu };
  } finally {
    await backend.stop();
  }
}

const mode = values.child ? 'child-process' : values.thread ? 'in-process, gateway on a worker thread' : 'in-process';
const none: Row = { what: 'not run', execs: 0, perSecond: 0, findings: 0 };
rows.push(want('dicom-direct') ? await directRate('dicom') : none);
rows.push(want('dicom-out') ? await routeRate('dicom-out', `dicom outbound route, plaintext side, ${mode}`) : none);
rows.push(want('dicom-in') ? await routeRate('dicom-in', `dicom inbound route, TLS side (mTLS), ${mode}`) : none);
rows.push(want('hl7-direct') ? await directRate('hl7') : none);
rows.push(want('hl7-out') ? await routeRate('hl7-out', `hl7 outbound route, plaintext side, ${mode}`) : none);
rows.push(want('hl7-in') ? await routeRate('hl7-in', `hl7 inbound route, TLS side (mTLS), ${mode}`) : none);
// The plaintext route: the outbound routes in the TLS-free harness (`wardgate fuzz --plaintext`), where
// the gateway reaches the backend without a TLS handshake per exec.
rows.push(want('dicom-plain') ? await routeRate('dicom-out', `dicom outbound route, TLS-free harness (--plaintext), ${mode}`, true) : none);
rows.push(want('hl7-plain') ? await routeRate('hl7-out', `hl7 outbound route, TLS-free harness (--plaintext), ${mode}`, true) : none);

console.log(`\nbench/fuzz: ${SECONDS} s per row, concurrency ${CONCURRENCY}, load average ${(await import('node:os')).loadavg()[0].toFixed(1)} on ${(await import('node:os')).cpus().length} cores`);
console.log('| target | execs | execs/s | CPU µs/exec | of which main thread | gateway child | findings |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  if (r === none) continue;
  const c = r.cpuUsPerExec!;
  console.log(`| ${r.what} | ${r.execs} | ${r.perSecond} | ${c.self + c.child} | ${c.mainThread} | ${values.child ? c.child : '-'} | ${r.findings} |`);
}
const ratio = (a: number, b: number) => (rows[b].perSecond > 0 ? (rows[a].perSecond / rows[b].perSecond).toFixed(2) : 'n/a');
console.log(`ratio through gateway / direct: dicom plaintext ${ratio(1, 0)}, dicom TLS ${ratio(2, 0)}, hl7 plaintext ${ratio(4, 3)}, hl7 TLS ${ratio(5, 3)}`);

// Time to each planted bug.
const PLANTED = [
  { protocol: 'dicom' as const, name: 'DICOM SCP: crash on an over-long AE title', match: (r: Reproducer) => r.oracle === 'exit' && r.location.startsWith('copyAeTitle ') },
  { protocol: 'dicom' as const, name: 'DICOM SCP: hang on a zero-length PDV', match: (r: Reproducer) => r.oracle === 'hang' },
  { protocol: 'hl7' as const, name: 'HL7 receiver: crash on a malformed MSH', match: (r: Reproducer) => r.oracle === 'exit' && r.location.startsWith('readTrigger ') },
];
const times = new Map<string, number[]>(PLANTED.map((p) => [p.name, []]));
for (let seed = 1; seed <= SEEDS; seed++) {
  for (const protocol of ['dicom', 'hl7'] as const) {
    const host = protocol === 'dicom' ? '127.40.1.1' : '127.40.1.2';
    const port = await freeLoopbackPort();
    const target = new SpawnTarget(protocol, { host, port }, faultyCommand(protocol, host, port), REPO);
    await target.start();
    const mine = PLANTED.filter((p) => p.protocol === protocol);
    try {
      const r = await runCampaign({ target, protocol, seed: 1000 + seed, durationMs: 60_000, outDir: join(work, `planted-${protocol}-${seed}`), hangTimeoutMs: 1000, minimize: false, until: (found) => mine.every((p) => found.some(p.match)) });
      for (const p of mine) {
        const hit = r.reproducers.find(p.match);
        times.get(p.name)!.push(hit ? r.timeToFinding[hit.id] : Number.POSITIVE_INFINITY);
      }
    } finally {
      await target.stop();
    }
  }
}
if (SEEDS > 0) console.log(`\ntime to each planted bug (${SEEDS} seeds, seconds; limit 60 s)`);
if (SEEDS > 0) console.log('| planted bug | median | max | per seed |');
if (SEEDS > 0) console.log('|---|---:|---:|---|');
if (SEEDS > 0) for (const [name, ts] of times) console.log(`| ${name} | ${(median(ts) / 1000).toFixed(1)} | ${(Math.max(...ts) / 1000).toFixed(1)} | ${ts.map((x) => (x / 1000).toFixed(1)).join(', ')} |`);

for (const fn of teardowns.reverse()) await fn();
process.exit(0);
