import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/wardgate.js', import.meta.url));

export interface CliResult { status: number | null; stdout: string; stderr: string }

/** Runs the real `wardgate` entry point (as `npx wardgate` does) with a clean, explicit environment. */
export function wardgate(args: string[], env: Record<string, string | undefined> = {}, input?: string): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8', input, timeout: 120_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `wardgate backup` of `dir` into `archive`, then `wardgate restore` of it into `target`: both results. */
export function backupAndRestore(dir: string, archive: string, target: string, env: Record<string, string | undefined>): { backup: CliResult; restore: CliResult } {
  const backup = wardgate(['backup', '-d', dir, '--out', archive], env);
  return { backup, restore: backup.status === 0 ? wardgate(['restore', '-d', target, '--from', archive], env) : backup };
}
