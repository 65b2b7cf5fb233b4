/**
 * A target process the fuzzer starts itself (`--spawn` commands, gateway routes in child mode): the
 * tail of its stderr and an exit the fuzzer did not ask for are what the crash oracle reports; a
 * kill the fuzzer asked for (stop, restart) is not a finding.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  /** Tail of the process's stderr (uncaught exception and stack). */
  stderr: string;
  at: number;
}

/** Stderr kept per process: enough for a Node stack trace, bounded whatever the target prints. */
const STDERR_TAIL = 16_384;

export class TargetProcess {
  readonly child: ChildProcess;
  private exit: ExitInfo | undefined;
  private running = true;
  private stopping = false;
  private readonly gone: Promise<void>;
  private readonly group: boolean;

  /** stdio[2] must be 'pipe'; `detached` makes the process a group leader, so kill() ends its children too. */
  constructor(command: string, args: string[], options: SpawnOptions) {
    const child = spawn(command, args, options);
    this.child = child;
    this.group = Boolean(options.detached);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > STDERR_TAIL * 2) stderr = stderr.slice(-STDERR_TAIL);
    });
    this.gone = new Promise((resolve) => child.once('exit', (code, signal) => {
      this.running = false;
      if (!this.stopping) this.exit = { code, signal, stderr: stderr.slice(-STDERR_TAIL), at: Date.now() };
      resolve();
    }));
  }

  /** Still running (not exited, not killed). */
  get alive(): boolean {
    return this.running;
  }

  /** Set when the process exited on its own (a crash, for the oracle). */
  exited(): ExitInfo | undefined {
    return this.exit;
  }

  /** SIGKILL (the whole group when detached) and wait for the exit; not recorded as a crash. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.stopping = true;
    try {
      if (this.group) process.kill(-this.child.pid!, 'SIGKILL');
      else this.child.kill('SIGKILL');
    } catch {
      this.child.kill('SIGKILL');
    }
    await this.gone;
  }

  /** Resident set size in MiB while running. */
  rssMb(): number | undefined {
    return this.running ? rssOfPid(this.child.pid) : undefined;
  }
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
