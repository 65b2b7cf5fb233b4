import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { caPassphrase } from '../config/passphrase.ts';
import { dataDirLayout } from '../config/data-dir.ts';
import { CertificateAuthority } from '../pki/ca.ts';
import { WardgateError, isWardgateError } from '../errors.ts';
import { DataDirLock } from '../store/data-dir-lock.ts';

export const DEFAULT_DATA_DIR = 'wardgate-data';

export function dataDirOption(): Option {
  return new Option('-d, --data-dir <dir>', 'CA data directory (keys, certificates, store)')
    .env('WARDGATE_DATA_DIR').default(DEFAULT_DATA_DIR);
}

export function withDataDir(cmd: Command): Command {
  return cmd.addOption(dataDirOption());
}

/** Opens the CA of a data dir; dev-mode dirs (made by npm start / dev:certs) open with the dev passphrase. */
export async function openCa(dataDir: string): Promise<CertificateAuthority> {
  const dir = resolve(dataDir);
  const dev = existsSync(dataDirLayout(dir).devMarker);
  if (dev && !process.env.WARDGATE_CA_PASSPHRASE) process.stderr.write(`warning: ${dir} is a DEV-MODE data dir; its keys use a public passphrase\n`);
  return CertificateAuthority.open(dir, { passphrase: caPassphrase({ dev }) });
}

/**
 * Runs `fn` holding the data dir's lock: for the commands that rewrite CA files (see DataDirLock). `command`
 * names this process in the refusal others get ("wardgate ca rollover").
 */
export async function withDataDirLock<T>(dataDir: string, command: string, fn: () => Promise<T>): Promise<T> {
  const lock = DataDirLock.acquire(resolve(dataDir), command);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

/** Reads a file named by an option; a missing or unreadable one is a one-line CLI_ARGUMENT naming both. */
export function readArgumentFile(option: string, file: string): string {
  return readArgumentBytes(option, file).toString('utf8');
}

/** The same for files that may be binary (a DER CSR). */
export function readArgumentBytes(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new WardgateError('CLI_ARGUMENT', `cannot read ${option} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/** The directory an output file goes to must exist: checked before any work, so a typo costs nothing. */
export function assertOutputDir(option: string, file: string): void {
  const dir = dirname(resolve(file));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) fail(`cannot write ${option} ${file}: directory ${dir} does not exist`);
}

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function fail(message: string): never {
  throw new WardgateError('CLI_ARGUMENT', message);
}

/** Prints one clear line for any error and returns the exit code; stack traces only with WARDGATE_DEBUG. */
export function reportError(err: unknown): number {
  if (isWardgateError(err)) {
    process.stderr.write(`wardgate: error [${err.code}]: ${err.message}\n`);
  } else {
    process.stderr.write(`wardgate: unexpected error: ${(err as Error)?.message ?? String(err)}\n`);
  }
  if (process.env.WARDGATE_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  return isWardgateError(err) && err.code === 'CLI_ARGUMENT' ? 2 : 1;
}
