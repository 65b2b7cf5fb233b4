/**
 * Format 3 read as an attacker: one who lacks the passphrase and can only cut, splice or flip bytes of
 * stored archives, one who knows it and crafts archives to exhaust the restoring process or smuggle
 * control characters into the operator's terminal, and an operator whose `--from` is not a file or
 * whose backup is killed half-way. Each must end in one line and no data dir.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHmac, randomBytes, scryptSync } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { TEST_PASSPHRASE } from '../helpers/ca.ts';

const env = { WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE };
const ONE_LINE = (code: string, message: RegExp) => new RegExp(`^wardgate: error \\[${code}\\]: ${message.source}[^\\n]*\\n$`);
const CA_FILES = ['ca/ca.json', 'ca/root.pem', 'ca/intermediate.pem', 'ca/intermediate-rsa.pem', 'ca/issuers/ecdsa-1.pem', 'ca/issuers/rsa-1.pem',
  'ca/keys/root.key.pem', 'ca/keys/ecdsa-1.key.pem', 'ca/keys/rsa-1.key.pem', 'wardgate.db'];
const MAGIC = Buffer.from('WARDGATE-BACKUP-3\n');
const FIXED = MAGIC.length + 16 + 7 + 4 + 16;
const HEADER = FIXED + 8 + 16;
const MIB = 1 << 20;

const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const u64 = (n: number | bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
const macOf = (salt: Buffer) => scryptSync(TEST_PASSPHRASE, salt, 64, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * MIB }).subarray(32);
const encOf = (salt: Buffer) => scryptSync(TEST_PASSPHRASE, salt, 64, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * MIB }).subarray(0, 32);

/** Header with the length and its tag over `frames` (what someone who knows the passphrase can always fix up). */
function assemble(fixed: Buffer, frames: Buffer[]): Buffer {
  const length = frames.reduce((n, f) => n + f.length, 0);
  const mac = macOf(fixed.subarray(MAGIC.length, MAGIC.length + 16));
  const tag = createHmac('sha256', mac).update('wardgate backup v3 length').update(fixed).update(u64(length)).digest().subarray(0, 16);
  return Buffer.concat([fixed, u64(length), tag, ...frames]);
}

/** Seals `plain` (a record stream) as stored chunks of `chunkSize` bytes, per the format's description. */
function seal(plain: Buffer, chunkSize = MIB): Buffer {
  const salt = randomBytes(16);
  const prefix = randomBytes(7);
  const enc = encOf(salt);
  const check = createHmac('sha256', macOf(salt)).update('wardgate backup key check').digest().subarray(0, 16);
  const fixed = Buffer.concat([MAGIC, salt, prefix, u32(chunkSize), check]);
  const count = Math.max(1, Math.ceil(plain.length / chunkSize));
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const final = i === count - 1 ? 1 : 0;
    const cipher = createCipheriv('aes-256-gcm', enc, Buffer.concat([prefix, u32(i), Buffer.from([final])]));
    cipher.setAAD(Buffer.concat([fixed, u64(i), Buffer.from([final])]));
    const ct = Buffer.concat([cipher.update(Buffer.from([0])), cipher.update(plain.subarray(i * chunkSize, (i + 1) * chunkSize)), cipher.final()]);
    frames.push(Buffer.concat([u32(ct.length), ct, cipher.getAuthTag()]));
  }
  return assemble(fixed, frames);
}

interface Entry { path: string; mode: number; data: Buffer }
function records(entries: Entry[]): Buffer {
  const meta = Buffer.from(JSON.stringify({ format: 'wardgate-backup', version: 3, createdAt: new Date().toISOString(), storeFile: 'wardgate.db' }));
  const files = entries.map((e) => { const p = Buffer.from(e.path); return Buffer.concat([Buffer.from('F'), u16(p.length), p, u32(e.mode), u64(e.data.length), e.data]); });
  return Buffer.concat([Buffer.from('M'), u32(meta.length), meta, ...files, Buffer.from('E'), u32(entries.length)]);
}

function framesOf(archive: Buffer): { fixed: Buffer; frames: Buffer[] } {
  const frames: Buffer[] = [];
  for (let o = HEADER; o < archive.length; o += 4 + archive.readUInt32BE(o) + 16) frames.push(archive.subarray(o, o + 4 + archive.readUInt32BE(o) + 16));
  return { fixed: archive.subarray(0, FIXED), frames };
}

function makeCa(t: Test, ballastMiB = 0): { work: string; dir: string; entries: Entry[] } {
  const work = tempDir(t);
  const dir = join(work, 'data');
  const init = wardgate(['init', '-d', dir, '--name', 'Attacks', '--permit-dns', 'klinikum.internal', '--root-key-type', 'ecdsa-p384', '--rsa-key-type', 'rsa-2048'], env);
  if (init.status !== 0) throw new Error(init.stderr);
  if (ballastMiB > 0) writeFileSync(join(dir, 'ballast.bin'), randomBytes(ballastMiB * MIB));
  const entries = CA_FILES.map((p) => ({ path: p, mode: statSync(join(dir, p)).mode & 0o777, data: readFileSync(join(dir, p)) }));
  return { work, dir, entries };
}

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
  const { work, dir } = makeCa(t, 3);
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
  const { work, entries } = makeCa(t);
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
  for (const [name, extra, message] of cases) refused(t, work, name, seal(records([...entries, ...extra])), 'BACKUP_INVALID', new RegExp(`.*${name}\\.wgb: ${message.source}`));
  const ok = join(work, 'depth-8.wgb');
  writeFileSync(ok, seal(records([...entries, e('ca/1/2/3/4/5/6/f'), e(`ca/${'n'.repeat(255)}`)])));
  const r = wardgate(['restore', '-d', join(work, 'depth-8'), '--from', ok], env);
  t.equal(r.status, 0, `8 segments and 255-byte names still restore: ${r.stderr}`);
});

t.test('a chunk size of 1 (crafted with the passphrase) restores byte by byte in linear time', async (t) => {
  const { work, entries } = makeCa(t);
  const from = join(work, 'tiny.wgb');
  const small = entries.filter((x) => x.path !== 'wardgate.db');
  const plain = records(small.concat([{ ...entries.find((x) => x.path === 'wardgate.db')! }]));
  writeFileSync(from, seal(plain, 1));
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

t.test('backup killed with -9 half-way: a 0600 temp file that restore refuses, the scratch dir private', async (t) => {
  const { work, dir } = makeCa(t, 300);
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
  // The kill leaves the snapshot behind (nothing removes it); it must at least not be readable by others.
  const left = readdirSync(scratch).filter((n) => n.startsWith('wardgate-backup-'));
  t.equal(left.length, 1, 'the scratch dir is left behind');
  for (const name of left) t.equal(statSync(join(scratch, name)).mode & 0o777, 0o700, `${name} (holds the store snapshot) is 0700`);
  const r = wardgate(['restore', '-d', join(work, 'target'), '--from', tmp!], env);
  t.equal(r.status, 1);
  t.match(r.stderr, ONE_LINE('BACKUP_INVALID', /.* is incomplete or corrupt: the length in its header fails authentication/));
  t.notOk(existsSync(join(work, 'target')));
});
