/**
 * Format 3 read as an attacker: one who lacks the passphrase and can only cut, splice or flip bytes of
 * stored archives, one who knows it and crafts archives to exhaust the restoring process or smuggle
 * control characters into the operator's terminal, and an operator whose `--from` is not a file or
 * whose backup is killed half-way. Each must end in one line and no data dir.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { BIN, wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { type Entry, FIXED, HEADER, MAGIC, MIB, ONE_LINE, env, framesOf, makeCa, records, seal, stored } from './fixtures/backup-v3.ts';

/** `plain` (a record stream) sealed as stored chunks of `chunkSize` bytes, the header saying so. */
const sealStored = (plain: Buffer, chunkSize = MIB): Buffer => seal(stored(plain, chunkSize), { chunkSize });

function refused(t: Test, work: string, name: string, archive: Buffer, code: string, message: RegExp, extraEnv: Record<string, string> = {}): void {
  const from = join(work, `${name}.wgb`);
  writeFileSync(from, archive);
  const target = join(work, `target-${name}`);
  const r = wardgate(['restore', '-d', target, '--from', from], { ...env, ...extraEnv });
  t.equal(r.status, 1, `${name}: exit 1`);
  t.match(r.stderr, ONE_LINE(code, message), `${name}: ${r.stderr.trim().slice(0, 300)}`);
  t.notOk(existsSync(target), `${name}: no data dir created`);
}

t.test('without the passphrase: spliced, relabelled or cut archives of the same CA fail authentication', async (t) => {
  const { work, dir } = makeCa(t, 'Attacks', 3);
  const a = join(work, 'a.wgb');
  const b = join(work, 'b.wgb');
  t.equal(wardgate(['backup', '-d', dir, '--out', a], env).status, 0);
  t.equal(wardgate(['backup', '-d', dir, '--out', b], env).status, 0);
  const A = readFileSync(a);
  const B = readFileSync(b);
  const fa = framesOf(A);
  const fb = framesOf(B);
  t.ok(fa.frames.length >= 4 && fb.frames.length === fa.frames.length, `${fa.frames.length} chunks each`);
  const sameLength = fa.frames.findIndex((f, i) => i > 0 && f.length === fb.frames[i]!.length);
  t.ok(sameLength > 0, 'a chunk of equal size in both (the ballast is stored, not deflated)');
  // No length to fix up: a chunk of b in its place in a keeps every size, only the keys differ (salt and prefix).
  const spliced = Buffer.from(A);
  const at = HEADER + fa.frames.slice(0, sameLength).reduce((n, f) => n + f.length, 0);
  fb.frames[sameLength]!.copy(spliced, at);
  refused(t, work, 'spliced', spliced, 'BACKUP_INVALID', new RegExp(`.*spliced\.wgb is corrupt: the passphrase is right but chunk ${sameLength} fails authentication`));
  // a's header on b's body: b's length differs by at most the deflated chunks; put a's fixed fields on b's length and tag.
  const relabelled = Buffer.concat([A.subarray(0, FIXED), B.subarray(FIXED)]);
  refused(t, work, 'relabelled', relabelled, 'BACKUP_INVALID', /.*relabelled\.wgb is incomplete or corrupt: the length in its header fails authentication/);
  // The chunk size field is additional data: lowering it to 1 (to make restore work a byte at a time) breaks the length tag.
  const tiny = Buffer.from(A);
  tiny.writeUInt32BE(1, MAGIC.length + 16 + 7);
  refused(t, work, 'chunk-size', tiny, 'BACKUP_INVALID', /.*chunk-size\.wgb is incomplete or corrupt: the length in its header fails authentication/);
  // A frame length of 1 in the first chunk: the tag is read from the wrong place.
  const frameLength = Buffer.from(A);
  frameLength.writeUInt32BE(1, HEADER);
  refused(t, work, 'frame-length', frameLength, 'BACKUP_INVALID', /.*frame-length\.wgb is corrupt: the passphrase is right but chunk 0 fails authentication/);
  refused(t, work, 'header-only', A.subarray(0, HEADER), 'BACKUP_INVALID', /.*header-only\.wgb is truncated: \d+ of \d+ bytes/);
  refused(t, work, 'wrong-passphrase', A, 'PASSPHRASE_WRONG', /cannot decrypt .*wrong-passphrase\.wgb: wrong passphrase/, { WARDGATE_CA_PASSPHRASE: 'not the passphrase at all' });
});

t.test('with the passphrase: deep, control-character, over-long and directory-heavy paths are refused up front', async (t) => {
  const { work, entries } = makeCa(t, 'Attacks');
  const e = (path: string) => ({ path, mode: 0o600, data: Buffer.from('x') });
  // 100 entries of ~2,000 nested directories each (a 0.5 MB archive, a few KB deflated) took 238 s and
  // 570 MB before MAX_DEPTH; 400 did not finish in 8 minutes.
  const deep = Array.from({ length: 3 }, (_, i) => e(`ca/d${i}/${'a/'.repeat(1990)}f`));
  const cases: Array<[string, Entry[], RegExp]> = [
    ['deep', deep, /the entry "ca\/d0\/a\/a\/.*" is deeper than 8 segments; refusing to restore it/],
    ['depth-9', [e('ca/1/2/3/4/5/6/7/f')], /the entry "ca\/1\/2\/3\/4\/5\/6\/7\/f" is deeper than 8 segments/],
    // Without the check, a second entry of the same name printed the raw path, newline and escape included.
    ['newline', [e('ca/x\nwardgate: restored 10 files'), e('ca/x\nwardgate: restored 10 files')], /the entry "ca\/x\\nwardgate: restored 10 files" is a name with a control character/],
    ['escape', [e('ca/\u001b]2;owned\u0007'), e('ca/\u001b]2;owned\u0007')], /the entry "ca\/\\u001b\]2;owned\\u0007" is a name with a control character/],
    ['c1', [e('ca/\u009b31m')], /the entry "ca\/\u009b31m" is a name with a control character/],
    // Refused before anything is written, not by ENAMETOOLONG at open after the entries before it.
    ['long-name', [e(`ca/${'n'.repeat(256)}`)], /the entry "ca\/n+" is a name longer than 255 bytes/],
    ['many-dirs', Array.from({ length: 1001 }, (_, i) => e(`ca/d${i}/f`)), /more than 1000 directories, more than a CA has/],
  ];
  for (const [name, extra, message] of cases) refused(t, work, name, sealStored(records([...entries, ...extra])), 'BACKUP_INVALID', new RegExp(`.*${name}\\.wgb: ${message.source}`));
  const ok = join(work, 'depth-8.wgb');
  writeFileSync(ok, sealStored(records([...entries, e('ca/1/2/3/4/5/6/f'), e(`ca/${'n'.repeat(255)}`)])));
  const r = wardgate(['restore', '-d', join(work, 'depth-8'), '--from', ok], env);
  t.equal(r.status, 0, `8 segments and 255-byte names still restore: ${r.stderr}`);
});

t.test('a chunk size of 1 (crafted with the passphrase) restores byte by byte in linear time', async (t) => {
  const { work, entries } = makeCa(t, 'Attacks');
  const from = join(work, 'tiny.wgb');
  const small = entries.filter((x) => x.path !== 'wardgate.db');
  const plain = records(small.concat([{ ...entries.find((x) => x.path === 'wardgate.db')! }]));
  writeFileSync(from, sealStored(plain, 1));
  const started = Date.now();
  const r = wardgate(['restore', '-d', join(work, 'tiny'), '--from', from], env);
  t.equal(r.status, 0, r.stderr);
  t.ok(Date.now() - started < 60_000, `${plain.length} chunks in ${Date.now() - started} ms`);
});

t.test('--from a FIFO is refused at once instead of waiting for a writer', async (t) => {
  const work = tempDir(t);
  const fifo = join(work, 'archive.wgb');
  t.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  const r = spawnSync(process.execPath, [BIN, 'restore', '-d', join(work, 'target'), '--from', fifo], {
    encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  });
  t.equal(r.signal, null, 'not killed by the timeout');
  t.equal(r.status, 1);
  t.match(r.stderr, ONE_LINE('BACKUP_INVALID', /.*archive\.wgb is not a file/));
  t.notOk(existsSync(join(work, 'target')));
});

t.test('backup killed with -9 half-way: a 0600 temp file that restore refuses; the snapshot stays in a private dir inside the data dir until the next backup removes it', async (t) => {
  const { work, dir } = makeCa(t, 'Attacks', 300);
  const scratch = join(work, 'tmp');
  spawnSync('mkdir', ['-m', '0755', scratch]);
  const out = join(work, 'out');
  spawnSync('mkdir', [out]);
  const child = spawn(process.execPath, [BIN, 'backup', '-d', dir, '--out', join(out, 'b.wgb')], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: scratch, ...env }, stdio: 'ignore',
  });
  let tmp: string | undefined;
  for (let i = 0; i < 3000 && !tmp; i++) {
    await new Promise((res) => setTimeout(res, 10));
    const name = readdirSync(out).find((n) => n.endsWith('.tmp'));
    if (name && statSync(join(out, name)).size > 10 * MIB) tmp = join(out, name);
  }
  child.kill('SIGKILL');
  await new Promise((res) => child.on('exit', res));
  t.ok(tmp, 'the temp archive was caught growing');
  t.notOk(existsSync(join(out, 'b.wgb')), 'nothing under the archive\'s name');
  t.equal(statSync(tmp!).mode & 0o777, 0o600, 'the temp archive is 0600');
  // The snapshot holds the EAB HMAC keys in the clear: never in the shared temp dir.
  t.same(readdirSync(scratch).filter((n) => !n.startsWith('tsx-')), [], 'nothing in TMPDIR (but tsx\'s compile cache)');
  const left = readdirSync(dir).filter((n) => n.startsWith('.backup-scratch-'));
  t.same(left, [`.backup-scratch-${child.pid}-${left[0]?.split('-').pop()}`], 'the kill leaves one scratch dir in the data dir, named with the dead pid');
  t.equal(statSync(join(dir, left[0])).mode & 0o777, 0o700, 'and it is 0700');
  const r = wardgate(['restore', '-d', join(work, 'target'), '--from', tmp!], env);
  t.equal(r.status, 1);
  t.match(r.stderr, ONE_LINE('BACKUP_INVALID', /.* is incomplete or corrupt: the length in its header fails authentication/));
  t.notOk(existsSync(join(work, 'target')));
  const hostTag = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
  t.match(tmp, new RegExp(`/\\.b\\.wgb\\.backup-${hostTag}-${child.pid}-[0-9a-f]{12}\\.tmp$`), 'the temp archive is named with its host and pid');
  // Partial archives the next backup must leave: one whose writer still runs, one from another host.
  const running = `.d.wgb.backup-${hostTag}-${process.ppid}-aaaaaaaaaaaa.tmp`;
  const otherHost = `.d.wgb.backup-${hostTag === '00000000' ? '11111111' : '00000000'}-${child.pid}-bbbbbbbbbbbb.tmp`;
  for (const name of [running, otherHost]) writeFileSync(join(out, name), 'partial');
  // The next backup sweeps the dead one's snapshot and partial archive, and leaves its own nowhere.
  rmSync(join(dir, 'ballast.bin'));
  const again = wardgate(['backup', '-d', dir, '--out', join(out, 'c.wgb')], env);
  t.equal(again.status, 0, again.stderr);
  t.same(readdirSync(dir).filter((n) => n.startsWith('.backup-scratch-')), [], 'no scratch dir left in the data dir');
  t.notOk(existsSync(tmp!), 'the killed backup\'s partial archive is removed');
  t.match(again.stderr, `wardgate backup: removed ${tmp!.split('/').pop()}, the partial archive of a backup that was interrupted`);
  t.same(readdirSync(out).filter((n) => n.endsWith('.tmp')).sort(), [running, otherHost].sort(), 'a running writer\'s and another host\'s partial archives stay');
  const restored = wardgate(['restore', '-d', join(work, 'target'), '--from', join(out, 'c.wgb')], env);
  t.equal(restored.status, 0, restored.stderr);
  t.notOk(readdirSync(join(work, 'target')).some((n) => n.startsWith('.backup-scratch-')), 'no scratch dir inside the archive');
});
