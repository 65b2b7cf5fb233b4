import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { dataDirLayout } from '../config/data-dir.ts';
import { WardgateError } from '../errors.ts';
import { fsyncDir, writeFileAtomic } from './atomic-file.ts';
import { DataDirLock, isLockFile } from './data-dir-lock.ts';

const PREFIX = '.wardgate-staging-';
/** Written into a staging dir once its content is complete, listing what is about to move out of it. */
const MOVING = '.moving.json';

function isStagingName(name: string): boolean {
  return name.startsWith(PREFIX);
}

/**
 * Fills a data dir (`wardgate init`, `wardgate restore`) so that a kill -9 at any moment leaves either no
 * CA or a complete one, never a mix that `serve` would start with. The content is built in a staging dir
 * inside the data dir (same file system, so moving is a rename, also when the data dir is a mount point),
 * then moved in with `ca/` last: every command finds a CA through ca/ca.json, so until that rename the
 * data dir holds no CA. A staging dir left by a killed run is cleared by the next `begin`: one still being
 * built is deleted; one whose moves had begun is rolled back (what it had moved in is removed again).
 * All of it happens under the data dir's lock (DataDirLock): a second init or restore, or a running serve,
 * must never see, roll back or replace a staging dir that is still being built.
 */
export class DataDirStaging {
  private constructor(readonly dir: string, readonly path: string, private readonly createdDir: boolean, private readonly lock: DataDirLock) {}

  /**
   * Refuses (DATA_DIR_EXISTS) a data dir that holds CA files, or with `empty` any file: nothing here ever
   * overwrites them. Refuses (DATA_DIR_LOCKED) a data dir another process holds; `command` names this one
   * to others ("wardgate init").
   */
  static begin(dir: string, opts: { command: string; empty?: boolean }): DataDirStaging {
    const createdDir = !existsSync(dir);
    const lock = DataDirLock.acquire(dir, opts.command, { create: true });
    try {
      for (const name of readdirSync(dir).filter(isStagingName)) rollBack(dir, join(dir, name));
      assertNoCaFiles(dir);
      if (opts.empty && readdirSync(dir).some((name) => !isLockFile(name))) {
        throw new WardgateError('DATA_DIR_EXISTS', `${dir} is not empty; restore only into an empty or new directory`);
      }
      return new DataDirStaging(dir, mkdtempSync(join(dir, PREFIX)), createdDir, lock);
    } catch (err) {
      lock.release();
      removeIfMadeEmpty(dir, createdDir);
      throw err;
    }
  }

  /** Moves the staged content into the data dir; the rename of `ca/` is the commit point. */
  commit(): void {
    const names = readdirSync(this.path);
    if (!names.includes('ca')) throw new WardgateError('DATA_DIR_MISSING', `nothing to commit: ${this.path} holds no ca/ directory`);
    assertNoCaFiles(this.dir);
    writeFileAtomic(join(this.path, MOVING), JSON.stringify(names), 0o600);
    for (const name of names.filter((n) => n !== 'ca')) renameSync(join(this.path, name), join(this.dir, name));
    // The store must be in place (durably) before the CA appears.
    fsyncDir(this.dir);
    renameSync(join(this.path, 'ca'), join(this.dir, 'ca'));
    fsyncDir(this.dir);
    rmSync(this.path, { recursive: true, force: true });
    this.lock.release();
  }

  /** After a failure before `commit`: removes the staged content (and the data dir if `begin` made it). */
  abandon(): void {
    rmSync(this.path, { recursive: true, force: true });
    this.lock.release();
    removeIfMadeEmpty(this.dir, this.createdDir);
  }
}

function removeIfMadeEmpty(dir: string, createdDir: boolean): void {
  if (!createdDir || !existsSync(dir) || readdirSync(dir).length > 0) return;
  try {
    rmdirSync(dir);
  } catch (err) {
    // Another command has begun to use the directory since: it is theirs now.
    if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw err;
  }
}

function rollBack(dir: string, staging: string): void {
  const marker = join(staging, MOVING);
  // Without the marker nothing has moved yet; once ca/ has moved the commit was complete. With a CA in
  // the data dir this is no interrupted commit of ours (that one moves ca/ last): its list is not trusted
  // to remove anything there, whatever put it in place.
  if (existsSync(marker) && existsSync(join(staging, 'ca')) && !existsSync(dataDirLayout(dir).caMeta)) {
    const names = JSON.parse(readFileSync(marker, 'utf8')) as string[];
    for (const name of names) {
      // Moved in by the interrupted commit: `begin` had made sure no such entry existed before it.
      if (basename(name) === name && !existsSync(join(staging, name))) rmSync(join(dir, name), { recursive: true, force: true });
    }
    fsyncDir(dir);
  }
  rmSync(staging, { recursive: true, force: true });
}

function assertNoCaFiles(dir: string): void {
  const layout = dataDirLayout(dir);
  if (existsSync(layout.caMeta)) throw new WardgateError('DATA_DIR_EXISTS', `${dir} already holds a CA (${layout.caMeta}); refusing to overwrite it`);
  const present = [layout.ca, layout.store, `${layout.store}-wal`, layout.devMarker].filter((p) => existsSync(p));
  if (present.length > 0) {
    throw new WardgateError('DATA_DIR_EXISTS', `${dir} holds CA files (${present.map((p) => basename(p)).join(', ')}) but no ca/ca.json: a damaged CA or one made by an interrupted older wardgate; nothing was changed. Move them away to use this directory`);
  }
}
