/**
 * Format 3 (chunked): chunks of a real archive reordered, dropped, repeated or cut off are refused even
 * when whoever did it also fixed up the length in the header; archives crafted by someone who knows the
 * passphrase get every check restore makes, decided per entry before its bytes are written, including the
 * size limits that replace format 2's decompressed-size bound. The data dir is never created.
 */
import t, { type Test } from 'tap';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { wardgate } from '../helpers/cli.ts';
import { FIXED, HEADER, MAGIC, MIB, ONE_LINE, assemble, env, fileRecord, framesOf, makeCa, meta, records, seal, stored } from './fixtures/backup-v3.ts';

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
  const { work, dir } = makeCa(t, 'Stream', 4);
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
  const { work, entries } = makeCa(t, 'Stream');
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
