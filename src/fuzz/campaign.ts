/**
 * The fuzzing loop. Inputs are generated per exec from (seed, index) and run pipelined: `concurrency`
 * connections always in flight, no batch barrier. The oracles run as results arrive: per exec
 * (process exit, relayed answers, memory per relayed byte), on the instrumented backend's records as
 * they close (policy, against a window of recently sent streams), and on a timer (a liveness probe
 * for hangs, resident memory). A process-level failure pauses the loops; it is triaged by re-running
 * the execs since the last answered probe one by one against a restarted target, then the loops
 * resume and the culprit is minimized after the campaign and written as a reproducer.
 */
import { encodeAbort } from '../protocols/dicom/index.ts';
import type { AllowRule } from '../proxy/route-config.ts';
import { BulkSampler, isBulk, memoryVerdict, runBulk } from './bulk-exec.ts';
import { replySignature } from './corpus.ts';
import type { DicomDictionary } from './dicom-generator.ts';
import { type Exchange, type Protocol, type Side, totalBytes } from './exchange.ts';
import { DEFAULT_EXEC_OPTIONS, type ExecOptions, type ExecResult, runClient } from './executor.ts';
import { FindingStore, type FindingsFile, type Reproducer, findingId, REPRODUCER_FORMAT } from './findings.ts';
import { type ExecInput, InputGenerator } from './generate.ts';
import { type Health, probe, probeMessage } from './health.ts';
import type { Hl7Dictionary } from './hl7-generator.ts';
import { minimize } from './minimizer.ts';
import { printable } from '../printable.ts';
import { SentFrames } from './sent-frames.ts';
import { type FuzzPeer, type Verdict, checkBackend, checkRelayedAnswer, checkRelayedFrames, closedVerdict, crashLocation, crashMessage, describeMatch, RELAYED_BYTES_ALTERED } from './oracles.ts';
import { StreamWindow } from './stream-window.ts';
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
  /** Execs in flight at any time. */
  concurrency?: number;
  exec?: Partial<ExecOptions>;
  /** Liveness probe answer time: longer means hung. */
  hangTimeoutMs?: number;
  /** Resident set bound for the memory oracle, MiB. */
  maxRssMb?: number;
  /** Route targets: the route's allow rules and who the fuzzer is, for the policy oracle. */
  policy?: { rules?: AllowRule[]; peer: FuzzPeer };
  /**
   * How long after its exec ended a stream stays for the policy oracle when no backend connection
   * still needs it (default 10 s; see stream-window.ts).
   */
  policyWindowMs?: number;
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

/** Execs per corpus epoch: the corpus changes only between epochs, in exec order (determinism). */
const EPOCH = 256;
/**
 * Inputs of epoch e see the offers of epochs up to e - CORPUS_LAG: far enough back that those execs
 * are long over when epoch e starts (a loop waits only behind an exec slower than ~2,000 others).
 */
const CORPUS_LAG = 8;
/** Liveness probe period while execs run: a hang is noticed within about this plus T. */
const PROBE_EVERY_MS = 250;
/** How often closed backend connections are checked. */
const TICK_MS = 50;
/** Bound on the triage candidates and the recent hostile answers kept. */
const MAX_RECENT = 4096;
/** A triage candidate keeps this much of its answer: ranking needs only whether there was one. */
const CANDIDATE_REPLY_BYTES = 64;

/** Wakes every waiter on each notify (loops waiting for in-flight execs or a finished epoch). */
class Signal {
  private waiters: Array<() => void> = [];
  wait(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }
  notify(): void {
    const w = this.waiters;
    if (w.length === 0) return;
    this.waiters = [];
    for (const r of w) r();
  }
}

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
  private stopped = false;
  /** Next exec index to claim. */
  private next = 0;
  private inFlight = 0;
  private readonly changed = new Signal();
  /** Set while an exclusive task owns the target: loops start no exec. */
  private gate: { promise: Promise<void>; release: () => void } | undefined;
  private holds = 0;
  private chain: Promise<void> = Promise.resolve();
  private error: Error | undefined;
  /** Streams sent by execs (and replays) in flight and recently ended, for the policy oracle. */
  private readonly window: StreamWindow<ExecInput>;
  /** Window ids of replays (negative: exec indexes are not). */
  private nextReplayId = -1;
  /** Which floods get their memory measured (bulk-exec.ts). */
  private readonly bulkSampler = new BulkSampler();
  /** Triage candidates: execs that ended since the last answered liveness probe began. */
  private recent: Ran[] = [];
  /** Whether the target ever answered the liveness probe: only then does a closed probe connection mean broken. */
  private probeAnswered = false;
  private recentHostile: Buffer[] = [];
  /** HL7: frames of the last MAX_RECENT hostile server scripts. */
  private readonly hostileFrames = new SentFrames(MAX_RECENT);
  private latencies: number[] = [];
  /** Corpus offers by exec index, applied an epoch at a time. */
  private readonly offers = new Map<number, { ex: Exchange; signature: string }>();
  private readonly epochDone = new Map<number, number>();
  private appliedEpochs = 0;
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
    this.window = new StreamWindow<ExecInput>(o.protocol, o.policyWindowMs);
    // The liveness probe's association also reaches the backend: it is a stream the fuzzer sent.
    this.window.addConstant(this.probeStream);
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

  private progress(): Progress {
    const elapsedMs = this.elapsed();
    return { execs: this.execs, execsPerSecond: elapsedMs > 0 ? (this.execs * 1000) / elapsedMs : 0, findings: this.store.summaries().length, elapsedMs, durationMs: this.o.durationMs };
  }

  private async runOne(input: ExecInput): Promise<ExecResult> {
    const backend = this.o.target.backend;
    if (input.server && backend) backend.queueHostile(input.server);
    if (!isBulk(input.client)) return runClient(input.client, this.o.target.endpoint(), this.exec);
    // Replays (negative index) are always measured; the loops' floods as the sampler allows.
    const release = input.index >= 0 ? this.bulkSampler.claim(input.client) : undefined;
    try {
      return await runBulk(input.client, this.o.target, this.exec, input.index < 0 || release !== undefined);
    } finally {
      release?.();
    }
  }

  async run(): Promise<CampaignResult> {
    const { o } = this;
    const concurrency = o.concurrency ?? 16;
    this.store = new FindingStore(o.outDir);
    this.started = Date.now();
    if (o.until?.(this.store.reproducers())) this.stop();
    const monitor = this.monitor();
    try {
      await Promise.all(Array.from({ length: concurrency }, () => this.worker()));
    } catch (err) {
      // A loop failed (a bug, not a finding): wind down like a stop, then report it.
      this.error ??= err as Error;
    }
    const ranOut = !this.stopped && !this.error;
    this.stopped = true;
    await monitor;
    // The rate counts the time the execs ran; the closing checks below are like minimization.
    const elapsedMs = this.elapsed();
    // The last execs' records, and (unless stopped on purpose) a last liveness check.
    await this.exclusive(async () => {
      if (!ranOut) return;
      const health = await probe(o.protocol, o.target.endpoint(), this.probeBytes, this.hangTimeoutMs);
      if (health !== 'ok') await this.confirmFailure(health);
    });
    await this.chain;
    if (this.error) throw this.error;
    o.onProgress?.(this.progress());
    // Rates and times count the fuzzing only; minimization comes after.
    const file = this.store.write(this.execs, elapsedMs / 1000);
    for (const { r, input } of this.toMinimize.splice(0)) await this.minimizeFinding(r, input);
    return { ...file, elapsedMs, reproducers: this.store.reproducers(), timeToFinding: this.timeToFinding };
  }

  /** No new exec starts once this is true. */
  private finished(): boolean {
    return this.stopped || this.elapsed() >= this.o.durationMs || (this.o.maxExecs !== undefined && this.next >= this.o.maxExecs);
  }

  /**
   * One of `concurrency` loops: claim the next index, generate its input, run it, check its result.
   * No barrier: a slow exec holds only its own loop. Loops wait only while an exclusive task (triage,
   * confirmation) owns the target, or at a corpus epoch boundary whose epoch-before-last is unfinished.
   */
  private async worker(): Promise<void> {
    for (;;) {
      await this.ungated();
      if (this.finished()) return;
      const index = this.next++;
      await this.corpusFor(Math.floor(index / EPOCH));
      const input = this.generator.generate(index);
      // Inline (no await once the gate is open), so nothing runs between this check and inFlight++.
      for (let g = this.gate; g; g = this.gate) await g.promise;
      if (this.finished() && index > 0) {
        this.completed(index);
        return;
      }
      // Synchronous from the gate check on: an exclusive task starting now waits for this exec.
      this.inFlight++;
      this.window.add(index, input.client.chunks, input);
      let result: ExecResult;
      try {
        result = await this.runOne(input);
      } finally {
        this.inFlight--;
        this.changed.notify();
      }
      this.window.settle(index, result.sentBytes, result.endedAt);
      this.onResult({ input, result });
      this.completed(index);
    }
  }

  private async ungated(): Promise<void> {
    while (this.gate) await this.gate.promise;
  }

  /** Per-exec oracles and bookkeeping, as each result arrives. */
  private onResult(ran: Ran): void {
    const { o } = this;
    this.execs++;
    this.recent.push(ran);
    if (this.recent.length > MAX_RECENT) this.recent.splice(0, this.recent.length - MAX_RECENT / 2);
    if (ran.result.latencyMs !== undefined) {
      this.latencies.push(ran.result.latencyMs);
      if (this.latencies.length >= EPOCH) this.adaptTimers(this.latencies.splice(0));
    }
    // Floods stay out of the corpus: megabytes per exec, and a mutation would only cut them short.
    if (ran.input.client.side === 'client' && !ran.input.server && !isBulk(ran.input.client)) this.offers.set(ran.input.index, { ex: ran.input.client, signature: replySignature(o.protocol, ran.result) });
    const verdict = memoryVerdict(o.protocol, ran.input.client, ran.result) ?? this.checkAnswer(ran);
    if (verdict) this.flag(verdict, ran.input);
    // The oracles have read the answer: the triage candidate keeps only its start (copied, so the rest can go).
    if (ran.result.reply.length > CANDIDATE_REPLY_BYTES) ran.result.reply = Buffer.from(ran.result.reply.subarray(0, CANDIDATE_REPLY_BYTES));
    // A crashed target refuses everything after: pause the loops, triage, restart, resume.
    if (o.target.exited()) void this.exclusive(() => this.exitSeen(this.takeRecent()).then(() => undefined));
  }

  /** A per-exec verdict seen while the loops run: a known finding is counted, a new one confirmed alone. */
  private flag(verdict: Verdict, input: ExecInput): void {
    const id = findingId(this.o.protocol, verdict);
    if (this.store.has(id)) this.store.hit(id);
    else void this.exclusive(() => this.report(verdict, input));
  }

  /** Exec `index` is over (run or skipped): corpus epochs wait for every exec of theirs. */
  private completed(index: number): void {
    const epoch = Math.floor(index / EPOCH);
    this.epochDone.set(epoch, (this.epochDone.get(epoch) ?? 0) + 1);
    this.changed.notify();
  }

  /**
   * The corpus for inputs of epoch `epoch`: every exec of the epochs up to `epoch - CORPUS_LAG`,
   * offered in exec order. Inputs stay a function of (seed, index) and the target's answers, whatever the
   * order in which concurrent execs finish.
   */
  private async corpusFor(epoch: number): Promise<void> {
    while (this.appliedEpochs <= epoch - CORPUS_LAG) {
      const j = this.appliedEpochs;
      while (this.appliedEpochs === j && (this.epochDone.get(j) ?? 0) < EPOCH) await this.changed.wait();
      if (this.appliedEpochs !== j) continue;
      for (let i = j * EPOCH; i < (j + 1) * EPOCH; i++) {
        const offer = this.offers.get(i);
        if (offer) this.generator.corpusEntries.offer(offer.ex, offer.signature);
        this.offers.delete(i);
      }
      this.epochDone.delete(j);
      this.appliedEpochs++;
    }
  }

  /**
   * Beside the loops: backend records checked as they arrive, the liveness probe every
   * PROBE_EVERY_MS, resident memory, progress.
   */
  private async monitor(): Promise<void> {
    const { o } = this;
    let lastProbe = Date.now();
    let lastProgress = 0;
    while (!this.finished() || this.inFlight > 0) {
      await new Promise((r) => setTimeout(r, TICK_MS));
      if (Date.now() - lastProgress >= 100) {
        lastProgress = Date.now();
        o.onProgress?.(this.progress());
      }
      if (this.gate || this.finished()) continue;
      for (const v of this.checkRecords()) this.flag(v.verdict, v.input);
      o.target.backend?.trimHostile(4 * (o.concurrency ?? 16));
      if (Date.now() - lastProbe < PROBE_EVERY_MS) continue;
      lastProbe = Date.now();
      const rss = o.target.rssMb();
      const bound = o.maxRssMb ?? 512;
      if (rss !== undefined && rss > bound) {
        void this.exclusive(async () => {
          const verdict: Verdict = { oracle: 'memory', location: `${o.protocol}: resident memory above ${bound} MiB`, detail: `RSS ${rss.toFixed(0)} MiB after ${this.execs} execs` };
          const id = findingId(o.protocol, verdict);
          if (this.store.has(id)) this.store.hit(id);
          else this.record(verdict, this.recent[this.recent.length - 1]?.input ?? this.generator.generate(0), false);
          if (!(await o.target.restart())) this.stop();
        });
        continue;
      }
      const probeStarted = Date.now();
      const health = await probe(o.protocol, o.target.endpoint(), this.probeBytes, this.hangTimeoutMs);
      if (this.gate) continue;
      if (health === 'ok') {
        this.probeAnswered = true;
        // Execs that ended before an answered probe began did not break the target: no longer candidates.
        const keepFrom = probeStarted - 200;
        const first = this.recent.findIndex((r) => r.result.endedAt >= keepFrom);
        this.recent.splice(0, first < 0 ? this.recent.length : first);
        continue;
      }
      await this.exclusive(() => this.confirmFailure(health));
    }
  }

  /**
   * A probe went unanswered while the loops ran: look again on the quiet target (a loaded machine
   * answers late: only a second, longer silence counts as a hang), then triage.
   */
  private async confirmFailure(first: Exclude<Health, 'ok'>): Promise<void> {
    const { o } = this;
    const ran = this.takeRecent();
    if (await this.exitSeen(ran)) return;
    let health: Health = first;
    if (health === 'error') health = await probe(o.protocol, o.target.endpoint(), this.probeBytes, this.hangTimeoutMs);
    if (health === 'no-answer') {
      health = await probe(o.protocol, o.target.endpoint(), this.probeBytes, this.hangKnown() ? this.hangTimeoutMs : 2 * this.hangTimeoutMs);
      if (health !== 'no-answer') this.log(`slow answer to the liveness probe after exec ${this.execs} (more than ${this.hangTimeoutMs} ms)`);
    }
    if (health === 'refused' || health === 'error') await this.awaitExit(2000);
    if (await this.exitSeen(ran)) return;
    if (health === 'error' && (await this.closesWithoutAnswer())) {
      const verdict = closedVerdict(o.protocol, 'after the execs');
      this.log(`target closes connections unanswered: ${verdict.location}`);
      await this.processFailure(verdict, ran, Date.now());
      return;
    }
    if (health === 'no-answer' || health === 'refused') {
      const verdict: Verdict = health === 'no-answer'
        ? { oracle: 'hang', location: `${o.protocol}: no answer to a well-formed request`, detail: `the target did not answer a well-formed request within ${this.hangTimeoutMs} ms (event loop blocked or stuck)` }
        : { oracle: 'exit', location: `${o.protocol}: target stopped accepting connections`, detail: 'connection refused after the execs: nothing accepts connections at the target address any more' };
      this.log(`target ${health}: ${verdict.location}`);
      await this.processFailure(verdict, ran, Date.now());
    }
  }

  /**
   * The probe's connection was closed (or reset) without a byte of answer, on a quiet target that
   * answered the same probe earlier in this campaign: look twice more, 500 ms apart. A listener that
   * keeps taking connections while the service behind it is dead (a crashed worker pool, a lost
   * backend) is broken although nothing exits and nothing hangs.
   */
  private async closesWithoutAnswer(): Promise<boolean> {
    if (!this.probeAnswered) return false;
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, 500));
      if ((await probe(this.o.protocol, this.o.target.endpoint(), this.probeBytes, this.hangTimeoutMs)) !== 'error') return false;
    }
    return true;
  }

  /** The triage candidates: execs that ended since the last answered probe began. */
  private takeRecent(): Ran[] {
    const ran = this.recent;
    this.recent = [];
    return ran;
  }

  /**
   * Run `task` alone against the target: the loops stop starting execs, the ones in flight finish,
   * their backend records are checked, then the task runs; the loops resume after it. Tasks queue.
   */
  private exclusive(task: () => Promise<void>): Promise<void> {
    if (this.holds++ === 0) {
      let release!: () => void;
      const promise = new Promise<void>((r) => (release = r));
      this.gate = { promise, release };
    }
    const run = this.chain.then(async () => {
      while (this.inFlight > 0) await this.changed.wait();
      const backend = this.o.target.backend;
      if (backend) {
        const deadline = Date.now() + 1500;
        while (backend.openConnections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        for (const v of this.checkRecords()) await this.report(v.verdict, v.input);
        backend.clearHostile();
      }
      await task();
    }).catch((err: unknown) => {
      this.error ??= err as Error;
      this.stop();
    }).finally(() => {
      if (--this.holds === 0) {
        const gate = this.gate!;
        this.gate = undefined;
        gate.release();
      }
    });
    this.chain = run;
    return run;
  }

  /**
   * Silent answers end an exec by timer, so the timers set the pace: they follow the target's
   * observed answer latency (95th percentile of the last EPOCH answers), within the configured
   * ceilings, so a fast target is not waited on and a loaded one is not cut off.
   */
  private adaptTimers(latencies: number[]): void {
    if (this.o.exec?.quietMs !== undefined) return;
    const lat = latencies.sort((a, b) => a - b);
    if (lat.length < 8) return;
    const p95 = lat[Math.floor(lat.length * 0.95)];
    const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));
    this.exec.quietMs = clamp(2 * p95, 10, DEFAULT_EXEC_OPTIONS.quietMs);
    this.exec.gapMs = clamp(2 * p95, 10, DEFAULT_EXEC_OPTIONS.gapMs);
    this.exec.firstReplyMs = clamp(4 * p95, 25, DEFAULT_EXEC_OPTIONS.firstReplyMs);
    // The hard bound follows the latency too: a stuck exec holds one loop for at most this long.
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

  /**
   * Policy: what reached the backend (connections closed since the last look), against the route's
   * allow rules and the window of streams the fuzzer sent (execs in flight and recently ended, and the
   * liveness probe's, whose association also reaches the backend).
   */
  private checkRecords(): Array<{ verdict: Verdict; input: ExecInput }> {
    const { o } = this;
    const backend = o.target.backend;
    if (!backend) return [];
    const records = backend.drain();
    // Streams go only when no connection to be checked, or still open, may need them.
    let since = backend.oldestOpenSince() ?? Date.now();
    for (const rec of records) since = Math.min(since, rec.openedAt);
    this.window.evict(Date.now(), since);
    const peer = o.policy?.peer ?? { address: '127.0.0.1', subjects: [], sans: [] };
    const out: Array<{ verdict: Verdict; input: ExecInput }> = [];
    for (const rec of records) {
      const verdict = checkBackend(o.protocol, rec, this.window, o.policy?.rules, peer);
      if (!verdict) continue;
      // The culprit: the exec whose stream begins most like what the backend got (confirmed alone by report()).
      const match = this.window.closest(rec.receivedChunks ?? rec.received);
      if (!match?.tag) continue;
      // Altered bytes are judged against a window of streams: the evidence says where they part.
      if (verdict.location === RELAYED_BYTES_ALTERED) verdict.detail += `; ${describeMatch(rec, match)}`;
      out.push({ verdict, input: match.tag });
    }
    return out;
  }

  /**
   * Server side: what the benign client got must be what a hostile backend answered. Which
   * connection got which hostile answer depends on arrival order: its own answer first, then any
   * recent one is what a client may legitimately receive.
   */
  private checkAnswer(ran: Ran): Verdict | undefined {
    const server = ran.input.server;
    if (!server) return undefined;
    const own = Buffer.concat(server.chunks);
    if (this.o.protocol === 'hl7') {
      // Indexed once per stream (sent-frames.ts): splitting every recent stream into frames again on
      // every exec held this route to ~90 execs/s.
      this.hostileFrames.add(own);
      const backend = this.o.target.backend;
      return checkRelayedFrames(ran.result.reply, (p) => this.hostileFrames.has(p) || (backend?.sentFrame(p) ?? false));
    }
    this.recentHostile.push(own);
    if (this.recentHostile.length > MAX_RECENT) this.recentHostile.splice(0, MAX_RECENT / 2);
    if (!checkRelayedAnswer(this.o.protocol, ran.result.reply, [own])) return undefined;
    return checkRelayedAnswer(this.o.protocol, ran.result.reply, [...this.recentHostile, ...(this.o.target.backend?.answersSent() ?? [])]);
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
    const r = this.record(verdict, input, false, confirmed ? '' : ' (seen once among concurrent execs; not reproduced alone)');
    if (confirmed) this.toMinimize.push({ r, input });
  }

  private record(verdict: Verdict, input: ExecInput, minimized: boolean, note = ''): Reproducer {
    const r: Reproducer = {
      format: REPRODUCER_FORMAT,
      id: findingId(this.o.protocol, verdict),
      oracle: verdict.oracle,
      protocol: this.o.protocol,
      location: verdict.location,
      // Details quote what the target sent or said (AE titles, stderr): printed, so no terminal escapes.
      detail: printable(verdict.detail + note),
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
    if (this.o.until?.(this.store.reproducers())) this.stop();
    return r;
  }

  /** Exit or hang seen while the loops ran: find the exec (since the last answered probe) that causes it, record and minimize it. */
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
      // Not restartable (a peer at an address): report the last exec's input and stop.
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
        // Another recent input that breaks the target in a known way: keep looking for this one.
        if (v.location !== verdict.location) continue;
        return;
      }
      const r = this.record(v, c.input, false);
      this.toMinimize.push({ r, input: c.input });
      return;
    }
    if (verdict.oracle === 'hang') {
      // No single input hangs a fresh target: a stall of the execs as a whole (load), not reported.
      this.log(`stall after exec ${this.execs} not reproduced by any single recent input; not reported`);
      return;
    }
    const id = findingId(o.protocol, verdict);
    if (this.store.has(id)) this.store.hit(id);
    else if (candidates[0]) this.record(verdict, candidates[0].input, false, ' (not reproduced by a single exec: may need several together)');
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
    // In the window like any exec: a connection of the replay that closes after the wait below is
    // checked by the campaign's next look at the backend, against this stream.
    const replayId = this.nextReplayId--;
    this.window.add(replayId, input.client.chunks, { index: -1, ...input });
    const result = await this.runOne({ index: -1, ...input });
    this.window.settle(replayId, result.sentBytes, result.endedAt);
    // An exit shows up a moment after the connection drops (a complete answer means it did not).
    if (result.outcome !== 'complete' && result.outcome !== 'quiet') for (let i = 0; i < 10 && !target.exited(); i++) await new Promise((r) => setTimeout(r, 10));
    let verdict: Verdict | undefined;
    const exit = target.exited();
    if (exit) verdict = { oracle: 'exit', location: crashLocation(exit.stderr, exit.code, exit.signal), detail: crashMessage(exit.stderr) };
    else {
      let health = await probe(o.protocol, target.endpoint(), this.probeBytes, this.hangTimeoutMs);
      if (health === 'ok') this.probeAnswered = true;
      // As in the loop: only a second, longer silence counts as a hang.
      if (health === 'no-answer' && !this.hangKnown()) health = await probe(o.protocol, target.endpoint(), this.probeBytes, 2 * this.hangTimeoutMs);
      if (health === 'refused' || health === 'error') await this.awaitExit(2000);
      const exit2 = target.exited();
      if (exit2) verdict = { oracle: 'exit', location: crashLocation(exit2.stderr, exit2.code, exit2.signal), detail: crashMessage(exit2.stderr) };
      else if (health === 'error' && (await this.closesWithoutAnswer())) verdict = closedVerdict(o.protocol, `after this exchange (${totalBytes(input.client)} bytes)`);
      else if (health === 'no-answer') verdict = { oracle: 'hang', location: `${o.protocol}: no answer to a well-formed request`, detail: `the target stopped answering within ${this.hangTimeoutMs} ms after this exchange (${totalBytes(input.client)} bytes)` };
      else if (health === 'refused') verdict = { oracle: 'exit', location: `${o.protocol}: target stopped accepting connections`, detail: 'connection refused after the exchange' };
    }
    if (!verdict) verdict = memoryVerdict(o.protocol, input.client, result);
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
