/**
 * The fuzzing loop. Inputs are generated per exec from (seed, index) and run in batches, `concurrency`
 * connections at a time. After each batch the oracles run: process exit, a liveness probe (hang),
 * resident memory, and the instrumented backend's records (policy). A process-level failure is
 * triaged by re-running the batch's inputs one by one against a restarted target, then the culprit
 * is minimized and written as a reproducer.
 */
import { encodeAbort } from '../protocols/dicom/index.ts';
import type { AllowRule } from '../proxy/route-config.ts';
import type { BackendConnection } from './backend.ts';
import { replySignature } from './corpus.ts';
import type { DicomDictionary } from './dicom-generator.ts';
import { type Exchange, type Protocol, type Side, totalBytes } from './exchange.ts';
import { DEFAULT_EXEC_OPTIONS, type ExecOptions, type ExecResult, runClient } from './executor.ts';
import { FindingStore, type FindingsFile, type Reproducer, findingId, REPRODUCER_FORMAT } from './findings.ts';
import { type ExecInput, InputGenerator } from './generate.ts';
import { probe, probeMessage } from './health.ts';
import type { Hl7Dictionary } from './hl7-generator.ts';
import { minimize } from './minimizer.ts';
import { type FuzzPeer, type Verdict, checkBackend, checkRelayedAnswer, crashLocation, crashMessage } from './oracles.ts';
import type { FuzzTarget } from './target.ts';

export interface Progress {
  execs: number;
  execsPerSecond: number;
  findings: number;
  elapsedMs: number;
  durationMs: number;
}

export interface CampaignOptions {
  target: FuzzTarget;
  protocol: Protocol;
  seed: number;
  durationMs: number;
  /** Where findings.json and reproducers/ go (needed by run(), not by replayOnce()). */
  outDir: string;
  sides?: Side[];
  concurrency?: number;
  batchSize?: number;
  exec?: Partial<ExecOptions>;
  /** Liveness probe answer time: longer means hung. */
  hangTimeoutMs?: number;
  /** Resident set bound for the memory oracle, MiB. */
  maxRssMb?: number;
  /** Route targets: the route's allow rules and who the fuzzer is, for the policy oracle. */
  policy?: { rules?: AllowRule[]; peer: FuzzPeer };
  dicom?: DicomDictionary;
  hl7?: Hl7Dictionary;
  minimize?: { maxTests: number; maxMs: number } | false;
  /** Stop early (tests: once every expected finding is in). */
  until?: (findings: Reproducer[]) => boolean;
  maxExecs?: number;
  onProgress?: (p: Progress) => void;
  onFinding?: (r: Reproducer, elapsedMs: number) => void;
  log?: (message: string) => void;
}

export interface CampaignResult extends FindingsFile {
  elapsedMs: number;
  reproducers: Reproducer[];
  /** Milliseconds from start to each finding's first detection, by id. */
  timeToFinding: Record<string, number>;
}

/** Execs of at least this many bytes are bulk transfers: memory is sampled around them. */
const BULK_BYTES = 4 * 1024 * 1024;

/** Longest a batch keeps starting execs before the oracles run. */
const BATCH_MS = 1500;

interface Ran {
  input: ExecInput;
  result: ExecResult;
}

export class Campaign {
  private readonly generator: InputGenerator;
  private store!: FindingStore;
  private readonly exec: ExecOptions;
  private readonly hangTimeoutMs: number;
  private readonly probeBytes: Buffer;
  /** Everything a probe connection sends (DICOM: the RQ, then an A-ABORT once answered). */
  private readonly probeStream: Buffer;
  private execs = 0;
  private started = 0;
  private readonly timeToFinding: Record<string, number> = {};
  private previousSent: Buffer[] = [];
  private previousHostile: Buffer[] = [];
  private stopped = false;
  /** Findings waiting for minimization, done after the fuzzing loop so it never delays finding more. */
  private readonly toMinimize: Array<{ r: Reproducer; input: ExecInput }> = [];

  constructor(private readonly o: CampaignOptions) {
    this.generator = new InputGenerator({ protocol: o.protocol, seed: o.seed, sides: o.sides ?? ['client'], dicom: o.dicom, hl7: o.hl7 });
    this.exec = { ...DEFAULT_EXEC_OPTIONS, ...o.exec };
    this.hangTimeoutMs = o.hangTimeoutMs ?? 3000;
    const d = o.dicom ?? { callingAeTitles: ['FUZZSCU'], calledAeTitles: ['ANY-SCP'] };
    const h = o.hl7 ?? { sendingApplications: ['FUZZAPP'], sendingFacilities: ['FUZZFAC'], messageTypes: ['ADT^A01'] };
    this.probeBytes = probeMessage(o.protocol, { callingAeTitle: d.callingAeTitles[0], calledAeTitle: d.calledAeTitles[0], sendingApplication: h.sendingApplications[0], sendingFacility: h.sendingFacilities[0], messageType: h.messageTypes[0] });
    this.probeStream = o.protocol === 'dicom' ? Buffer.concat([this.probeBytes, encodeAbort({ source: 0, reason: 0 })]) : this.probeBytes;
  }

  stop(): void {
    this.stopped = true;
  }

  private log(m: string): void {
    this.o.log?.(m);
  }

  private elapsed(): number {
    return Date.now() - this.started;
  }

  async run(): Promise<CampaignResult> {
    const { o } = this;
    const concurrency = o.concurrency ?? 16;
    const batchSize = o.batchSize ?? 256;
    this.store = new FindingStore(o.outDir);
    this.started = Date.now();
    let index = 0;
    let lastProgress = 0;
    while (!this.stopped && this.elapsed() < o.durationMs && (o.maxExecs === undefined || this.execs < o.maxExecs)) {
      if (o.until?.(this.store.reproducers())) break;
      const ran = await this.runBatch(index, batchSize, concurrency);
      // Execs run in index order, so the next batch continues exactly after the last one run.
      index += ran.length;
      this.execs += ran.length;
      await this.afterBatch(ran);
      if (Date.now() - lastProgress >= 100) {
        lastProgress = Date.now();
        o.onProgress?.(this.progress());
      }
    }
    o.onProgress?.(this.progress());
    const elapsedMs = this.elapsed();
    // Rates and times count the fuzzing only; minimization comes after.
    const file = this.store.write(this.execs, elapsedMs / 1000);
    for (const { r, input } of this.toMinimize.splice(0)) await this.minimizeFinding(r, input);
    return { ...file, elapsedMs, reproducers: this.store.reproducers(), timeToFinding: this.timeToFinding };
  }

  private progress(): Progress {
    const elapsedMs = this.elapsed();
    return { execs: this.execs, execsPerSecond: elapsedMs > 0 ? (this.execs * 1000) / elapsedMs : 0, findings: this.store.summaries().length, elapsedMs, durationMs: this.o.durationMs };
  }

  private async runOne(input: ExecInput): Promise<ExecResult> {
    const backend = this.o.target.backend;
    if (input.server && backend) backend.queueHostile(input.server);
    const bytes = totalBytes(input.client);
    if (bytes < BULK_BYTES) return runClient(input.client, this.o.target.endpoint(), this.exec);
    // A bulk exec (megabytes in one association): time to relay it all, and memory sampled while the
    // association is still open, for the memory-per-byte oracle.
    const target = this.o.target;
    if (!target.retainedMb) return runClient(input.client, target.endpoint(), this.exec);
    const before = await target.retainedMb();
    let open: number | undefined;
    const settle = async () => {
      // Let the relay deliver what is in flight, so only what it keeps is counted.
      const backend = target.backend;
      for (let last = -1, i = 0; backend && backend.receivedBytes !== last && i < 50; i++) {
        last = backend.receivedBytes;
        await new Promise((r) => setTimeout(r, 100));
      }
      open = await target.retainedMb!();
    };
    const result = await runClient(input.client, target.endpoint(), { ...this.exec, timeoutMs: Math.max(this.exec.timeoutMs, 20_000), quietMs: Math.max(this.exec.quietMs, 300), firstReplyMs: Math.max(this.exec.firstReplyMs, 300), beforeClose: settle });
    if (before !== undefined && open !== undefined) result.retained = { before, open };
    return result;
  }

  /**
   * Memory that grows with the bytes relayed: a gateway must stream what it forwards (PS3.8 P-DATA
   * is relayed PDU by PDU), so holding half of a bulk exec's bytes while its association is open
   * means it buffers what it should not.
   */
  private memoryVerdict(r: Pick<Ran, 'input' | 'result'>): Verdict | undefined {
    const m = r.result.retained;
    if (!m) return undefined;
    const grownMb = m.open - m.before;
    const sentMb = r.result.sent.length / (1024 * 1024);
    if (sentMb < 12 || grownMb < (3 * sentMb) / 4) return undefined;
    return { oracle: 'memory', location: `${this.o.protocol}: memory grows with the bytes relayed in one association`, detail: `the target retained ${grownMb.toFixed(0)} MiB (after GC) while one association relayed ${sentMb.toFixed(0)} MiB (${r.input.client.label})` };
  }

  private async runBatch(first: number, size: number, concurrency: number): Promise<Ran[]> {
    const out: Ran[] = new Array(size);
    let next = 0;
    const deadline = this.started + this.o.durationMs;
    // Batches are also time-boxed, so the oracles run at least every BATCH_MS on a slow target.
    const batchEnd = Date.now() + BATCH_MS;
    const worker = async () => {
      while (next < size && Date.now() < batchEnd) {
        const k = next++;
        const input = this.generator.generate(first + k);
        out[k] = { input, result: await this.runOne(input) };
        // A crashed target refuses everything after: stop early, the triage re-runs the batch.
        if (this.o.target.exited() || Date.now() > deadline) next = size;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, size) }, worker));
    return out.filter(Boolean);
  }

  private async afterBatch(ran: Ran[]): Promise<void> {
    const { o } = this;
    const sent = ran.map((r) => r.result.sent);
    // 1. Policy: what reached the backend, and what the client got back from a hostile backend.
    const backend = o.target.backend;
    if (backend) {
      const deadline = Date.now() + 1500;
      while (backend.openConnections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      backend.clearHostile();
      const records = backend.drain();
      // The liveness probe's association also reaches the backend: it is a stream the fuzzer sent.
      await this.checkPolicy(ran, records, [...this.previousSent, ...sent, this.probeStream]);
    }
    this.previousSent = sent;
    this.adaptTimers(ran);
    for (const r of ran) {
      const verdict = this.memoryVerdict(r);
      if (verdict) await this.report(verdict, r.input);
    }
    // Corpus: new reply signatures, in exec order.
    for (const r of ran) if (r.input.client.side === 'client' && !r.input.server) this.generator.corpusEntries.offer(r.input.client, replySignature(o.protocol, r.result));
    // 2. Process exit.
    if (await this.exitSeen(ran)) return;
    // 3. Liveness.
    let health = await probe(o.protocol, o.target.endpoint(), this.probeBytes, this.hangTimeoutMs);
    if (health === 'error') health = await probe(o.protocol, o.target.endpoint(), this.probeBytes, this.hangTimeoutMs);
    if (health === 'no-answer' && !this.hangKnown()) {
      // A loaded machine answers late: only a second, longer silence counts as a hang.
      health = await probe(o.protocol, o.target.endpoint(), this.probeBytes, 2 * this.hangTimeoutMs);
      if (health !== 'no-answer') this.log(`slow answer to the liveness probe after exec ${this.execs} (more than ${this.hangTimeoutMs} ms)`);
    }
    if (health === 'refused' || health === 'error') await this.awaitExit(2000);
    if (await this.exitSeen(ran)) return;
    if (health === 'no-answer' || health === 'refused') {
      const verdict: Verdict = health === 'no-answer'
        ? { oracle: 'hang', location: `${o.protocol}: no answer to a well-formed request`, detail: `the target accepted the connection but did not answer within ${this.hangTimeoutMs} ms (event loop blocked or stuck)` }
        : { oracle: 'exit', location: `${o.protocol}: target stopped accepting connections`, detail: 'connection refused after the batch: the target is gone' };
      this.log(`target ${health}: ${verdict.location}`);
      await this.processFailure(verdict, ran, Date.now());
      return;
    }
    // 4. Memory.
    const rss = o.target.rssMb();
    const bound = o.maxRssMb ?? 512;
    if (rss !== undefined && rss > bound) {
      const verdict: Verdict = { oracle: 'memory', location: `${o.protocol}: resident memory above ${bound} MiB`, detail: `RSS ${rss.toFixed(0)} MiB after ${this.execs} execs` };
      const id = findingId(o.protocol, verdict);
      if (this.store.has(id)) this.store.hit(id);
      else this.record(verdict, ran.slice(-1)[0]?.input ?? this.generator.generate(0), false);
      if (!(await o.target.restart())) this.stop();
    }
  }

  /**
   * Silent answers end an exec by timer, so the timers set the pace: they follow the target's
   * observed answer latency (95th percentile of the last batch), within the configured ceilings, so
   * a fast target is not waited on and a loaded one is not cut off.
   */
  private adaptTimers(ran: Ran[]): void {
    if (this.o.exec?.quietMs !== undefined) return;
    const lat = ran.map((r) => r.result.latencyMs).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    if (lat.length < 8) return;
    const p95 = lat[Math.floor(lat.length * 0.95)];
    const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));
    this.exec.quietMs = clamp(2 * p95, 10, DEFAULT_EXEC_OPTIONS.quietMs);
    this.exec.gapMs = clamp(2 * p95, 10, DEFAULT_EXEC_OPTIONS.gapMs);
    this.exec.firstReplyMs = clamp(4 * p95, 25, DEFAULT_EXEC_OPTIONS.firstReplyMs);
    // A batch waits for its slowest exec: the hard bound follows the latency too.
    this.exec.timeoutMs = clamp(10 * p95 + 100, 250, this.o.exec?.timeoutMs ?? DEFAULT_EXEC_OPTIONS.timeoutMs);
  }

  /** Once a hang is isolated, one silent probe is enough to recognise it again (a second costs 2T). */
  private hangKnown(): boolean {
    return this.store?.has(findingId(this.o.protocol, { oracle: 'hang', location: `${this.o.protocol}: no answer to a well-formed request` })) ?? false;
  }

  /** A crashed process closes its sockets before its exit is reported: give the report time to arrive. */
  private async awaitExit(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.o.target.exited() && Date.now() < deadline && this.o.target.describe().kind !== 'address') await new Promise((r) => setTimeout(r, 20));
  }

  private async exitSeen(ran: Ran[]): Promise<boolean> {
    const exit = this.o.target.exited();
    if (!exit) return false;
    const verdict: Verdict = { oracle: 'exit', location: crashLocation(exit.stderr, exit.code, exit.signal), detail: crashMessage(exit.stderr) || `exit code ${exit.code} signal ${exit.signal}` };
    this.log(`target exited: ${verdict.location}: ${verdict.detail}`);
    await this.processFailure(verdict, ran, exit.at);
    return true;
  }

  private async checkPolicy(ran: Ran[], records: BackendConnection[], sent: Buffer[]): Promise<void> {
    const { o } = this;
    const peer = o.policy?.peer ?? { address: '127.0.0.1', subjects: [], sans: [] };
    for (const rec of records) {
      const verdict = checkBackend(o.protocol, rec, sent, o.policy?.rules, peer);
      if (!verdict) continue;
      // The culprit: an exec whose stream begins with what the backend got.
      const culprit = ran.find((r) => r.result.sent.length >= Math.min(rec.received.length, 64) && r.result.sent.subarray(0, 64).equals(rec.received.subarray(0, Math.min(64, r.result.sent.length)))) ?? ran[0];
      await this.report(verdict, culprit?.input);
    }
    // Which connection got which hostile answer depends on arrival order; any answer of the batch
    // (or the one before) is what a client may legitimately receive.
    const hostile = ran.filter((r) => r.input.server).map((r) => Buffer.concat(r.input.server!.chunks));
    const answers = [...this.previousHostile, ...hostile, ...(o.target.backend?.answersSent() ?? [])];
    this.previousHostile = hostile;
    for (const r of ran) {
      if (!r.input.server) continue;
      const verdict = checkRelayedAnswer(o.protocol, r.result.reply, answers);
      if (verdict) await this.report(verdict, r.input);
    }
  }

  /** A per-exec finding (policy): dedupe, minimize when new. */
  private async report(verdict: Verdict, input: ExecInput | undefined): Promise<void> {
    if (!input) return;
    const id = findingId(this.o.protocol, verdict);
    if (this.store.has(id)) {
      this.store.hit(id);
      return;
    }
    // Policy verdicts depend on one exec only: confirm it alone before reporting.
    const again = await this.replayOnce(input);
    const confirmed = again?.location === verdict.location;
    if (!confirmed && verdict.oracle === 'memory') {
      this.log(`memory growth after exec ${input.index} not reproduced alone; not reported`);
      return;
    }
    const r = this.record(verdict, input, false, confirmed ? '' : ' (seen once in a batch; not reproduced alone)');
    if (confirmed) this.toMinimize.push({ r, input });
  }

  private record(verdict: Verdict, input: ExecInput, minimized: boolean, note = ''): Reproducer {
    const r: Reproducer = {
      format: REPRODUCER_FORMAT,
      id: findingId(this.o.protocol, verdict),
      oracle: verdict.oracle,
      protocol: this.o.protocol,
      location: verdict.location,
      detail: verdict.detail + note,
      seed: this.o.seed,
      exec: input.index,
      target: this.o.target.describe(),
      minimized,
      exchanges: input.server ? [input.client, input.server] : [input.client],
    };
    this.store.add(r);
    this.timeToFinding[r.id] = this.elapsed();
    this.log(`finding ${r.id}: ${verdict.oracle} at ${verdict.location} (exec ${input.index}, ${this.elapsed()} ms)`);
    this.o.onFinding?.(r, this.elapsed());
    return r;
  }

  /** Exit or hang seen after a batch: find the exec that causes it, record and minimize it. */
  private async processFailure(verdict: Verdict, ran: Ran[], at: number): Promise<void> {
    const { o } = this;
    const knownId = findingId(o.protocol, verdict);
    if (this.store.has(knownId)) {
      // Same oracle and location as a finding already isolated: count it, restart, fuzz on.
      this.store.hit(knownId);
      if (!(await this.restartOrStop())) this.stop();
      return;
    }
    if (!(await this.restartOrStop())) {
      // Not restartable (a peer at an address): report the batch's last in-flight input and stop.
      const last = [...ran].sort((a, b) => b.result.endedAt - a.result.endedAt)[0];
      const id = findingId(o.protocol, verdict);
      if (this.store.has(id)) this.store.hit(id);
      else if (last) this.record(verdict, last.input, false, ' (target not restartable: culprit not isolated)');
      this.stop();
      return;
    }
    // Candidates. Exit: the execs in flight when it happened first, latest first. Hang: the execs that
    // got no answer, earliest first (the one that hung the target went silent before all later ones).
    let candidates: Ran[];
    if (verdict.oracle === 'hang') {
      const silent = (r: Ran) => (r.result.reply.length === 0 ? 0 : r.result.outcome === 'complete' ? 2 : 1);
      candidates = [...ran].sort((a, b) => silent(a) - silent(b) || a.result.startedAt - b.result.startedAt);
    } else {
      const rank = (r: Ran) => (r.result.startedAt <= at && at <= r.result.endedAt + 50 ? 0 : r.result.outcome === 'complete' ? 2 : 1);
      candidates = [...ran].sort((a, b) => rank(a) - rank(b) || b.result.startedAt - a.result.startedAt);
    }
    const deadline = Date.now() + 30_000;
    for (const c of candidates.slice(0, 200)) {
      if (Date.now() > deadline) break;
      const v = await this.replayOnce(c.input);
      if (!v || v.oracle === 'policy' || v.oracle === 'memory') continue;
      const id = findingId(o.protocol, v);
      if (this.store.has(id)) {
        this.store.hit(id);
        // Another input of the batch that breaks the target in a known way: keep looking for this one.
        if (v.location !== verdict.location) continue;
        return;
      }
      const r = this.record(v, c.input, false);
      this.toMinimize.push({ r, input: c.input });
      return;
    }
    if (verdict.oracle === 'hang') {
      // No single input hangs a fresh target: a stall of the batch as a whole (load), not reported.
      this.log(`stall after exec ${this.execs} not reproduced by any single input of its batch; not reported`);
      return;
    }
    const id = findingId(o.protocol, verdict);
    if (this.store.has(id)) this.store.hit(id);
    else if (candidates[0]) this.record(verdict, candidates[0].input, false, ' (not reproduced by a single exec: may need the whole batch)');
  }

  private async restartOrStop(): Promise<boolean> {
    try {
      return await this.o.target.restart();
    } catch (err) {
      this.log(`restart failed: ${(err as Error).message}`);
      return false;
    }
  }

  /**
   * Run one input alone against a live target and apply every oracle. Restarts the target first if
   * it is down and after it crashed or hung, so the next test starts clean.
   */
  async replayOnce(input: Pick<ExecInput, 'client' | 'server'>): Promise<Verdict | undefined> {
    const { o } = this;
    const target = o.target;
    if (target.exited()) await this.restartOrStop();
    target.backend?.drain();
    target.backend?.clearHostile();
    const result = await this.runOne({ index: -1, ...input });
    // An exit shows up a moment after the connection drops (a complete answer means it did not).
    if (result.outcome !== 'complete' && result.outcome !== 'quiet') for (let i = 0; i < 10 && !target.exited(); i++) await new Promise((r) => setTimeout(r, 10));
    let verdict: Verdict | undefined;
    const exit = target.exited();
    if (exit) verdict = { oracle: 'exit', location: crashLocation(exit.stderr, exit.code, exit.signal), detail: crashMessage(exit.stderr) };
    else {
      let health = await probe(o.protocol, target.endpoint(), this.probeBytes, this.hangTimeoutMs);
      // As after a batch: only a second, longer silence counts as a hang.
      if (health === 'no-answer' && !this.hangKnown()) health = await probe(o.protocol, target.endpoint(), this.probeBytes, 2 * this.hangTimeoutMs);
      if (health === 'refused' || health === 'error') await this.awaitExit(2000);
      const exit2 = target.exited();
      if (exit2) verdict = { oracle: 'exit', location: crashLocation(exit2.stderr, exit2.code, exit2.signal), detail: crashMessage(exit2.stderr) };
      else if (health === 'no-answer') verdict = { oracle: 'hang', location: `${o.protocol}: no answer to a well-formed request`, detail: `the target stopped answering within ${this.hangTimeoutMs} ms after this exchange (${totalBytes(input.client)} bytes)` };
      else if (health === 'refused') verdict = { oracle: 'exit', location: `${o.protocol}: target stopped accepting connections`, detail: 'connection refused after the exchange' };
    }
    if (!verdict) verdict = this.memoryVerdict({ input: { index: -1, ...input }, result });
    if (!verdict && target.backend) {
      const deadline = Date.now() + 1500;
      while (target.backend.openConnections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const records = target.backend.drain();
      const peer = o.policy?.peer ?? { address: '127.0.0.1', subjects: [], sans: [] };
      for (const rec of records) {
        verdict = checkBackend(o.protocol, rec, [result.sent, this.probeStream], o.policy?.rules, peer);
        if (verdict) break;
      }
      if (!verdict && input.server) verdict = checkRelayedAnswer(o.protocol, result.reply, [Buffer.concat(input.server.chunks), ...target.backend.answersSent()]);
    }
    if (verdict && (verdict.oracle === 'exit' || verdict.oracle === 'hang')) await this.restartOrStop();
    return verdict;
  }

  private async minimizeFinding(r: Reproducer, input: ExecInput): Promise<void> {
    const m = this.o.minimize ?? { maxTests: 80, maxMs: 20_000 };
    if (m === false) return;
    // Minimize the side that carries the attack: the hostile answer on the server side.
    const attack: Exchange = input.server ?? input.client;
    const same = async (candidate: Exchange) => {
      const v = await this.replayOnce(input.server ? { client: input.client, server: candidate } : { client: candidate });
      return v?.oracle === r.oracle && v.location === r.location;
    };
    const { exchange, tests } = await minimize(attack, same, { maxTests: m.maxTests, deadline: Date.now() + m.maxMs });
    const exchanges = input.server ? [input.client, exchange] : [exchange];
    this.store.update({ ...r, minimized: true, exchanges });
    this.log(`minimized ${r.id}: ${totalBytes(attack)} -> ${totalBytes(exchange)} bytes in ${tests} tests`);
  }
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  return new Campaign(o).run();
}
