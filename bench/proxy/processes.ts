/**
 * Process plumbing shared by the proxy benches (run.ts, stream.ts): finding a peer's binary, starting
 * it and waiting until it is ready, running a client to completion, and reading CPU time from /proc.
 * Every child started here is killed when the bench process exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';

export const children: ChildProcess[] = [];

/** PATH, then the sbin directories a non-root PATH on Debian lacks (haproxy lives in /usr/sbin). */
export function bin(name: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`${name} is not installed (apt-get install dcmtk stunnel4 haproxy)`);
}

/** Starts a long-running peer; resolves once its output matches `readyPattern` (at once without one). */
export function start(cmd: string, args: string[], readyPattern?: RegExp): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start: ${out}`)), 20_000);
    child.once('exit', (code) => reject(new Error(`${cmd} exited ${code}: ${out}`)));
    const check = () => {
      if (!readyPattern || readyPattern.test(out)) {
        clearTimeout(timer);
        resolve(child);
      } else setTimeout(check, 50);
    };
    check();
  });
}

export async function waitPort(host: string, port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect({ host, port });
      s.once('connect', () => { s.destroy(); r(true); });
      s.once('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing on ${host}:${port}`);
}

/** Runs a client to its end: exit code, wall time and output. */
export function run(cmd: string, args: string[]): Promise<{ code: number | null; ms: number; out: string }> {
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, ms: Number(process.hrtime.bigint() - t0) / 1e6, out })));
}

const TICKS_PER_SECOND = 100; // USER_HZ: /proc times are in 1/100 s on Linux

/** User and system CPU seconds of one process (all threads), from /proc. */
export function cpuTimes(pid: number): { user: number; sys: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(f[11]) / TICKS_PER_SECOND, sys: Number(f[12]) / TICKS_PER_SECOND };
}

/** Child processes of a pid (the cluster workers), from /proc. */
export function workerPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds (user + system) of a process and its child processes. */
export function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.sys + workerPids(pid).reduce((sum, child) => sum + cpuSeconds(child), 0);
}
