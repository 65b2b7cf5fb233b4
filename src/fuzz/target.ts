/**
 * What the fuzzer attacks. A target exposes the endpoint hostile clients connect to and, when the
 * fuzzer owns the process, what the oracles need: whether it exited (and its last stderr, whose first
 * stack frame locates a crash), its resident memory, and a restart after a crash or hang.
 * - AddressTarget: any peer at ADDR:PORT (a crash shows only as the port going dark);
 * - SpawnTarget: a command the fuzzer starts and restarts (`--spawn`), e.g. a vendor's SCP in a lab.
 * Route targets (a gateway route plus an instrumented backend) live in route-target.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { WardgateError } from '../errors.ts';
import { accepts, waitForListener as waitUntilListening } from '../net/wait-for-listener.ts';
import type { InstrumentedBackend } from './backend.ts';
import type { Protocol } from './exchange.ts';
import type { Endpoint } from './executor.ts';

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  /** Tail of the process's stderr (uncaught exception and stack). */
  stderr: string;
  at: number;
}

export interface TargetDescription {
  kind: 'address' | 'spawn' | 'route';
  protocol: Protocol;
  address?: string;
  command?: string;
  route?: string;
  config?: string;
  tls?: boolean;
}

export interface FuzzTarget {
  readonly protocol: Protocol;
  /** Where hostile clients (and the health probe) connect. */
  endpoint(): Endpoint;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Kill (if needed) and start again; false when this target cannot be restarted. */
  restart(): Promise<boolean>;
  /** Set once the process is seen to exit on its own. */
  exited(): ExitInfo | undefined;
  /** Resident set size in MiB, when the process is known. */
  rssMb(): number | undefined;
  /**
   * Memory the process still holds after a full GC (heap + external), MiB, when it can be asked. With
   * `maxAgeMs`, a reading of the same process at most that old may be returned instead of a new one.
   */
  retainedMb?(maxAgeMs?: number): Promise<number | undefined>;
  describe(): TargetDescription;
  /** Release everything (processes, backend, temp files); stop() only stops the process. */
  close?(): Promise<void>;
  /** Route targets: the instrumented backend behind the route. */
  readonly backend?: InstrumentedBackend;
}

export function rssOfPid(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Waits until the target listens; a target process that exits first fails at once (FUZZ_TARGET_FAILED). */
export async function waitForListener(host: string, port: number, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  try {
    await waitUntilListening(host, port, { timeoutMs, gone: () => (alive() ? undefined : `the target process exited before listening on ${host}:${port}`) });
  } catch (err) {
    throw new WardgateError('FUZZ_TARGET_FAILED', (err as Error).message);
  }
}

export class AddressTarget implements FuzzTarget {
  constructor(readonly protocol: Protocol, private readonly at: Endpoint) {}
  endpoint(): Endpoint { return this.at; }
  async start(): Promise<void> {
    await waitForListener(this.at.host, this.at.port, 5000);
  }
  async stop(): Promise<void> {}
  async restart(): Promise<boolean> { return false; }
  exited(): ExitInfo | undefined { return undefined; }
  rssMb(): number | undefined { return undefined; }
  describe(): TargetDescription {
    return { kind: 'address', protocol: this.protocol, address: `${this.at.host}:${this.at.port}`, tls: Boolean(this.at.tls) };
  }
}

/** Keep the last `max` characters of a stream. */
export function tail(max: number): { push(d: Buffer | string): void; text(): string } {
  let text = '';
  return {
    push(d) {
      text += d.toString();
      if (text.length > max * 2) text = text.slice(-max);
    },
    text: () => text.slice(-max),
  };
}

export class SpawnTarget implements FuzzTarget {
  private child: ChildProcess | undefined;
  private exit: ExitInfo | undefined;
  private stopping = false;

  constructor(readonly protocol: Protocol, private readonly at: Endpoint, private readonly command: string, private readonly cwd = process.cwd()) {}

  endpoint(): Endpoint { return this.at; }

  async start(): Promise<void> {
    this.exit = undefined;
    this.stopping = false;
    // Another process on the port would answer in place of the one started here.
    const busy = await accepts(this.at.host, this.at.port);
    if (busy) throw new WardgateError('FUZZ_TARGET_FAILED', `something already listens on ${this.at.host}:${this.at.port}; --spawn needs the target's port free`);
    // `exec` so the shell is replaced and the pid (for RSS and signals) is the target's own.
    const child = spawn('sh', ['-c', `exec ${this.command}`], { cwd: this.cwd, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.child = child;
    const err = tail(16_384);
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      if (!this.stopping) this.exit = { code, signal, stderr: err.text(), at: Date.now() };
      this.child = undefined;
    });
    await waitForListener(this.at.host, this.at.port, 20_000, () => this.child === child);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.stopping = true;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
    await gone;
    this.child = undefined;
  }

  async restart(): Promise<boolean> {
    await this.stop();
    await this.start();
    return true;
  }

  exited(): ExitInfo | undefined { return this.exit; }
  rssMb(): number | undefined { return rssOfPid(this.child?.pid); }
  describe(): TargetDescription {
    return { kind: 'spawn', protocol: this.protocol, address: `${this.at.host}:${this.at.port}`, command: this.command, tls: Boolean(this.at.tls) };
  }
}
