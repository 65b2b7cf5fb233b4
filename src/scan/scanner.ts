/**
 * The scan pipeline for one run: hosts in parallel (bounded), ports of one host at most `perHost` at
 * a time, every connection through one global rate limiter. Per open port:
 *   1. TCP connect (refused or silent = not open, no entry; accepted and reset = an entry, nothing more);
 *   2. TLS handshake offering everything (tls-probe.ts); on success the protocol probe runs inside TLS;
 *   3. otherwise the safe DICOM and HL7 probes in plaintext, each on a fresh connection, in the order
 *      the port suggests;
 *   4. for TLS services: one handshake offering only TLS 1.0/1.1, one offering only weak suites;
 *   5. for accepted DICOM associations: a second association with a random called AE title;
 *   6. for TLS ports: the protocol probe once more in plaintext (a port may accept both).
 * Results stream out through `onService` as soon as a port is done (NDJSON, progress).
 */
import type { X509Certificate } from 'node:crypto';
import type net from 'node:net';
import type { Advisory } from './advisories.ts';
import { matchAdvisories } from './advisories.ts';
import { chainsToAnchor, isSelfSigned, nameMatches, summarize } from './certificate.ts';
import { type ConnectContext, MUTUAL_TLS, connectTcp } from './connection.ts';
import { type DicomProbeResult, probeDicom, randomAeTitle } from './dicom-probe.ts';
import { DEFAULT_EXPIRY, type ExpiryPolicy, evaluateFindings } from './findings.ts';
import { type Hl7ProbeResult, probeHl7 } from './hl7-probe.ts';
import { RateLimiter, Semaphore } from './limiter.ts';
import { HL7_FIRST_PORTS } from './ports.ts';
import type { Target } from './targets.ts';
import { legacyVersionAccepted, weakSuiteAccepted } from './raw-hello.ts';
import { type HandshakeInfo, PERMISSIVE, upgrade } from './tls-probe.ts';
import type { Lang, ServiceResult } from './types.ts';

export interface ScanOptions {
  ports: number[];
  ratePerSecond: number;
  perHost: number;
  /** Hosts probed at once. */
  hostConcurrency: number;
  timeoutMs: number;
  anchors: X509Certificate[];
  advisories: Advisory[];
  lang: Lang;
  expiry?: ExpiryPolicy;
  /** Called AE title of the first association; the second uses a random one. */
  calledAe: string;
  gateway?: string;
  acmeUrl?: string;
  now?: () => Date;
  onService?: (s: ServiceResult) => void;
  /** `ports`: the ports probed on this host (its nmap/masscan list, else --ports). */
  onHostDone?: (address: string, ports: readonly number[]) => void;
}

export interface ScanStats {
  hostsScanned: number;
  portsProbed: number;
  connections: number;
  /** Start time (performance.now ms) of every connection, for rate checks. */
  connectionTimes: number[];
}

export const DEFAULTS = { ratePerSecond: 50, perHost: 1, hostConcurrency: 32, timeoutMs: 3000, calledAe: 'ANY-SCP' } as const;

type AppResult = { kind: 'dicom'; r: Extract<DicomProbeResult, { dicom: true }> } | { kind: 'hl7'; r: Extract<Hl7ProbeResult, { hl7: true }> } | { kind: 'other'; reasons: string[] };

export class Scanner {
  private readonly rate: RateLimiter;
  private readonly ctx: ConnectContext;
  readonly stats: ScanStats = { hostsScanned: 0, portsProbed: 0, connections: 0, connectionTimes: [] };
  /**
   * The per-host limit belongs to the device, not to the target: a name and its address (or two names
   * of one device) are two targets but one device, which must still never see more than `perHost`
   * connections at once. Entries live while a target of that address is being scanned.
   */
  private readonly devices = new Map<string, { limit: Semaphore; targets: number }>();

  constructor(private readonly o: ScanOptions) {
    this.rate = new RateLimiter(o.ratePerSecond);
    this.stats.connectionTimes = this.rate.granted;
    this.ctx = { rate: this.rate, timeoutMs: o.timeoutMs, onConnect: () => this.stats.connections++ };
  }

  /**
   * Scan all targets; results in target/port order. Once `stop` is aborted no further host is started;
   * the hosts in progress finish their probes (so a DICOM association is released, not cut), then it returns.
   */
  async run(targets: AsyncIterable<Target> | Iterable<Target>, stop?: AbortSignal): Promise<ServiceResult[]> {
    const results: ServiceResult[][] = [];
    const pool = new Semaphore(this.o.hostConcurrency);
    const running: Promise<void>[] = [];
    let index = 0;
    for await (const target of targets) {
      if (stop?.aborted) break;
      const slot = index++;
      const release = await pool.acquire();
      if (stop?.aborted) {
        release();
        break;
      }
      running.push(this.scanHost(target).then((r) => { results[slot] = r; }).finally(release));
    }
    await Promise.all(running);
    return results.flat().filter(Boolean);
  }

  async scanHost(target: Target): Promise<ServiceResult[]> {
    const device = this.devices.get(target.address) ?? { limit: new Semaphore(this.o.perHost), targets: 0 };
    device.targets++;
    this.devices.set(target.address, device);
    const ports = target.ports ?? this.o.ports;
    let out: Array<ServiceResult | undefined>;
    try {
      out = await Promise.all(ports.map((port) => device.limit.run(() => this.scanPortSafely(target, port))));
    } finally {
      if (--device.targets === 0) this.devices.delete(target.address);
    }
    this.stats.hostsScanned++;
    this.o.onHostDone?.(target.address, ports);
    return out.filter((s): s is ServiceResult => s !== undefined);
  }

  /** A failure on one port (a bug, an unexpected peer) is reported on that port and never ends the scan. */
  private async scanPortSafely(target: Target, port: number): Promise<ServiceResult | undefined> {
    const progress: { service?: ServiceResult } = {};
    try {
      return await this.scanPort(target, port, progress);
    } catch (err) {
      // Keep what was learnt before the failure: a port whose TLS handshake succeeded is not reported
      // as plaintext-or-unknown because a later probe threw.
      const s: ServiceResult = progress.service ?? { address: target.address, port, protocol: 'other', tls: false, findings: [], durationMs: 0 };
      s.note = `${s.note ? `${s.note}; ` : ''}probe failed: ${(err as Error).message}`;
      this.o.onService?.(s);
      return s;
    }
  }

  /** Undefined when the port is not open. `progress.service` holds the partial result while probing. */
  async scanPort(target: Target, port: number, progress: { service?: ServiceResult } = {}): Promise<ServiceResult | undefined> {
    const started = performance.now();
    this.stats.portsProbed++;
    const first = await connectTcp(this.ctx, target.address, port);
    if (!first.ok && first.reason === 'reset') {
      // Open (it accepted) but nothing can be probed: one entry, so a device that resets every
      // connection is not missing from the inventory.
      const s: ServiceResult = { address: target.address, port, protocol: 'other', tls: false, findings: [], note: 'the port accepts connections and resets them at once', durationMs: Math.round(performance.now() - started) };
      if (target.hostname) s.hostname = target.hostname;
      this.o.onService?.(s);
      return s;
    }
    if (!first.ok) return undefined;
    const hs = await upgrade(first.socket, target.hostname, PERMISSIVE, this.o.timeoutMs);
    const service: ServiceResult = { address: target.address, port, protocol: 'other', tls: false, findings: [], durationMs: 0 };
    progress.service = service;
    if (target.hostname) service.hostname = target.hostname;
    let app: AppResult;
    let info: HandshakeInfo | undefined;
    if (hs.ok) {
      info = hs.info;
      service.tls = true;
      service.tlsVersion = info.version;
      app = await this.appProbes(target, port, true, hs.socket);
    } else {
      if (hs.reason === 'error') {
        // A TLS alert: the port speaks TLS but refused everything we offered.
        service.tls = true;
        service.note = `TLS handshake failed: ${hs.message}`;
      }
      app = service.tls ? { kind: 'other', reasons: [] } : await this.appProbes(target, port, false);
    }
    // A TLS port can accept plaintext too (servers that detect TLS by its first byte): ask again in
    // plaintext, the protocol found inside TLS only, or both when TLS showed none (alert, mutual TLS).
    let appTls = service.tls;
    let plaintextToo = false;
    if (service.tls) {
      const plain = app.kind === 'other' ? await this.appProbes(target, port, false) : await this.appProbe(target, port, false, app.kind, this.o.calledAe);
      if (plain.kind !== 'other') {
        plaintextToo = true;
        if (app.kind === 'other') {
          app = plain;
          appTls = false;
        }
      }
    }
    const facts: Parameters<typeof evaluateFindings>[0] = { address: target.address, hostname: target.hostname, port, protocol: app.kind, tls: service.tls, plaintextToo };
    if (app.kind === 'dicom') {
      const r = app.r;
      service.dicom = { association: r.association };
      if (r.text) service.dicom.rejection = r.text;
      if (r.implementationClassUid) service.dicom.implementationClassUid = r.implementationClassUid;
      if (r.implementationVersionName) service.dicom.implementationVersionName = r.implementationVersionName;
      const matched = matchAdvisories(this.o.advisories, r);
      if (matched.length) service.dicom.advisories = matched.map((a) => a.id);
      facts.advisories = matched;
      if (r.association === 'accepted') {
        const second = await this.appProbe(target, port, appTls, 'dicom', randomAeTitle());
        service.dicom.anyAeAccepted = second.kind === 'dicom' && second.r.association === 'accepted';
        facts.anyAeAccepted = service.dicom.anyAeAccepted;
      }
    } else if (app.kind === 'hl7') {
      service.hl7 = { ackCode: app.r.ackCode, sendingApplication: app.r.sendingApplication, version: app.r.version };
    } else if (!service.note && app.reasons.length) {
      service.note = app.reasons.join('; ');
    }
    service.protocol = app.kind;
    if (info) {
      const chain = info.chain;
      const trusted = chainsToAnchor(chain, this.o.anchors);
      // Raw ClientHellos (raw-hello.ts): one offering TLS 1.1 at most, one offering only weak suites.
      const legacy = ['TLSv1.0', 'TLSv1.1'].includes(info.version) ? info.version : await legacyVersionAccepted(this.ctx, target.address, port, target.hostname);
      const weakSuite = await weakSuiteAccepted(this.ctx, target.address, port, target.hostname);
      const weak = weakSuite ? { cipher: weakSuite } : undefined;
      const matches = chain[0] ? nameMatches(chain[0], target.address, target.hostname) : null;
      Object.assign(facts, { chain, trusted, hostnameMatches: matches, legacyVersions: legacy ? [legacy] : [], weakCiphers: weak ? [weak.cipher] : [] });
      if (chain[0]) service.certificate = summarize(chain[0]);
      service.tlsDetails = {
        version: info.version,
        cipher: info.cipher,
        legacyVersions: legacy ? [legacy] : [],
        weakCiphers: weak ? [weak.cipher] : [],
        chainLength: chain.length,
        trusted,
        selfSigned: chain[0] ? isSelfSigned(chain[0]) : false,
        hostnameChecked: target.hostname ?? target.address,
        hostnameMatches: matches,
      };
    }
    service.findings = evaluateFindings(facts, { lang: this.o.lang, now: this.o.now?.() ?? new Date(), expiry: this.o.expiry ?? DEFAULT_EXPIRY, gateway: this.o.gateway, acmeUrl: this.o.acmeUrl });
    service.durationMs = Math.round(performance.now() - started);
    this.o.onService?.(service);
    return service;
  }

  /** DICOM and HL7 probes in port-suggested order; `socket` (already TLS) is used for the first. */
  private async appProbes(target: Target, port: number, tls: boolean, socket?: net.Socket): Promise<AppResult> {
    const order: Array<'dicom' | 'hl7'> = HL7_FIRST_PORTS.has(port) ? ['hl7', 'dicom'] : ['dicom', 'hl7'];
    const reasons: string[] = [];
    for (const [i, kind] of order.entries()) {
      const r = await this.appProbe(target, port, tls, kind, this.o.calledAe, i === 0 ? socket : undefined);
      if (r.kind !== 'other') return r;
      reasons.push(...r.reasons);
      // A port that no longer connects, no longer completes TLS, or wants a client certificate will
      // not answer the next probe either.
      if (r.reasons.some((x) => /^\w+: (TLS handshake|connect) /.test(x) || x.endsWith(MUTUAL_TLS))) break;
    }
    return { kind: 'other', reasons };
  }

  private async appProbe(target: Target, port: number, tls: boolean, kind: 'dicom' | 'hl7', calledAe: string, given?: net.Socket): Promise<AppResult> {
    let socket = given;
    if (!socket) {
      const tcp = await connectTcp(this.ctx, target.address, port);
      if (!tcp.ok) return { kind: 'other', reasons: [`${kind}: connect ${tcp.reason}`] };
      if (tls) {
        const hs = await upgrade(tcp.socket, target.hostname, PERMISSIVE, this.o.timeoutMs);
        if (!hs.ok) return { kind: 'other', reasons: [`${kind}: TLS handshake ${hs.reason}`] };
        socket = hs.socket;
      } else {
        socket = tcp.socket;
      }
    }
    if (kind === 'dicom') {
      const r = await probeDicom(socket, calledAe, this.o.timeoutMs);
      return r.dicom ? { kind: 'dicom', r } : { kind: 'other', reasons: [`dicom: ${r.reason}`] };
    }
    const r = await probeHl7(socket, this.o.timeoutMs);
    return r.hl7 ? { kind: 'hl7', r } : { kind: 'other', reasons: [`hl7: ${r.reason}`] };
  }
}

