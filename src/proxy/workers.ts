/**
 * Multi-process mode (`--workers N`): N worker processes share each route's listening socket (the
 * kernel spreads accepted connections, cluster.SCHED_NONE), so TLS handshakes and relaying use every
 * core. The primary owns what must exist once: ACME certificate managers (credentials are sent to the
 * workers at start and on every renewal), the metrics endpoint (it sums the workers' series), and
 * signal handling. Connection limits apply per worker.
 */
import cluster, { type Worker } from 'node:cluster';
import type http from 'node:http';
import { startAcmeRoutes } from './cert-manager/acme-routes.ts';
import type { Credentials } from './credentials.ts';
import { Gateway } from './gateway.ts';
import { metricsAuth, startMetricsServer } from './metrics-server.ts';
import { type GatewayConfig, parseAddress } from './route-config.ts';

type ToWorker =
  | { type: 'start'; config: GatewayConfig; credentials: Array<[string, Credentials]> }
  | { type: 'credentials'; route: string; credentials: Credentials }
  | { type: 'metrics'; id: number }
  | { type: 'reopen-audit' }
  | { type: 'stop' };

type ToPrimary = { type: 'hello' } | { type: 'ready'; lines: string[] } | { type: 'metrics'; id: number; text: string } | { type: 'failed'; message: string };

/** Sum the samples of several Prometheus text expositions series by series (HELP/TYPE kept once). */
export function mergeExpositions(texts: string[]): string {
  const order: string[] = [];
  const sums = new Map<string, number>();
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (!line) continue;
      if (line.startsWith('#')) {
        if (!sums.has(line)) { sums.set(line, NaN); order.push(line); }
        continue;
      }
      const at = line.lastIndexOf(' ');
      const series = line.slice(0, at);
      const value = Number(line.slice(at + 1));
      if (!sums.has(series)) { sums.set(series, 0); order.push(series); }
      // Certificate expiry and CRL due dates are gauges identical in every worker: keep one value.
      sums.set(series, series.startsWith('wardgate_certificate_expiry_seconds') || series.startsWith('wardgate_crl_next_update_seconds') ? value : sums.get(series)! + value);
    }
  }
  return `${order.map((k) => (k.startsWith('#') ? k : `${k} ${sums.get(k)}`)).join('\n')}\n`;
}

/** Worker side: wait for the primary's config and credentials, run the gateway, follow instructions. */
export function runWorker(): Promise<void> {
  return new Promise((resolve) => {
    let gateway: Gateway | undefined;
    process.on('message', async (msg: ToWorker) => {
      if (msg.type === 'start') {
        gateway = new Gateway({ ...msg.config, metrics: undefined }, { credentials: new Map(msg.credentials) });
        try {
          await gateway.start();
          const lines = gateway.routes.map((r) => `route ${r.config.name} ${r.config.direction} ${r.config.protocol} on ${r.config.listen} -> ${r.config.upstream}`);
          process.send!({ type: 'ready', lines } satisfies ToPrimary);
        } catch (err) {
          process.send!({ type: 'failed', message: (err as Error).message } satisfies ToPrimary);
          resolve();
        }
      } else if (msg.type === 'credentials') {
        gateway?.route(msg.route)?.updateCredentials(msg.credentials);
      } else if (msg.type === 'metrics') {
        process.send!({ type: 'metrics', id: msg.id, text: gateway?.metrics.render() ?? '' } satisfies ToPrimary);
      } else if (msg.type === 'reopen-audit') {
        gateway?.auditor.reopen();
      } else if (msg.type === 'stop') {
        await gateway?.stop();
        resolve();
      }
    });
    // IPC messages that arrive before a listener exists are lost: ask for the config only now.
    process.send!({ type: 'hello' } satisfies ToPrimary);
  });
}

export interface PrimaryHandle {
  /** Lines describing the routes, once every worker listens. */
  lines: string[];
  /** Every worker starts new audit files at the configured paths (after log rotation). */
  reopenAuditFiles(): void;
  stop(): Promise<void>;
}

/** Primary side: ACME, fork, metrics aggregation. Resolves when all workers listen. */
export async function startPrimary(config: GatewayConfig, workers: number, log: (m: string) => void): Promise<PrimaryHandle> {
  const acme = await startAcmeRoutes(config, log);
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const pool: Worker[] = [];
  const pending = new Map<number, { texts: string[]; resolve: (t: string) => void }>();
  let nextId = 1;
  const ready = Promise.all(Array.from({ length: workers }, () => {
    const worker = cluster.fork({ WARDGATE_WORKER: '1' });
    pool.push(worker);
    return new Promise<string[]>((resolve, reject) => {
      worker.on('message', (msg: ToPrimary) => {
        if (msg.type === 'hello') worker.send({ type: 'start', config, credentials: [...acme.credentials] } satisfies ToWorker);
        else if (msg.type === 'ready') resolve(msg.lines);
        else if (msg.type === 'failed') reject(new Error(msg.message));
        else if (msg.type === 'metrics') {
          const p = pending.get(msg.id);
          if (!p) return;
          p.texts.push(msg.text);
          if (p.texts.length === pool.length) { pending.delete(msg.id); p.resolve(mergeExpositions(p.texts)); }
        }
      });
      worker.once('exit', (code) => reject(new Error(`worker ${worker.id} exited with ${code}`)));
    });
  }));
  let lines: string[];
  try {
    lines = (await ready)[0];
  } catch (err) {
    for (const w of pool) w.kill();
    await acme.stop();
    throw err;
  }
  for (const [name, manager] of acme.managers) {
    manager.onChange((credentials) => { for (const w of pool) w.send({ type: 'credentials', route: name, credentials } satisfies ToWorker); });
  }
  let metricsServer: http.Server | undefined;
  if (config.metrics) {
    const scrape = () => new Promise<string>((resolve) => {
      const id = nextId++;
      pending.set(id, { texts: [], resolve });
      for (const w of pool) w.send({ type: 'metrics', id } satisfies ToWorker);
      setTimeout(() => { const p = pending.get(id); if (p) { pending.delete(id); resolve(mergeExpositions(p.texts)); } }, 2000).unref();
    });
    metricsServer = await startMetricsServer({ render: scrape }, parseAddress(config.metrics.listen, 'metrics.listen'), { ...metricsAuth(config.metrics), log });
  }
  return {
    lines,
    reopenAuditFiles() {
      for (const w of pool) if (!w.isDead()) w.send({ type: 'reopen-audit' } satisfies ToWorker);
    },
    async stop() {
      await Promise.all(pool.map((w) => new Promise<void>((resolve) => {
        if (w.isDead()) return resolve();
        w.once('exit', () => resolve());
        w.send({ type: 'stop' } satisfies ToWorker);
        setTimeout(() => w.kill('SIGKILL'), 10_000).unref();
      })));
      await acme.stop();
      if (metricsServer) { metricsServer.closeAllConnections(); await new Promise<void>((r) => metricsServer!.close(() => r())); }
    },
  };
}
