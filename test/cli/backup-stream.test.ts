/**
 * Format 3 (chunked): chunks of a real archive reordered, dropped, repeated or cut off are refused even
 * when whoever did it also fixed up the length in the header; archives crafted by someone who knows the
 * passphrase get every check restore makes, decided per entry before its bytes are written, including the
 * size limits that replace format 2's decompressed-size bound. The data dir is never created.
 */
import t, { type Test } from 'tap';
import { createCipheriv, createHmac, randomBytes, scryptSync } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { wardgate } from '../helpers/cli.ts';
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

// Format 3 as docs and src/store/backup-stream.ts describe it, written independently.
const keysOf = (salt: Buffer, passphrase = TEST_PASSPHRASE) => {
  const k = scryptSync(passphrase, salt, 64, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  return { enc: k.subarray(0, 32), mac: k.subarray(32) };
};
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const u64 = (n: number | bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };

/** Header (length and its tag over `frames`) + frames: what a writer, or someone fixing up a cut archive, produces. */
function assemble(fixed: Buffer, frames: Buffer[], mac: Buffer): Buffer {
  const length = frames.reduce((n, f) => n + f.length, 0);
  const tag = createHmac('sha256', mac).update('wardgate backup v3 length').update(fixed).update(u64(length)).digest().subarray(0, 16);
  return Buffer.concat([fixed, u64(length), tag, ...frames]);
}

/** Seals segments (encoding byte + data each) as chunks 0..n-1, the last one final. */
function seal(segments: Buffer[], passphrase = TEST_PASSPHRASE): Buffer {
  const salt = randomBytes(16);
  const prefix = randomBytes(7);
  const { enc, mac } = keysOf(salt, passphrase);
  const check = createHmac('sha256', mac).update('wardgate backup key check').digest().subarray(0, 16);
  const fixed = Buffer.concat([MAGIC, salt, prefix, u32(MIB), check]);
  const frames = segments.map((segment, i) => {
    const final = i === segments.length - 1 ? 1 : 0;
    const cipher = createCipheriv('aes-256-gcm', enc, Buffer.concat([prefix, u32(i), Buffer.from([final])]));
    cipher.setAAD(Buffer.concat([fixed, u64(i), Buffer.from([final])]));
    const ct = Buffer.concat([cipher.update(segment), cipher.final()]);
    return Buffer.concat([u32(ct.length), ct, cipher.getAuthTag()]);
  });
  return assemble(fixed, frames, mac);
}

/** Stored segments of at most one chunk each. */
const stored = (plain: Buffer): Buffer[] => {
  const out: Buffer[] = [];
  for (let o = 0; o === 0 || o < plain.length; o += MIB) out.push(Buffer.concat([Buffer.from([0]), plain.subarray(o, o + MIB)]));
  return out;
};

interface Entry { path: string; mode: number; data: Buffer; size?: number }
const meta = (storeFile = 'wardgate.db') => {
  const json = Buffer.from(JSON.stringify({ format: 'wardgate-backup', version: 3, createdAt: new Date().toISOString(), storeFile }));
  return Buffer.concat([Buffer.from('M'), u32(json.length), json]);
};
const fileRecord = (e: Entry) => {
  const p = Buffer.from(e.path);
  const h = Buffer.alloc(2);
  h.writeUInt16BE(p.length);
  return Buffer.concat([Buffer.from('F'), h, p, u32(e.mode), u64(e.size ?? e.data.length), e.data]);
};
const records = (entries: Entry[], opts: { storeFile?: string; count?: number; trailer?: Buffer } = {}) =>
  Buffer.concat([meta(opts.storeFile), ...entries.map(fileRecord), Buffer.from('E'), u32(opts.count ?? entries.length), opts.trailer ?? Buffer.alloc(0)]);

/** The frames of an archive, to take apart and put together again. */
function framesOf(archive: Buffer): { fixed: Buffer; frames: Buffer[]; mac: Buffer } {
  const frames: Buffer[] = [];
  for (let o = HEADER; o < archive.length;) {
    const n = 4 + archive.readUInt32BE(o) + 16;
    frames.push(archive.subarray(o, o + n));
    o += n;
  }
  return { fixed: archive.subarray(0, FIXED), frames, mac: keysOf(archive.subarray(MAGIC.length, MAGIC.length + 16)).mac };
}

function makeCa(t: Parameters<typeof tempDir>[0], ballastMiB = 0): { work: string; dir: string; entries: Entry[] } {
  const work = tempDir(t);
  const dir = join(work, 'data');
  const init = wardgate(['init', '-d', dir, '--name', 'Stream', '--permit-dns', 'klinikum.internal', '--root-key-type', 'ecdsa-p384', '--rsa-key-type', 'rsa-2048'], env);
  if (init.status !== 0) throw new Error(init.stderr);
  // Incompressible bytes beside the store, packed like any top-level file: enough for several chunks.
  if (ballastMiB > 0) writeFileSync(join(dir, 'ballast.bin'), randomBytes(ballastMiB * MIB));
  const entries = CA_FILES.map((p) => ({ path: p, mode: statSync(join(dir, p)).mode & 0o777, data: readFileSync(join(dir, p)) }));
  return { work, dir, entries };
}

function refused(t: Test, work: string, name: string, archive: Buffer, code: string, message: RegExp): void {
  const from = join(work, `${name}.wgb`);
  writeFileSync(from, archive);
  const target = join(work, `target-${name}`);
  const r = wardgate(['restore', '-d', target, '--from', from], env);
  t.equal(r.status, 1, `${name}: exit 1`);
  t.match(r.stderr, ONE_LINE(code, new RegExp(`.*${name}\\.wgb:? ${message.source}`)), `${name}: ${r.stderr.trim()}`);
  t.notOk(existsSync(target), `${name}: no data dir created`);
}

t.test('chunks reordered, dropped, repeated or cut off fail their tags even with the length fixed up', async (t) => {
  const { work, dir } = makeCa(t, 4);
  const archive = join(work, 'real.wgb');
  t.equal(wardgate(['backup', '-d', dir, '--out', archive], env).status, 0);
  const bytes = readFileSync(archive);
  t.ok(bytes.subarray(0, MAGIC.length).equals(MAGIC), 'backup writes format 3');
  const { fixed, frames, mac } = framesOf(bytes);
  t.ok(frames.length >= 5, `${frames.length} chunks`);
  const [f0, f1, f2] = frames;
  const last = frames.length - 1;

  // The control: taken apart and put together unchanged, it restores (so the cases below test the chunks).
  const same = join(work, 'same.wgb');
  writeFileSync(same, assemble(fixed, frames, mac));
  const ok = wardgate(['restore', '-d', join(work, 'same'), '--from', same], env);
  t.equal(ok.status, 0, ok.stderr);
  t.same(readFileSync(join(work, 'same', 'ballast.bin')), readFileSync(join(dir, 'ballast.bin')), 'every byte comes back');

  const cases: Array<[string, Buffer[], RegExp]> = [
    ['swapped', [f0, f2, f1, ...frames.slice(3)], /is corrupt: the passphrase is right but chunk 1 fails authentication/],
    ['dropped', [f0, ...frames.slice(2)], /is corrupt: the passphrase is right but chunk 1 fails authentication/],
    ['repeated', [f0, f0, ...frames.slice(1)], /is corrupt: the passphrase is right but chunk 1 fails authentication/],
    // A cut after a whole chunk: that chunk was sealed as not the last one.
    ['cut', frames.slice(0, 3), /is corrupt: the passphrase is right but chunk 2 fails authentication/],
    ['cut-final', frames.slice(0, last), new RegExp(`is corrupt: the passphrase is right but chunk ${last - 1} fails authentication`)],
  ];
  for (const [name, reordered, message] of cases) refused(t, work, name, assemble(fixed, reordered, mac), 'BACKUP_INVALID', message);

  const prefixFlipped = Buffer.from(fixed);
  prefixFlipped[MAGIC.length + 16] ^= 1;
  refused(t, work, 'header', assemble(prefixFlipped, frames, mac), 'BACKUP_INVALID', /is corrupt: the passphrase is right but chunk 0 fails authentication/);
  const unfixed = Buffer.from(bytes);
  unfixed[MAGIC.length + 16] ^= 1;
  refused(t, work, 'header-length', unfixed, 'BACKUP_INVALID', /is incomplete or corrupt: the length in its header fails authentication/);
  // What a backup killed before it finished leaves in its temporary file: length and tag still zero.
  const unfinished = Buffer.from(bytes);
  unfinished.fill(0, FIXED, HEADER);
  refused(t, work, 'unfinished', unfinished, 'BACKUP_INVALID', /is incomplete or corrupt: the length in its header fails authentication/);
  refused(t, work, 'cut-unfixed', bytes.subarray(0, HEADER + f0.length + f1.length), 'BACKUP_INVALID', /is truncated: \d+ of \d+ bytes/);
  t.same(readdirSync(work).filter((n) => n.startsWith('target-')), [], 'no target dir anywhere');
});

t.test('crafted format 3 archives: every check before the entry is written, one line, no data dir', async (t) => {
  const { work, entries } = makeCa(t);
  const x = Buffer.from('x');
  const store = entries.find((e) => e.path === 'wardgate.db')!;
  const good = join(work, 'good.wgb');
  writeFileSync(good, seal(stored(records(entries))));
  const ok = wardgate(['restore', '-d', join(work, 'good'), '--from', good], env);
  t.equal(ok.status, 0, `the hand-made archive restores: ${ok.stderr}`);

  const bomb = deflateRawSync(Buffer.alloc(2 * MIB, 0x41));
  const cases: Array<[string, Buffer, RegExp]> = [
    ['dotdot', seal(stored(records([...entries, { path: 'ca/../../escaped', mode: 0o600, data: x }]))), /the entry "ca\/\.\.\/\.\.\/escaped" is an absolute path or an empty/],
    ['absolute', seal(stored(records([...entries, { path: '/etc/cron.d/x', mode: 0o600, data: x }]))), /the entry "\/etc\/cron\.d\/x" is an absolute path/],
    ['beside-ca', seal(stored(records([...entries, { path: 'bin/x', mode: 0o755, data: x }]))), /the entry "bin\/x" is a directory other than ca\//],
    ['staging', seal(stored(records([...entries, { path: '.wardgate-staging-x/.moving.json', mode: 0o600, data: Buffer.from('["wardgate.db"]') }]))), /the entry "\.wardgate-staging-x\/\.moving\.json" is a directory other than ca\//],
    ['lock', seal(stored(records([...entries, { path: '.wardgate.lock', mode: 0o600, data: x }]))), /the entry "\.wardgate\.lock" is a hidden file at the top/],
    ['wal', seal(stored(records([...entries, { path: 'wardgate.db-wal', mode: 0o600, data: x }]))), /the entry "wardgate\.db-wal" is a store side file/],
    ['nul', seal(stored(records([...entries, { path: 'a\0b', mode: 0o600, data: x }]))), /the entry "a\\u0000b" is a name with a NUL byte/],
    ['twice', seal(stored(records([...entries, { path: 'ca/root.pem', mode: 0o644, data: x }]))), /the entry ca\/root\.pem appears twice/],
    ['file-then-dir', seal(stored(records([...entries, { path: 'ca/root.pem/x', mode: 0o600, data: x }]))), /ca\/root\.pem is both a file and the directory of ca\/root\.pem\/x/],
    ['dir-then-file', seal(stored(records([{ path: 'ca/x/y', mode: 0o600, data: x }, { path: 'ca/x', mode: 0o600, data: x }, ...entries]))), /ca\/x is both a file and the directory of ca\/x\/y/],
    ['mode', seal(stored(records([...entries, { path: 'ca/odd', mode: 0o170000, data: x }]))), /the entry "ca\/odd" has mode 61440, not a file mode/],
    ['store-name', seal(stored(records(entries.map((e) => (e.path === 'wardgate.db' ? { ...e, path: 'other.db' } : e)), { storeFile: 'other.db' }))), /the store is named "other\.db", not wardgate\.db/],
    ['no-keys', seal(stored(records(entries.filter((e) => !e.path.startsWith('ca/keys/'))))), /the CA in it is incomplete, it lacks ca\/keys\/root\.key\.pem, ca\/keys\/ecdsa-1\.key\.pem, ca\/keys\/rsa-1\.key\.pem/],
    ['no-store', seal(stored(records(entries.filter((e) => e.path !== 'wardgate.db')))), /the archive lacks wardgate\.db/],
    // Size limits, checked on the declared size before a byte is written: no 600 MiB certificate ...
    ['big-ca-file', seal(stored(records([...entries, { path: 'ca/big.pem', mode: 0o644, data: Buffer.alloc(0), size: 600 * MIB }]))), /the entry ca\/big\.pem declares 629145600 bytes, more than a CA file can be \(16777216\)/],
    // ... no store larger than the disk ...
    ['big-store', seal(stored(records([...entries.filter((e) => e.path !== 'wardgate.db'), { ...store, size: 2 ** 52 }]))), /the entry wardgate\.db declares 4503599627370496 bytes, more than the \d+ bytes free on the data dir's file system/],
    // ... and no chunk inflating beyond one chunk (2 MiB of one letter in ~2 KiB).
    ['bomb', seal([Buffer.concat([Buffer.from([1]), bomb])]), /chunk 0 decompresses to more than 1048576 bytes/],
    ['encoding', seal([Buffer.from([7, 1, 2, 3])]), /chunk 0 has an unknown encoding/],
    ['short-file', seal(stored(Buffer.concat([meta(), fileRecord({ path: 'ca/x', mode: 0o600, data: x, size: 10 })]))), /the archive ends inside a record/],
    ['count', seal(stored(records(entries, { count: entries.length + 1 }))), /the archive ends after 10 of 11 files/],
    ['trailer', seal(stored(records(entries, { trailer: Buffer.from('more') }))), /bytes follow the end of the archive/],
    ['no-meta', seal(stored(Buffer.concat([fileRecord(entries[0]!)]))), /the archive does not begin with its description/],
  ];
  for (const [name, archive, message] of cases) refused(t, work, name, archive, 'BACKUP_INVALID', message);
  t.equal(statSync(join(work, 'bomb.wgb')).size < 8192, true, 'the bomb is small');
});
