/**
 * The fuzzer finds every planted bug of the faulty targets (test/fuzz/fixtures), each within 60 s:
 * the DICOM SCP's crash on an over-long AE title and hang on a zero-length PDV, the HL7 receiver's
 * crash on a malformed MSH. The targets are separate processes, so a crash is a real exit. Each
 * finding gets a minimized reproducer that `wardgate fuzz replay` reproduces.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runCampaign } from '../../src/fuzz/campaign.ts';
import { type Reproducer, readReproducer } from '../../src/fuzz/findings.ts';
import { SpawnTarget } from '../../src/fuzz/target.ts';
import { tempDir } from '../helpers/tmp.ts';
import { freeLoopbackPort } from '../protocols/fixtures/helpers.ts';
import { REPO, faultyCommand, runCli } from './fixtures/run.ts';

const PLANTED = {
  dicom: [
    { name: 'crash on an over-long AE title', match: (r: Reproducer) => r.oracle === 'exit' && r.location.startsWith('copyAeTitle ') },
    { name: 'hang on a zero-length PDV', match: (r: Reproducer) => r.oracle === 'hang' },
  ],
  hl7: [
    { name: 'crash on a malformed MSH', match: (r: Reproducer) => r.oracle === 'exit' && r.location.startsWith('readTrigger ') },
  ],
} as const;

for (const [protocol, host] of [['dicom', '127.40.0.1'], ['hl7', '127.40.0.2']] as const) {
  t.test(`${protocol}: every planted bug found within 60 s, minimized, replayable`, async (t) => {
    const port = await freeLoopbackPort();
    const command = faultyCommand(protocol, host, port);
    const target = new SpawnTarget(protocol, { host, port }, command, REPO);
    await target.start();
    t.teardown(() => target.stop());
    const out = tempDir(t);
    const planted = PLANTED[protocol];
    const started = Date.now();
    const result = await runCampaign({
      target, protocol, seed: 20261126, durationMs: 60_000, outDir: out, hangTimeoutMs: 1000,
      minimize: { maxTests: 40, maxMs: 10_000 },
      until: (found) => planted.every((p) => found.some(p.match)),
    });
    t.comment(`${protocol}: ${result.execs} execs in ${(result.elapsedMs / 1000).toFixed(1)} s; found ${JSON.stringify(result.timeToFinding)}`);
    const file = JSON.parse(readFileSync(join(out, 'findings.json'), 'utf8'));
    t.same(Object.keys(file).sort(), ['execs', 'execsPerSecond', 'findings'], 'findings.json has exactly execs, execsPerSecond, findings');
    for (const f of file.findings) t.same(Object.keys(f).sort(), ['count', 'id', 'oracle', 'protocol', 'reproducer'], `finding ${f.id} has exactly id, oracle, protocol, reproducer, count`);
    // Replays start their own target process on the same port.
    await target.stop();
    for (const p of planted) {
      const hit = result.reproducers.find(p.match);
      if (!t.ok(hit, `found: ${p.name}`) || !hit) continue;
      const ms = result.timeToFinding[hit.id];
      t.ok(ms < 60_000, `${p.name}: found after ${(ms / 1000).toFixed(1)} s (< 60 s)`);
      const summary = file.findings.find((f: { id: string }) => f.id === hit.id);
      t.ok(summary, `${hit.id} listed in findings.json`);
      const reproducer = readReproducer(join(out, summary.reproducer));
      t.ok(reproducer.minimized, `${p.name}: reproducer minimized to ${reproducer.exchanges[0].chunks.reduce((n, c) => n + c.length, 0)} bytes`);
      // A reproducer names the command its target ran, but the CLI never runs a command from a file
      // (reproducers are shared): it refuses and shows the command; the user repeats it with --spawn.
      const refused = await runCli(['fuzz', 'replay', join(out, summary.reproducer), '--hang-timeout', '1000']);
      t.equal(refused.code, 2, `${p.name}: no command taken from the file: ${refused.stderr.trim()}`);
      t.match(refused.stderr, /does not run commands taken from a reproducer/);
      t.ok(refused.stderr.includes(JSON.stringify(command)), 'the recorded command is shown for the user to check');
      // Replay through the CLI against a fresh target process.
      const replay = await runCli(['fuzz', 'replay', join(out, summary.reproducer), '--spawn', command, '--hang-timeout', '1000']);
      t.equal(replay.code, 1, `${p.name}: wardgate fuzz replay reproduces it: ${replay.stdout.trim()}${replay.stderr.trim()}`);
    }
    t.ok(Date.now() - started < 120_000, 'whole run including minimization stays bounded');
  });
}
