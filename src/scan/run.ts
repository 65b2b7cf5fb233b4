/**
 * One scan from options to written report: parse targets, build the scanner, stream NDJSON or
 * collect and render the chosen format, diff against a baseline. The CLI only parses flags into
 * RunOptions; tests and the bench call runScan directly.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { WardgateError } from '../errors.ts';
import { aeTitleField } from '../protocols/dicom/index.ts';
import { loadAdvisories } from './advisories.ts';
import { loadAnchors } from './certificate.ts';
import { DEFAULT_EXPIRY, type ExpiryPolicy } from './findings.ts';
import { type BaselineDiff, diffBaseline, loadBaseline } from './reports/baseline.ts';
import { renderCsv } from './reports/csv.ts';
import { renderHtml } from './reports/html.ts';
import { ndjsonService, ndjsonSummary, renderJson } from './reports/json.ts';
import { renderText } from './reports/text.ts';
import { DEFAULTS, Scanner } from './scanner.ts';
import { DEFAULT_MAX_HOSTS, ExcludeList, type Resolver, type ShardSpec, checkHostCount, expandTargets, parseTargetArgs, resolveExcludes } from './targets.ts';
import type { Lang, ScanMeta, ServiceResult } from './types.ts';

export const FORMATS = ['json', 'ndjson', 'html', 'csv', 'text'] as const;
export type Format = (typeof FORMATS)[number];

export interface RunOptions {
  targets: string[];
  ports: number[];
  exclude?: string[];
  shard?: ShardSpec;
  /** Refuse the run when the targets hold more addresses (default DEFAULT_MAX_HOSTS). */
  maxHosts?: number;
  /** Hostname resolver (default: the system's, all addresses). */
  resolve?: Resolver;
  trust?: string[];
  rate?: number;
  perHost?: number;
  hostConcurrency?: number;
  timeoutMs?: number;
  format?: Format;
  /** File to write; stdout when absent. */
  out?: string;
  baseline?: string;
  lang?: Lang;
  calledAe?: string;
  gateway?: string;
  acmeUrl?: string;
  expiry?: ExpiryPolicy;
  advisoryFile?: string;
  now?: () => Date;
  onProgress?: (hostsDone: number, hostsTotal: number, services: number) => void;
  /** Stop starting hosts (Ctrl-C): those in progress finish, and the report says the scan was interrupted. */
  signal?: AbortSignal;
}

export interface RunResult {
  scan: ScanMeta;
  services: ServiceResult[];
  baseline?: BaselineDiff;
  /** Connection start times in ms (performance.now), for rate checks. */
  connectionTimes: number[];
}

export const VERSION = '0.1.0';

function positive(name: string, value: number, max: number): number {
  if (!Number.isFinite(value) || value <= 0 || value > max) throw new WardgateError('SCAN_OPTION_INVALID', `${name} must be a number in (0, ${max}], got ${value}`);
  return value;
}

async function write(stream: NodeJS.WritableStream | WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

export async function runScan(o: RunOptions): Promise<RunResult> {
  const format = o.format ?? 'json';
  if (!FORMATS.includes(format)) throw new WardgateError('SCAN_OPTION_INVALID', `--format ${format} is not one of ${FORMATS.join(', ')}`);
  const lang = o.lang ?? 'en';
  if (lang !== 'en' && lang !== 'de') throw new WardgateError('SCAN_OPTION_INVALID', `--lang ${String(lang)} is not en or de`);
  const specs = parseTargetArgs(o.targets);
  if (specs.length === 0) throw new WardgateError('SCAN_TARGET_INVALID', 'no targets given');
  const maxHosts = o.maxHosts ?? DEFAULT_MAX_HOSTS;
  if (!Number.isSafeInteger(maxHosts) || maxHosts < 1) throw new WardgateError('SCAN_OPTION_INVALID', `--max-hosts must be a whole number of at least 1, got ${maxHosts}`);
  // Before the first DNS query or connection: a run refused here has sent nothing. A hostname counts as
  // one host here and as all its addresses once resolved (onResolved below), as each is scanned.
  let hostsTotal = checkHostCount(specs, maxHosts, o.shard);
  const excludeSpecs = parseTargetArgs(o.exclude ?? []);
  const exclude = new ExcludeList(excludeSpecs);
  await resolveExcludes(exclude, o.resolve);
  const rate = positive('--rate', o.rate ?? DEFAULTS.ratePerSecond, 10000);
  const perHost = positive('--per-host', o.perHost ?? DEFAULTS.perHost, 64);
  const timeoutMs = positive('--timeout', o.timeoutMs ?? DEFAULTS.timeoutMs, 600000);
  const calledAe = o.calledAe ?? DEFAULTS.calledAe;
  // PS3.5 §6.2 AE: 1-16 characters of the default repertoire, no backslash or control characters.
  if (!aeTitleField(calledAe)) throw new WardgateError('SCAN_OPTION_INVALID', `--called-ae ${JSON.stringify(calledAe)} is not a valid AE title (1-16 characters, PS3.5 §6.2)`);
  const baselineDoc = o.baseline ? loadBaseline(o.baseline) : undefined;
  const anchors = loadAnchors(o.trust ?? []);
  const advisories = loadAdvisories(o.advisoryFile);
  const now = o.now ?? (() => new Date());

  const out: NodeJS.WritableStream = o.out ? createWriteStream(o.out) : process.stdout;
  let hostsDone = 0;
  // Every host and port this run probed (open or not): only there can a baseline finding be "fixed".
  const scanned = new Set<string>();
  const probed = new Set<string>();
  let serviceCount = 0;
  const pending: Promise<void>[] = [];
  const scanner = new Scanner({
    ports: o.ports,
    ratePerSecond: rate,
    perHost,
    hostConcurrency: o.hostConcurrency ?? DEFAULTS.hostConcurrency,
    timeoutMs,
    anchors,
    advisories,
    lang,
    expiry: o.expiry ?? DEFAULT_EXPIRY,
    calledAe,
    gateway: o.gateway,
    acmeUrl: o.acmeUrl,
    now,
    onService: (s) => {
      serviceCount++;
      if (format === 'ndjson') pending.push(write(out, ndjsonService(s)));
      o.onProgress?.(hostsDone, hostsTotal, serviceCount);
    },
    onHostDone: (address, ports) => {
      if (baselineDoc) {
        scanned.add(address);
        for (const port of ports) probed.add(`${address}|${port}`);
      }
      hostsDone++;
      o.onProgress?.(hostsDone, hostsTotal, serviceCount);
    },
  });
  const started = now();
  const t0 = performance.now();
  const onResolved = (_hostname: string, addresses: number) => {
    hostsTotal += addresses - 1;
  };
  const services = await scanner.run(expandTargets(specs, { exclude, shard: o.shard, resolve: o.resolve, onResolved }), o.signal);
  await Promise.all(pending);
  const finished = now();
  const scan: ScanMeta = {
    tool: 'wardgate',
    version: VERSION,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    targets: o.targets,
    excluded: o.exclude ?? [],
    ports: o.ports,
    limits: { ratePerSecond: rate, perHost, timeoutMs },
    hostsScanned: scanner.stats.hostsScanned,
    portsProbed: scanner.stats.portsProbed,
    connections: scanner.stats.connections,
    lang,
  };
  if (o.shard) scan.shard = o.shard;
  if (o.signal?.aborted) {
    scan.interrupted = `stopped by the operator after ${scanner.stats.hostsScanned} of about ${hostsTotal} hosts; the hosts not reached are not in this report`;
  }
  const baseline = baselineDoc ? diffBaseline(baselineDoc, services, scanned, (address, port) => probed.has(`${address}|${port}`)) : undefined;
  let text: string;
  switch (format) {
    case 'ndjson': text = ndjsonSummary(scan, baseline); break;
    case 'json': text = renderJson(scan, services, baseline); break;
    case 'csv': text = renderCsv(services); break;
    case 'text': text = renderText(scan, services, lang, baseline); break;
    case 'html': text = renderHtml(scan, services, lang, baseline, finished); break;
  }
  await write(out, text);
  if (o.out) {
    (out as WriteStream).end();
    await once(out, 'close');
  }
  return { scan, services, baseline, connectionTimes: scanner.stats.connectionTimes };
}
