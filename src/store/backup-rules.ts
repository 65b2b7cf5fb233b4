/** What a backup archive may hold, whatever its format: shared by `backup` (writing) and `restore` (reading). */

export const STORE_FILE = 'wardgate.db';
/** Every archive format begins with this; a file that does is never packed into another archive. */
export const FAMILY = Buffer.from('WARDGATE-BACKUP-');
/**
 * A CA's deepest file is ca/keys/<id>.key.pem. Unbounded depth let a small archive name thousands of nested
 * directories per entry, each created and fsynced, with quadratic bookkeeping: hours and gigabytes.
 */
export const MAX_DEPTH = 8;
/** NAME_MAX of Linux file systems: a longer name fails at open with ENAMETOOLONG after earlier entries were written. */
const MAX_NAME = 255;

/**
 * Why an archive path must not be restored, or undefined. An archive holds ca/... and plain files at the
 * top of the data dir, nothing else: no hidden top-level names (the data-dir lock, and the staging dirs of
 * DataDirStaging, whose leftovers the next init or restore acts on), no SQLite side files next to the
 * store (a crafted -wal would change the store after its check), nothing outside the data dir.
 */
export function pathProblem(path: string): string | undefined {
  const parts = path.split('/');
  if (path.includes('\0')) return 'a name with a NUL byte';
  // Paths end up in messages on the operator's terminal: no line breaks or escape sequences.
  if (/[\u0001-\u001f\u007f-\u009f]/.test(path)) return 'a name with a control character';
  if (parts.length > MAX_DEPTH) return `deeper than ${MAX_DEPTH} segments`;
  if (parts.some((p) => Buffer.byteLength(p) > MAX_NAME)) return `a name longer than ${MAX_NAME} bytes`;
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return 'an absolute path or an empty, "." or ".." segment';
  if (parts[0] === 'ca') return parts.length > 1 ? undefined : 'ca as a file';
  if (parts.length > 1) return 'a directory other than ca/';
  if (path.startsWith('.')) return 'a hidden file at the top of the data dir';
  if (path !== STORE_FILE && path.startsWith(STORE_FILE)) return 'a store side file';
  return undefined;
}

/** Keys are private whatever the archive says; nothing restored is executable, setuid or writable by others. */
export function restoredMode(path: string, mode: number): number {
  return path.startsWith('ca/keys/') || path === 'ca/ca.json' || path === STORE_FILE ? 0o600 : (mode & 0o644) | 0o600;
}

/**
 * The files ca/ca.json needs: root and issuer certificates, issuer keys, and the root key unless the root
 * was taken offline. Missing ones are named; checked when writing an archive and again before restoring.
 */
export function missingCaFiles(caJson: Buffer | undefined, has: (path: string) => boolean): string[] {
  let meta: { root?: { id?: unknown; offline?: unknown }; issuers?: Array<{ id?: unknown }> };
  try {
    meta = JSON.parse(caJson!.toString('utf8'));
  } catch {
    return ['a readable ca/ca.json'];
  }
  if (typeof meta?.root?.id !== 'string' || !Array.isArray(meta.issuers)) return ['a valid ca/ca.json'];
  const needed = ['ca/root.pem', ...(meta.root.offline === true ? [] : [`ca/keys/${meta.root.id}.key.pem`])];
  for (const i of meta.issuers) needed.push(`ca/issuers/${String(i?.id)}.pem`, `ca/keys/${String(i?.id)}.key.pem`);
  return needed.filter((p) => !has(p));
}
