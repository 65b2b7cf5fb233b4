/**
 * A gateway route as a fuzz target: the route from the config runs in a child process (the real
 * src/proxy Gateway via route-runner.ts) or, for benchmarks, in this process; its listen address is
 * moved to a free loopback port and its upstream to an instrumented backend the fuzzer runs. Inbound
 * routes are attacked over TLS with the fuzzer's client certificate; outbound routes on their
 * plaintext side, and the backend presents the fuzzer's certificate to the gateway's TLS client.
 * With `plaintext` (`--plaintext`) the route runs in the TLS-free harness (route.ts WithoutTls): the
 * fuzzer reaches inbound routes, and the gateway the backend, in plaintext.
 */
import { X509Certificate } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WardgateError } from '../errors.ts';
import { Gateway } from '../proxy/gateway.ts';
import type { WithoutTls } from '../proxy/route.ts';
import { type GatewayConfig, type RouteConfig, parseAddress } from '../proxy/route-config.ts';
import { InstrumentedBackend } from './backend.ts';
import type { Protocol } from './exchange.ts';
import type { Endpoint } from './executor.ts';
import type { FuzzPeer } from './oracles.ts';
import { isLoopback } from '../net/loopback.ts';
import { checkScope } from './scope.ts';
import { type FuzzTarget, type TargetDescription, waitForListener } from './target.ts';
import { type ExitInfo, TargetProcess } from './target-process.ts';
import { freePort } from '../net/free-port.ts';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUNNER = join(REPO_ROOT, 'src', 'fuzz', 'route-runner.ts');
const WORKER = join(REPO_ROOT, 'src', 'fuzz', 'route-worker-loader.js');

export interface FuzzIdentity {
  /** PEM: the fuzzer's certificate chain and key (client certificate inbound, backend certificate outbound). */
  cert?: string;
  key?: string;
  /** PEM trust bundle for the gateway's certificate. */
  ca?: string;
}

export interface RouteTargetOptions {
  config: GatewayConfig;
  /** The config file, for reproducers. */
  configFile?: string;
  route: string;
  identity: FuzzIdentity;
  inProcess?: boolean;
  /**
   * In-process only: the gateway on a worker thread of this process (route-worker.ts), so the
   * fuzzer with its backend and the gateway each have an event loop and a core. The memory per
   * relayed byte is read from the thread's own heap; the resident-set bound is off (the thread has
   * no resident set of its own). A gateway exception ends its thread: an exit.
   */
  thread?: boolean;
  /** Tests: the module the worker thread runs instead of route-worker.ts (it gets `{ config }` as workerData). */
  workerEntry?: string;
  lab?: boolean;
  /**
   * The route's TLS side in plaintext (route.ts WithoutTls): execs go to the protocol handling
   * instead of a TLS handshake each. Inbound, the gateway takes the fuzzer for the names of --cert.
   */
  plaintext?: boolean;
}


/** The fuzzer's identity as the gateway sees it, for the policy oracle. */
export function peerFromCertificate(certPem: string | undefined, address: string): FuzzPeer {
  if (!certPem) return { address, subjects: [], sans: [] };
  const cert = new X509Certificate(certPem);
  const subjects = cert.subject.split('\n').filter((l) => l.startsWith('CN=')).map((l) => l.slice(3));
  const sans = (cert.subjectAltName ?? '').split(/,\s*/).map((p) => /^(DNS|IP Address):(.*)$/.exec(p.trim())).filter((m): m is RegExpExecArray => Boolean(m)).map((m) => (m[1] === 'DNS' ? m[2].toLowerCase() : m[2]));
  return { address, subjects, sans };
}

/**
 * Where the fuzzed copy of a route listens: the route's own address when it is a loopback address,
 * else 127.0.0.1. A name (`localhost`) is never kept: /etc/hosts may map it off this host.
 */
export function fuzzListenHost(listen: string): string {
  const host = parseAddress(listen).host;
  return net.isIP(host) !== 0 && isLoopback(host) ? host : '127.0.0.1';
}

export class RouteTarget implements FuzzTarget {
  readonly protocol: Protocol;
  readonly backend: InstrumentedBackend;
  readonly route: RouteConfig;
  private fuzzConfig: GatewayConfig | undefined;
  private listen: { host: string; port: number } | undefined;
  private process: TargetProcess | undefined;
  private gateway: Gateway | undefined;
  private worker: { thread: Worker; gone: Promise<void>; stopping: boolean } | undefined;
  /** In-process mode: an uncaught exception stands for the gateway's crash. */
  private uncaught: ExitInfo | undefined;
  private workDir: string | undefined;
  private nextRetained = 1;
  /** The last reading: each costs the gateway two full GCs (route-runner.ts), so baselines reuse it. */
  private lastRetained: { from: object; mb: number; at: number } | undefined;
  private readonly pendingRetained = new Map<number, (bytes: number | undefined) => void>();
  private readonly onUncaught = (err: Error) => {
    this.uncaught ??= { code: null, signal: null, stderr: `Uncaught ${err.stack ?? String(err)}`, at: Date.now() };
  };

  constructor(private readonly o: RouteTargetOptions) {
    const route = o.config.routes.find((r) => r.name === o.route);
    if (!route) throw new WardgateError('CLI_ARGUMENT', `no route named "${o.route}" in ${o.configFile ?? 'the config'} (routes: ${o.config.routes.map((r) => r.name).join(', ')})`);
    this.route = route;
    this.protocol = route.protocol;
    checkScope(fuzzListenHost(route.listen), Boolean(o.lab));
    if (route.direction === 'inbound' && (route.tls.clientAuth ?? 'required') === 'required' && (!o.identity.cert || (!o.identity.key && !o.plaintext))) {
      throw new WardgateError('CLI_ARGUMENT', o.plaintext
        ? `route ${route.name} requires a client certificate: give --cert, whose names the gateway takes the fuzzer for (--plaintext)`
        : `route ${route.name} requires a client certificate: give --cert and --key (issued by the route's trust bundle)`);
    }
    if (route.direction === 'outbound' && !o.plaintext && (!o.identity.cert || !o.identity.key)) {
      throw new WardgateError('CLI_ARGUMENT', `route ${route.name} is outbound: the instrumented backend needs --cert and --key valid for the route's upstream name`);
    }
    // On the route's own loopback address when it has one: any process on the host may connect to
    // 127.0.0.1, and the backend takes every connection for the gateway's.
    const listenHost = fuzzListenHost(route.listen);
    const backendHost = net.isIPv4(listenHost) ? listenHost : '127.0.0.1';
    this.backend = new InstrumentedBackend({ protocol: route.protocol, host: backendHost, tls: route.direction === 'outbound' && !o.plaintext ? { cert: o.identity.cert!, key: o.identity.key!, ca: o.identity.ca } : undefined });
  }

  /** The harness option for the gateway (route.ts WithoutTls), when fuzzing without TLS. */
  private withoutTls(): WithoutTls | undefined {
    if (!this.o.plaintext) return undefined;
    const { subjects, sans } = this.peer();
    return { peer: { subjects, sans } };
  }

  /** Who the fuzzer's client is on this route (certificate names only count on TLS, i.e. inbound). */
  peer(): FuzzPeer {
    return peerFromCertificate(this.route.direction === 'inbound' ? this.o.identity.cert : undefined, '127.0.0.1');
  }

  endpoint(): Endpoint {
    const at = this.listen!;
    if (this.route.direction === 'outbound' || this.o.plaintext) return { host: at.host, port: at.port };
    return { host: at.host, port: at.port, tls: { ca: this.o.identity.ca, cert: this.o.identity.cert, key: this.o.identity.key, servername: at.host } };
  }

  async start(): Promise<void> {
    if (!this.fuzzConfig) {
      const backendAt = await this.backend.start();
      const original = parseAddress(this.route.upstream);
      const listenHost = fuzzListenHost(this.route.listen);
      this.listen = { host: listenHost, port: await freePort(listenHost) };
      const tls = { ...this.route.tls };
      // The backend stands in for the real upstream: keep verifying the upstream's original name.
      if (this.route.direction === 'outbound') tls.serverName ??= original.host;
      const route: RouteConfig = { ...this.route, listen: `${listenHost}:${this.listen.port}`, upstream: `${backendAt.host}:${backendAt.port}`, tls };
      // No audit sinks or metrics listener: the fuzzer must not flood a real syslog collector.
      this.fuzzConfig = { routes: [route] };
    }
    this.uncaught = undefined;
    if (this.o.inProcess && this.o.thread) return this.startWorker(this.fuzzConfig);
    if (this.o.inProcess) {
      process.on('uncaughtException', this.onUncaught);
      this.gateway = new Gateway(this.fuzzConfig, { log: () => undefined, withoutTls: this.withoutTls() });
      await this.gateway.start();
      return;
    }
    this.workDir ??= mkdtempSync(join(tmpdir(), 'wardgate-fuzz-route-'));
    const file = join(this.workDir, 'gateway.json');
    writeFileSync(file, JSON.stringify(this.fuzzConfig));
    const withoutTls = this.withoutTls();
    const started = new TargetProcess(process.execPath, ['--expose-gc', '--import', 'tsx', RUNNER, file, ...(withoutTls ? [JSON.stringify(withoutTls)] : [])], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    started.child.on('message', (m: { type?: string; id?: number; bytes?: number }) => this.onRetained(m));
    this.process = started;
    await waitForListener(this.listen!.host, this.listen!.port, 30_000, () => started.alive);
  }

  private async startWorker(config: GatewayConfig): Promise<void> {
    const entry = this.o.workerEntry ? pathToFileURL(this.o.workerEntry).href : undefined;
    const thread = new Worker(WORKER, { workerData: { config, entry, withoutTls: this.withoutTls() } });
    const w = { thread, stopping: false, gone: new Promise<void>((resolve) => thread.once('exit', () => resolve())) };
    this.worker = w;
    let listening = false;
    thread.on('message', (m: { type?: string; id?: number; bytes?: number }) => this.onRetained(m));
    await new Promise<void>((resolve, reject) => {
      thread.on('message', (m: { type?: string }) => {
        if (m?.type !== 'ready') return;
        listening = true;
        resolve();
      });
      // Once listening, the thread's end is the gateway's crash (an exception it did not catch, or
      // an exit it did not ask for); before, a start that failed, as gateway.start() would throw.
      thread.on('error', (err: Error) => {
        if (listening) this.uncaught ??= { code: null, signal: null, stderr: `Uncaught ${err.stack ?? String(err)}`, at: Date.now() };
        else reject(new WardgateError('FUZZ_TARGET_FAILED', `the gateway worker thread failed to start: ${err.message}`, { cause: err }));
      });
      thread.once('exit', (code) => {
        if (listening && !w.stopping) this.uncaught ??= { code, signal: null, stderr: `gateway worker thread exited with code ${code}`, at: Date.now() };
        if (!listening) reject(new WardgateError('FUZZ_TARGET_FAILED', `the gateway worker thread exited (code ${code}) before listening`));
      });
    });
  }

  private async stopWorker(): Promise<void> {
    const w = this.worker!;
    this.worker = undefined;
    w.stopping = true;
    // Close the listener and connections gracefully; a thread that does not answer in time is terminated.
    let timer: NodeJS.Timeout | undefined;
    const stopped = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 5000);
      w.thread.on('message', (m: { type?: string }) => { if (m?.type === 'stopped') resolve(); });
    });
    w.thread.postMessage({ type: 'stop' });
    await Promise.race([stopped, w.gone]);
    clearTimeout(timer);
    await w.thread.terminate();
    await w.gone;
  }

  async stop(): Promise<void> {
    if (this.worker) await this.stopWorker();
    if (this.gateway) {
      const g = this.gateway;
      this.gateway = undefined;
      await g.stop();
      process.removeListener('uncaughtException', this.onUncaught);
    }
    await this.process?.kill();
  }

  /** Stop everything, backend included, and remove the generated config. */
  async close(): Promise<void> {
    await this.stop();
    await this.backend.stop();
    if (this.workDir) rmSync(this.workDir, { recursive: true, force: true });
  }

  async restart(): Promise<boolean> {
    await this.stop();
    await this.start();
    return true;
  }

  exited(): ExitInfo | undefined { return this.uncaught ?? this.process?.exited(); }

  /**
   * The gateway's heap + external memory after a forced GC: over IPC from its process (child mode),
   * or by message from its thread (thread mode, that isolate's own figures). undefined in-process.
   */
  async retainedMb(maxAgeMs = 0): Promise<number | undefined> {
    const worker = this.worker;
    const target = this.process;
    let from: object;
    let ask: (message: { type: 'retained'; id: number }) => void;
    if (worker && !worker.stopping) {
      from = worker;
      ask = (message) => worker.thread.postMessage(message);
    } else if (target?.alive && target.child.connected) {
      from = target;
      ask = (message) => target.child.send(message);
    } else {
      return undefined;
    }
    const last = this.lastRetained;
    if (last && last.from === from && Date.now() - last.at <= maxAgeMs) return last.mb;
    const mb = await this.askRetained(ask);
    if (mb !== undefined) this.lastRetained = { from, mb, at: Date.now() };
    return mb;
  }

  private onRetained(m: { type?: string; id?: number; bytes?: number }): void {
    if (m?.type !== 'retained' || m.id === undefined) return;
    this.pendingRetained.get(m.id)?.(m.bytes);
    this.pendingRetained.delete(m.id);
  }

  private async askRetained(ask: (message: { type: 'retained'; id: number }) => void): Promise<number | undefined> {
    const id = this.nextRetained++;
    const bytes = await new Promise<number | undefined>((resolve) => {
      const timer = setTimeout(() => { this.pendingRetained.delete(id); resolve(undefined); }, 5000);
      this.pendingRetained.set(id, (b) => { clearTimeout(timer); resolve(b); });
      ask({ type: 'retained', id });
    });
    return bytes === undefined ? undefined : bytes / (1024 * 1024);
  }

  rssMb(): number | undefined {
    return this.process?.rssMb();
  }

  describe(): TargetDescription {
    if (this.o.plaintext) return { kind: 'route', protocol: this.protocol, route: this.route.name, config: this.o.configFile, tls: false, plaintext: true };
    return { kind: 'route', protocol: this.protocol, route: this.route.name, config: this.o.configFile, tls: this.route.direction === 'inbound' };
  }
}
