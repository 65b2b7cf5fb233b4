/**
 * The fuzzer against targets that answer with anything (vendors point it at their own products): a
 * flood, junk, a listener that stops accepting or goes dark, hostile reproducer files, terminal
 * escapes in what a target prints. Nothing a peer does may make the fuzzer hold memory without bound,
 * report what it did not observe, or write escape sequences to a terminal.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runCampaign } from '../../src/fuzz/campaign.ts';
import { Corpus, replySignature } from '../../src/fuzz/corpus.ts';
import { DEFAULT_EXEC_OPTIONS, type ExecResult, runClient } from '../../src/fuzz/executor.ts';
import { REPRODUCER_FORMAT, readReproducer } from '../../src/fuzz/findings.ts';
import { probe } from '../../src/fuzz/health.ts';
import { crashLocation, crashMessage } from '../../src/fuzz/oracles.ts';
import { AddressTarget } from '../../src/fuzz/target.ts';

const HOST = '127.54.0.1';
/** Control characters: a terminal escape must never reach the output raw. */
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

async function listen(t: Test, onConnection: (s: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  t.teardown(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  }));
  return (server.address() as net.AddressInfo).port;
}

/** Writes 64 KiB blocks as fast as the connection takes them, for as long as it is open. */
function flood(s: net.Socket, byte = 0x41): void {
  const block = Buffer.alloc(64 * 1024, byte);
  const pump = () => {
    while (!s.destroyed && s.write(block));
  };
  s.on('drain', pump);
  s.resume();
  pump();
}

function outDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wg-hostile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const echoRq = { protocol: 'dicom' as const, side: 'client' as const, label: 'test', chunks: [Buffer.from('0100000000', 'hex')] };

t.test('a flooding target: an exec keeps at most maxReplyBytes of its answer and ends there', async (t) => {
  const port = await listen(t, (s) => flood(s));
  const max = 1024 * 1024;
  // Timers far beyond a loaded host's pauses (on a host loaded with four test files, a 60 ms gap in
  // the flood ended the exec as 'quiet' at 0.5 MiB): only the cap may end this exec.
  const result = await runClient(echoRq, { host: HOST, port }, { ...DEFAULT_EXEC_OPTIONS, timeoutMs: 30_000, quietMs: 10_000, firstReplyMs: 10_000, maxReplyBytes: max });
  t.equal(result.outcome, 'overflow');
  t.equal(result.reply.length, max, `reply capped (got ${(result.reply.length / 1048576).toFixed(1)} MiB)`);
  t.ok(DEFAULT_EXEC_OPTIONS.maxReplyBytes <= 16 * 1024 * 1024, 'the default bound is a few MiB');
});

for (const protocol of ['dicom', 'hl7'] as const) {
  t.test(`${protocol}: a campaign against a target that floods every connection ends at its duration, without a finding`, async (t) => {
    const port = await listen(t, (s) => flood(s));
    const started = Date.now();
    const r = await runCampaign({
      target: new AddressTarget(protocol, { host: HOST, port }), protocol, seed: 3, durationMs: 1200, outDir: outDir(t),
      concurrency: 2, hangTimeoutMs: 300, exec: { timeoutMs: 300 }, minimize: false,
    });
    t.same(r.reproducers.map((f) => `${f.oracle}: ${f.detail}`), [], 'an answer, however large, is not a hang');
    t.ok(Date.now() - started < 4000, `ended in ${Date.now() - started} ms`);
    t.ok(r.execs > 4, `${r.execs} execs`);
  });
}

t.test('health probe: junk is an answer (alive), silence is not', async (t) => {
  const junk = await listen(t, (s) => s.once('data', () => s.write('HTTP/1.1 400 Bad Request\r\n')));
  const silent = await listen(t, (s) => s.resume());
  t.equal(await probe('dicom', { host: HOST, port: junk }, echoRq.chunks[0], 300), 'ok');
  t.equal(await probe('hl7', { host: HOST, port: junk }, Buffer.from('\x0bMSH|^~\\&|A\r\x1c\r'), 300), 'ok');
  t.equal(await probe('dicom', { host: HOST, port: silent }, echoRq.chunks[0], 300), 'no-answer');
});

t.test('a target that trickles junk and never closes is not reported as hung', async (t) => {
  const port = await listen(t, (s) => {
    s.resume();
    const timer = setInterval(() => s.write('A'), 100);
    s.on('close', () => clearInterval(timer));
  });
  const r = await runCampaign({
    target: new AddressTarget('dicom', { host: HOST, port }), protocol: 'dicom', seed: 4, durationMs: 1200, outDir: outDir(t),
    concurrency: 4, hangTimeoutMs: 300, exec: { timeoutMs: 400 }, minimize: false,
  });
  t.same(r.reproducers.map((f) => `${f.oracle}: ${f.detail}`), []);
});

/**
 * A port whose accept queue is full: a separate process listens with a backlog of 1 and blocks its event
 * loop, and four connections fill the queue; the kernel then drops new SYNs (no connection, no answer).
 */
async function fullAcceptQueue(t: Test): Promise<number> {
  const child = spawn(process.execPath, ['-e', `
    const s = require('net').createServer();
    s.listen({ host: '${HOST}', port: 0, backlog: 1 }, () => {
      process.stdout.write(s.address().port + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000);
    });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  const port = await new Promise<number>((r) => child.stdout!.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
  const fillers = Array.from({ length: 4 }, () => net.connect({ host: HOST, port }).on('error', () => undefined));
  t.teardown(() => { for (const f of fillers) f.destroy(); });
  await new Promise((r) => setTimeout(r, 200));
  return port;
}

t.test('a listener that stops accepting (blocked process, accept queue full): the hang finding says only what was seen', async (t) => {
  const port = await fullAcceptQueue(t);
  const r = await runCampaign({
    target: new AddressTarget('dicom', { host: HOST, port }), protocol: 'dicom', seed: 5, durationMs: 3000, outDir: outDir(t),
    concurrency: 2, hangTimeoutMs: 300, exec: { timeoutMs: 300 }, minimize: false,
  });
  t.equal(r.reproducers.length, 1);
  t.equal(r.reproducers[0]?.oracle, 'hang');
  t.notMatch(r.reproducers[0]?.detail, /accepted/, `not observed: ${r.reproducers[0]?.detail}`);
});

t.test('starting an address target whose accept queue is full ends at its time limit', async (t) => {
  // Found in review: the listener check had no connect timeout, and a dropped SYN is retried by the
  // kernel for a long time, so `wardgate fuzz --target` spent 35 s at start instead of failing in 5 s.
  const port = await fullAcceptQueue(t);
  const started = Date.now();
  // Something listens there: the error must not say that nothing does.
  await t.rejects(new AddressTarget('dicom', { host: HOST, port }).start(), { code: 'FUZZ_TARGET_FAILED', message: /did not accept a connection within 5000 ms \(no answer to the connection request/ });
  const ms = Date.now() - started;
  t.ok(ms < 7000, `gave up after ${ms} ms (limit 5,000 ms, one attempt at most 1 s over)`);
});

t.test('starting an address target where nothing listens says so', async (t) => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  await t.rejects(new AddressTarget('dicom', { host: HOST, port }).start(), { code: 'FUZZ_TARGET_FAILED', message: /nothing listens on .* \(connection refused\)/ });
});

t.test('an address target whose port goes dark: the finding does not claim the target is gone', async (t) => {
  const rj = Buffer.from('03000000000400010101', 'hex');
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.on('data', () => s.write(rj));
  });
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  const { port } = server.address() as net.AddressInfo;
  setTimeout(() => server.close(), 500);
  const r = await runCampaign({
    target: new AddressTarget('dicom', { host: HOST, port }), protocol: 'dicom', seed: 6, durationMs: 3000, outDir: outDir(t),
    concurrency: 2, hangTimeoutMs: 300, minimize: false,
  });
  t.equal(r.reproducers[0]?.location, 'dicom: target stopped accepting connections');
  t.notMatch(r.reproducers[0]?.detail, /gone/, `not observed: ${r.reproducers[0]?.detail}`);
});

/** An HL7 receiver that ACKs every frame until `breakAfterMs`, then takes connections and closes them unanswered. */
/**
 * An HL7 receiver whose service dies `breakAfterMs` after it answered the campaign's first liveness
 * probe (counted from the probe, not from the start: on a loaded host the first probe may come late,
 * and a target never seen alive is not judged for closing connections); with 0 it never answers.
 */
async function dyingReceiver(t: Test, breakAfterMs: number): Promise<number> {
  let aliveSeenAt: number | undefined;
  return listen(t, (s) => {
    if (breakAfterMs === 0 || (aliveSeenAt !== undefined && Date.now() - aliveSeenAt >= breakAfterMs)) return void s.destroy();
    s.on('data', (d: Buffer) => {
      if (!d.includes(0x1c)) return;
      s.write(Buffer.from('\x0bMSH|^~\\&|R|F|S|F|20260101||ACK|1|P|2.5\rMSA|AA|1\r\x1c\r', 'latin1'));
      if (d.includes('|PROBE')) aliveSeenAt ??= Date.now();
    });
  });
}

/** A short HL7 campaign against HOST:port (probe timeout 300 ms). */
function fuzzHl7(t: Test, port: number, durationMs: number) {
  return runCampaign({ target: new AddressTarget('hl7', { host: HOST, port }), protocol: 'hl7', seed: 8, durationMs, outDir: outDir(t), concurrency: 2, hangTimeoutMs: 300, minimize: false });
}

t.test('a listener whose service dies (connections taken, closed unanswered): reported as a hang of that kind', async (t) => {
  // Found in review: a probe connection closed without an answer was neither an exit nor a hang, so a
  // target whose accept loop outlived the service behind it was fuzzed on with no finding.
  const r = await fuzzHl7(t, await dyingReceiver(t, 300), 3000);
  t.equal(r.reproducers.length, 1, JSON.stringify(r.reproducers.map((x) => x.location)));
  t.equal(r.reproducers[0]?.oracle, 'hang');
  t.equal(r.reproducers[0]?.location, 'hl7: connections closed without an answer');
  t.match(r.reproducers[0]?.detail, /closed them without answering/);
});

t.test('a target that never answered the probe is not reported for closing it', async (t) => {
  // The oracle needs a baseline: a receiver that closes every connection from the start (e.g. it does
  // not accept the fuzzer's identity) is how that target is, not a break the execs caused.
  const r = await fuzzHl7(t, await dyingReceiver(t, 0), 1500);
  t.equal(r.reproducers.length, 0, JSON.stringify(r.reproducers.map((x) => x.location)));
});

t.test('HL7: the reply signature of a huge answer stays short', async (t) => {
  const reply = Buffer.from('MSA|AA|1\r'.repeat(400_000), 'latin1');
  const signature = replySignature('hl7', { reply, outcome: 'overflow' } as ExecResult);
  t.ok(signature.length < 100, `${signature.length} characters`);
});

t.test('crash text from a target\'s stderr carries no terminal escapes', async (t) => {
  t.notMatch(crashLocation('\x1b]0;pwned\x07\x1b[2J boom\n', 1, null), CONTROL);
  t.notMatch(crashMessage('Error: \x1b[31mred\x9b\n'), CONTROL);
  t.notMatch(crashLocation('Error\n    at f\x1b[2Jo (file:///a/b.ts:3:4)\n', 1, null), CONTROL);
  t.equal(crashLocation('Error\n    at copy (file:///a/b.ts:3:4)\n', 1, null), 'copy (b.ts:3)', 'plain text unchanged');
});

t.test('a hostile reproducer file: clear errors for wrong types, no escapes printed', async (t) => {
  const dir = outDir(t);
  const good = {
    format: REPRODUCER_FORMAT, id: 'exit-dicom-0a1b2c3d', oracle: 'exit', protocol: 'dicom', location: 'f (x.ts:1)', detail: 'd', seed: 1, exec: 0,
    target: { kind: 'address', protocol: 'dicom', address: '127.54.0.9:104' }, minimized: false,
    exchanges: [{ protocol: 'dicom', side: 'client', label: '', chunks: ['01'] }],
  };
  const file = (name: string, data: unknown) => {
    const f = join(dir, `${name}.json`);
    writeFileSync(f, JSON.stringify(data));
    return f;
  };
  t.equal(readReproducer(file('good', good)).id, good.id);
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['id-escape', { id: '\x1b[31mred' }, /field "id"/],
    ['oracle', { oracle: 'rce' }, /field "oracle"/],
    ['protocol', { protocol: 'smtp' }, /field "protocol"/],
    ['seed', { seed: 'abc' }, /field "seed"/],
    ['location', { location: 7 }, /field "location"/],
    ['address', { target: { kind: 'address', protocol: 'dicom', address: 12345 } }, /field "target.address"/],
    ['kind', { target: { kind: 'shell', protocol: 'dicom' } }, /field "target.kind"/],
  ];
  for (const [name, change, message] of cases) {
    t.throws(() => readReproducer(file(name, { ...good, ...change })), { code: 'FUZZ_REPRODUCER_INVALID', message }, name);
  }
  const escaped = readReproducer(file('escapes', { ...good, location: 'x\x1b]0;pwned\x07', detail: '\x1b[2J' }));
  t.notMatch(escaped.location, CONTROL);
  t.notMatch(escaped.detail, CONTROL);
});

t.test('a target answering with ever-new codes: the corpus remembers a bounded number of signatures', async (t) => {
  // Found in review: every distinct answer signature (random MSA codes, echoed junk) was kept for the
  // whole campaign. The oldest are forgotten now; one seen again re-enters the corpus.
  const corpus = new Corpus(4, 3);
  const ex = { protocol: 'hl7', side: 'client', label: 'x', chunks: [] } as never;
  t.ok(corpus.offer(ex, 'a') && corpus.offer(ex, 'b') && corpus.offer(ex, 'c'));
  t.notOk(corpus.offer(ex, 'c'), 'a remembered signature is not new');
  t.ok(corpus.offer(ex, 'd'), 'a fourth one is new, and the oldest (a) is forgotten');
  t.equal((corpus as unknown as { seen: Set<string> }).seen.size, 3, 'never more than maxSignatures');
  t.ok(corpus.offer(ex, 'a'), 'a forgotten signature counts as new again');
  t.notOk(corpus.offer(ex, 'd'));
});
