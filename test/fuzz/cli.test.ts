/**
 * `wardgate fuzz` on the command line: refuses targets outside loopback without --lab, rejects bad
 * options with exit 2, fuzzes a spawned target and writes findings.json, stays quiet without a TTY.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/tmp.ts';
import { freeLoopbackPort } from '../protocols/fixtures/helpers.ts';
import { faultyCommand, runCli } from './fixtures/run.ts';

t.test('a target outside loopback needs --lab', async (t) => {
  // Nothing is contacted: the scope check runs before any connection.
  const targets = ['10.20.0.5:104', '192.168.1.10:2575', 'pacs.klinikum.internal:104'];
  const results = await Promise.all(targets.map((target) => runCli(['fuzz', '--target', target, '--protocol', 'dicom', '--duration', '1s'])));
  for (const [i, target] of targets.entries()) {
    const res = results[i];
    t.equal(res.code, 1, `${target}: refused`);
    t.match(res.stderr, /error \[FUZZ_TARGET_REFUSED\]: .*not on loopback.*--lab/, `${target}: one clear line naming --lab`);
  }
});

t.test('bad options exit 2 with one line', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['fuzz', '--duration', '1s'], /give --route NAME --config FILE, or --target/],
    [['fuzz', '--target', '127.0.0.1:9', '--duration', '1s'], /--protocol dicom or hl7/],
    [['fuzz', '--target', '127.0.0.1:9', '--protocol', 'dicom', '--duration', 'soon'], /--duration "soon"/],
    [['fuzz', '--target', '127.0.0.1:9', '--protocol', 'dicom', '--seed', '-4'], /--seed "-4"/],
    [['fuzz', '--route', 'x'], /--route needs --config/],
    [['fuzz', '--target', '127.0.0.1:9', '--protocol', 'smtp'], /argument 'smtp' is invalid/],
    [['fuzz', '--target', '127.0.0.1:9', '--protocol', 'dicom', '--gateway-thread'], /--gateway-thread applies to --route targets only/],
    [['fuzz', '--target', '127.0.0.1:9', '--protocol', 'dicom', '--plaintext'], /--plaintext applies to --route targets/],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(args)));
  for (const [i, [args, pattern]] of cases.entries()) {
    const res = results[i];
    t.equal(res.code, 2, `${args.join(' ')}: exit 2`);
    t.match(res.stderr, pattern, `${args.join(' ')}: ${res.stderr.trim().split('\n')[0]}`);
  }
  const missing = await runCli(['fuzz', 'replay', '/nonexistent/repro.json']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /error \[FUZZ_REPRODUCER_INVALID\]/);
});

t.test('fuzz --target --spawn --verbose: findings.json, reproducers, a summary line, events on stderr, no progress line without a TTY', async (t) => {
  const host = '127.40.0.3';
  const port = await freeLoopbackPort();
  const out = tempDir(t);
  const res = await runCli(['fuzz', '--target', `${host}:${port}`, '--protocol', 'hl7', '--spawn', faultyCommand('hl7', host, port), '--duration', '8s', '--seed', '77', '--out', out, '--hang-timeout', '1000', '--verbose']);
  t.equal(res.code, 1, 'exit 1: there are findings');
  const file = JSON.parse(readFileSync(join(out, 'findings.json'), 'utf8'));
  t.ok(file.execs > 0 && file.execsPerSecond > 0, `${file.execs} execs at ${file.execsPerSecond}/s`);
  const crash = file.findings.find((f: { oracle: string }) => f.oracle === 'exit');
  t.ok(crash, 'the receiver crash is a finding');
  t.match(res.stdout, new RegExp(`wardgate fuzz: ${file.execs} execs .*seed 77, ${file.findings.length} finding`), 'summary line');
  const reproducer = JSON.parse(readFileSync(join(out, crash.reproducer), 'utf8'));
  t.match(reproducer.location, /^readTrigger \(faulty-hl7\.ts:\d+\)$/, `located: ${reproducer.location}`);
  t.notMatch(res.stderr, /\r/, 'no progress line on a pipe');
  t.match(res.stderr, new RegExp(`^wardgate fuzz: \\d+\\.\\d s: finding ${crash.id}: exit at readTrigger`, 'm'), '--verbose: the campaign\'s events, timed, on stderr');
});
