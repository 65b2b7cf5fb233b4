/**
 * A finding against an IPv6 target replays: the reproducer records the target as `[::1]:PORT`, which
 * `fuzz replay` reads back (it wrote `::1:PORT`, which no HOST:PORT parser can split, so replay failed
 * with CLI_ARGUMENT; found in review).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/tmp.ts';
import { freeLoopbackPort } from '../protocols/fixtures/helpers.ts';
import { faultyCommand, runCli } from './fixtures/run.ts';

t.test('fuzz --target [::1]:PORT, then replay its reproducer', async (t) => {
  const port = await freeLoopbackPort();
  const out = tempDir(t);
  const spawn = faultyCommand('hl7', '::1', port);
  const res = await runCli(['fuzz', '--target', `[::1]:${port}`, '--protocol', 'hl7', '--spawn', spawn, '--duration', '6s', '--seed', '77', '--out', out, '--hang-timeout', '1000']);
  t.equal(res.code, 1, `exit 1: there are findings (${res.stderr.trim().slice(0, 300)})`);
  const file = JSON.parse(readFileSync(join(out, 'findings.json'), 'utf8'));
  const crash = file.findings.find((f: { oracle: string }) => f.oracle === 'exit');
  t.ok(crash, 'the receiver crash is a finding');
  const reproducer = JSON.parse(readFileSync(join(out, crash.reproducer), 'utf8'));
  t.equal(reproducer.target.address, `[::1]:${port}`, 'the target is written with brackets');
  const replay = await runCli(['fuzz', 'replay', join(out, crash.reproducer), '--spawn', spawn]);
  t.notMatch(replay.stderr, /CLI_ARGUMENT/, 'the recorded address is read back');
  t.match(`${replay.stdout}${replay.stderr}`, /reproduced/i, `replay reproduces it: ${replay.stdout.trim().slice(0, 200)}`);
});
