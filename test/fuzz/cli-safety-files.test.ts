/**
 * Hostile files around the fuzzer: a --out directory with symlinks planted under the names it writes,
 * and `fuzz replay` given files that never end, are huge, are not JSON or hold escapes and odd shapes.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { FindingStore, MAX_REPRODUCER_BYTES, REPRODUCER_FORMAT, type Reproducer, readReproducer } from '../../src/fuzz/findings.ts';
import { tempDir } from '../helpers/tmp.ts';
import { runCli } from './fixtures/run.ts';

const repro: Reproducer = {
  format: REPRODUCER_FORMAT, id: 'exit-hl7-0badc0de', oracle: 'exit', protocol: 'hl7', location: 'l', detail: 'd', seed: 3, exec: 1,
  target: { kind: 'address', protocol: 'hl7', address: '127.61.0.1:2575' }, minimized: false,
  exchanges: [{ protocol: 'hl7', side: 'client', label: 'x', chunks: [Buffer.from('MSH|')] }],
};

t.test('--out: symlinks named findings.json or reproducers/ID.json are replaced, not followed', async (t) => {
  const out = tempDir(t);
  const victims = tempDir(t);
  mkdirSync(join(out, 'reproducers'));
  for (const name of ['findings', 'repro']) writeFileSync(join(victims, name), 'precious\n');
  symlinkSync(join(victims, 'findings'), join(out, 'findings.json'));
  symlinkSync(join(victims, 'repro'), join(out, 'reproducers', `${repro.id}.json`));
  const store = new FindingStore(out);
  store.add(repro);
  store.update({ ...repro, minimized: true });
  store.write(10, 1);
  t.equal(readFileSync(join(victims, 'findings'), 'utf8'), 'precious\n', 'the findings.json symlink\'s target is untouched');
  t.equal(readFileSync(join(victims, 'repro'), 'utf8'), 'precious\n', 'the reproducer symlink\'s target is untouched');
  t.ok(lstatSync(join(out, 'findings.json')).isFile() && lstatSync(join(out, 'reproducers', `${repro.id}.json`)).isFile(), 'both are regular files now');
  t.equal(JSON.parse(readFileSync(join(out, 'findings.json'), 'utf8')).execs, 10);
  t.equal(readReproducer(join(out, 'reproducers', `${repro.id}.json`)).minimized, true, 'the update landed in the new file');
});

t.test('replay refuses files that are not regular or too large, at once', async (t) => {
  const dir = tempDir(t);
  const fifo = join(dir, 'fifo.json');
  execFileSync('mkfifo', [fifo]);
  const huge = join(dir, 'huge.json');
  writeFileSync(huge, '');
  truncateSync(huge, MAX_REPRODUCER_BYTES + 1); // sparse: no disk used
  const cases: Array<[string, RegExp]> = [['/dev/zero', /not a regular file/], [fifo, /not a regular file/], [dir, /not a regular file/], [huge, /more than/]];
  // In a child: the old code read /dev/zero and the FIFO forever (the timeout then kills it, code null).
  const results = await Promise.all(cases.map(([file]) => runCli(['fuzz', 'replay', file], 20_000)));
  for (const [i, [file, why]] of cases.entries()) {
    t.equal(results[i].code, 1, `${file}: exit 1`);
    t.match(results[i].stderr, /^wardgate: error \[FUZZ_REPRODUCER_INVALID\]: .*cannot read/, `${file}: one error line`);
    t.match(results[i].stderr, why, file);
  }
});

t.test('replay: a corrupt file\'s text reaches the terminal without its escapes', async (t) => {
  const file = join(tempDir(t), 'esc.json');
  writeFileSync(file, 'X\u001b]0;owned\u0007\u001b[2J\u009b31m');
  const res = await runCli(['fuzz', 'replay', file]);
  t.equal(res.code, 1);
  t.match(res.stderr, /FUZZ_REPRODUCER_INVALID.*\\x1b\]0;owned\\x07/, 'escapes shown as text');
  t.notOk(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(res.stderr), 'no control characters on stderr');
});

t.test('replay: wrong JSON shapes are one FUZZ_REPRODUCER_INVALID each', async (t) => {
  const dir = tempDir(t);
  const good = { ...repro, exchanges: [{ protocol: 'hl7', side: 'client', label: 'x', chunks: ['4d5348'] }] };
  const shapes: Array<[string, unknown]> = [
    ['null', null], ['array', []], ['string', 'x'], ['number', 7],
    ['no format', { ...good, format: undefined }],
    ['id as a path', { ...good, id: '../../../etc/cron.d/x' }],
    ['oracle unknown', { ...good, oracle: 'rce' }],
    ['exchanges an object', { ...good, exchanges: { length: 1 } }],
    ['chunk not hex', { ...good, exchanges: [{ protocol: 'hl7', side: 'client', chunks: ['zz'] }] }],
    ['target kind unknown', { ...good, target: { kind: 'shell', protocol: 'hl7' } }],
    ['target address not a string', { ...good, target: { kind: 'address', protocol: 'hl7', address: ['10.0.0.1', 104] } }],
    ['seed huge', { ...good, seed: 2 ** 40 }],
  ];
  for (const [what, data] of shapes) {
    const file = join(dir, `${what.replace(/ /g, '-')}.json`);
    writeFileSync(file, JSON.stringify(data));
    t.throws(() => readReproducer(file), { code: 'FUZZ_REPRODUCER_INVALID' }, what);
  }
});
