/**
 * What the fuzzer attacks. A target exposes the endpoint hostile clients connect to and, when the
 * fuzzer owns the process, what the oracles need: whether it exited (and its last stderr, whose first
 * stack frame locates a crash), its resident memory, and a restart after a crash or hang.
 * - AddressTarget: any peer at ADDR:PORT (a crash shows only as the port going dark);
 * - SpawnTarget: a command the fuzzer starts and restarts (`--spawn`), e.g. a vendor's SCP in a lab.
 * Route targets (a gateway route plus an instrumented backend) live in route-target.ts.
 */
import { withoutSecrets } from '../config/secret-env.ts';
import { WardgateError } from '../errors.ts';
import { accepts, waitForListener as waitUntilListening } from '../net/wait-for-listener.ts';
import type { InstrumentedBackend } from './backend.ts';
import type { Protocol } from './exchange.ts';
import type { Endpoint } from './executor.ts';
import { type ExitInfo, TargetProcess } from './target-process.ts';
import { type LookupAll, checkScopeResolved } from './scope.ts';
import { hostPort } from '../net/host-port.ts';

export { type ExitInfo, rssOfPid } from './target-process.ts';

export interface TargetDescription {
  kind: 'address' | 'spawn' | 'route';
  protocol: Protocol;
  address?: string;
  command?: string;
  route?: string;
  config?: string;
  tls?: boolean;
  /** Route targets: fuzzed in the TLS-free harness (`--plaintext`), so replayed the same way. */
  plaintext?: boolean;
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

/** Waits until the target listens; a target process that exits first fails at once (FUZZ_TARGET_FAILED). */
export async function waitForListener(host: string, port: number, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  try {
    await waitUntilListening(host, port, { timeoutMs, gone: () => (alive() ? undefined : `the target process exited before listening on ${host}:${port}`) });
  } catch (err) {
    throw new WardgateError('FUZZ_TARGET_FAILED', (err as Error).message);
  }
}

/** The --lab gate as the target applies it before its first connection; `lookup` is for tests. */
export interface TargetScope {
  lab?: boolean;
  lookup?: LookupAll;
}

export class AddressTarget implements FuzzTarget {
  private scoped: Promise<void> | undefined;

  constructor(readonly protocol: Protocol, private readonly at: Endpoint, private readonly scope: TargetScope = {}) {}
  endpoint(): Endpoint { return this.at; }
  async start(): Promise<void> {
    await (this.scoped ??= checkScopeResolved(this.at.host, Boolean(this.scope.lab), { lookup: this.scope.lookup }));
    await waitForListener(this.at.host, this.at.port, 5000);
  }
  async stop(): Promise<void> {}
  async restart(): Promise<boolean> { return false; }
  exited(): ExitInfo | undefined { return undefined; }
  rssMb(): number | undefined { return undefined; }
  describe(): TargetDescription {
    return { kind: 'address', protocol: this.protocol, address: hostPort(this.at.host, this.at.port), tls: Boolean(this.at.tls) };
  }
}

export class SpawnTarget implements FuzzTarget {
  private process: TargetProcess | undefined;
  private scoped: Promise<void> | undefined;

  constructor(readonly protocol: Protocol, private readonly at: Endpoint, private readonly command: string, private readonly cwd = process.cwd(), private readonly scope: TargetScope = {}) {}

  endpoint(): Endpoint { return this.at; }

  async start(): Promise<void> {
    this.process = undefined;
    await (this.scoped ??= checkScopeResolved(this.at.host, Boolean(this.scope.lab), { lookup: this.scope.lookup }));
    // Another process on the port would answer in place of the one started here.
    const busy = await accepts(this.at.host, this.at.port);
    if (busy) throw new WardgateError('FUZZ_TARGET_FAILED', `something already listens on ${this.at.host}:${this.at.port}; --spawn needs the target's port free`);
    // `exec` so the shell is replaced and the pid (for RSS and signals) is the target's own. The target is
    // a vendor's program whose stderr goes into findings: it gets none of the operator's secrets.
    const started = new TargetProcess('sh', ['-c', `exec ${this.command}`], { cwd: this.cwd, env: withoutSecrets(), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.process = started;
    await waitForListener(this.at.host, this.at.port, 20_000, () => started.alive);
  }

  async stop(): Promise<void> {
    await this.process?.kill();
  }

  async restart(): Promise<boolean> {
    await this.stop();
    await this.start();
    return true;
  }

  exited(): ExitInfo | undefined { return this.process?.exited(); }
  rssMb(): number | undefined { return this.process?.rssMb(); }
  describe(): TargetDescription {
    return { kind: 'spawn', protocol: this.protocol, address: hostPort(this.at.host, this.at.port), command: this.command, tls: Boolean(this.at.tls) };
  }
}
