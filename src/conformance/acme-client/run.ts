import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WardgateError } from '../../errors.ts';
import { loadRequirements, type RequirementSet } from '../requirements.ts';
import { buildReport, type Report } from '../report.ts';
import { ACME_CLIENT_OPTIONS, judgeExchange } from './checks.ts';
import { clientEnv, placeholders, runClient, substitute } from './client-command.ts';
import { collectOrders } from './collect.ts';
import { PHASES, type ExchangeRecord, type Phase } from './exchange.ts';
import { DEFAULT_FAULT_PLAN, type FaultPlan } from './fault-plan.ts';
import { startTestCa, type TestCa } from './test-ca.ts';

export interface AcmeClientRunOptions {
  /** The client command for the enroll phase; placeholders like {directory} are substituted (client-command.ts). */
  command: string[];
  /** The command for the renewal phases (renew, order-not-ready, untrusted-server); default: `command`. */
  renewCommand?: string[];
  claims: string[];
  /** Per run of the client command. */
  timeoutMs: number;
  phases?: Phase[];
  plan?: Partial<FaultPlan>;
  serverAddress?: string;
  deviceAddress?: string;
  dnsSuffix?: string;
  http01Port?: number;
  tlsAlpn01Port?: number;
  /** Scratch dir (CA, client state); default: a temp dir removed afterwards. */
  workDir?: string;
  requirements?: RequirementSet;
  /** Progress lines (phase starts, client exits). */
  progress?: (line: string) => void;
  /** Client output, as it comes. */
  echo?: (chunk: Buffer) => void;
}

function checkOptions(o: AcmeClientRunOptions): void {
  if (o.command.length === 0) throw new WardgateError('CLI_ARGUMENT', 'give the client command after --');
  for (const c of o.claims) {
    if (!(ACME_CLIENT_OPTIONS as readonly string[]).includes(c)) throw new WardgateError('CLI_ARGUMENT', `unknown --claim "${c}" for acme-client (expected ${ACME_CLIENT_OPTIONS.join(', ')})`);
  }
  for (const p of o.phases ?? []) {
    if (!(PHASES as readonly string[]).includes(p)) throw new WardgateError('CLI_ARGUMENT', `unknown phase "${p}" (expected ${PHASES.join(', ')})`);
  }
  for (const [flag, a] of [['--server-address', o.serverAddress], ['--device-address', o.deviceAddress]] as const) {
    if (a !== undefined && !/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a)) throw new WardgateError('CLI_ARGUMENT', `${flag} must be a loopback IPv4 address (127.x.y.z): the kit never listens elsewhere`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const NO_CERTIFICATE = 'the client obtained no certificate in the enroll phase';

/**
 * Why the run did not exercise everything it set out to (Report.incomplete): runs of the client the
 * kit had to kill at --timeout (a hung client), runs that died of a signal (a crash), and phases that
 * could not run. The verdicts reached stay; the judges report what is missing as inconclusive.
 */
export function incompleteReason(record: ExchangeRecord, requested: readonly Phase[]): string | undefined {
  const parts: string[] = [];
  for (const c of record.commands) {
    if (c.timedOut) parts.push(`run ${c.invocation} of the client (${c.phase}) did not exit and was killed at the timeout after ${c.ms} ms`);
    else if (c.signal) parts.push(`run ${c.invocation} of the client (${c.phase}) died of ${c.signal}`);
  }
  const skipped = requested.filter((p) => !record.phases.includes(p));
  if (skipped.length) parts.push(`phase${skipped.length > 1 ? 's' : ''} ${skipped.join(', ')} did not run: ${NO_CERTIFICATE}`);
  return parts.length ? parts.join('; ') : undefined;
}

/** True when an order created in `phase` (from invocation `since` on) got a certificate. */
function renewedIn(t: TestCa, phase: Phase, since = 0): boolean {
  return t.session.orderIds.some((id) => {
    const made = t.session.orderAt.get(id);
    return made?.phase === phase && t.ctx.store.getOrder(id)?.certSerial !== undefined
      && t.session.requests.some((r) => r.resource === 'newOrder' && r.response.location?.endsWith(`/${id}`) && r.invocation >= since);
  });
}

/**
 * Runs the client through the phases against an instrumented test CA and returns the record. Phases:
 * enroll (badNonce on the first newOrder, pending authorization and processing order with Retry-After);
 * renew (re-run every plan.renewEverySeconds, as a scheduler would, until a renewal happened or
 * plan.renewForSeconds passed; the first certificate's ARI window moves); order-not-ready (one run,
 * first finalize refused); untrusted-server (one run against a foreign server certificate).
 */
export async function recordAcmeClient(opts: AcmeClientRunOptions): Promise<ExchangeRecord> {
  checkOptions(opts);
  const plan: FaultPlan = { ...DEFAULT_FAULT_PLAN, ...opts.plan, ari: { ...DEFAULT_FAULT_PLAN.ari, ...opts.plan?.ari } };
  const phases = PHASES.filter((p) => (opts.phases ?? PHASES).includes(p));
  const ownWork = opts.workDir === undefined;
  const workDir = opts.workDir ?? mkdtempSync(join(tmpdir(), 'wardgate-conformance-'));
  const deviceAddress = opts.deviceAddress ?? '127.60.0.2';
  const t = await startTestCa({
    workDir, serverAddress: opts.serverAddress ?? '127.60.0.1', deviceAddress, dnsSuffix: opts.dnsSuffix ?? 'conformance.test',
    http01Port: opts.http01Port, tlsAlpn01Port: opts.tlsAlpn01Port, claims: opts.claims, plan,
  });
  const stateDir = join(workDir, 'client');
  mkdirSync(stateDir, { recursive: true });
  const say = opts.progress ?? (() => {});
  const ran: Phase[] = [];
  let runs = 0;
  try {
    say(`test CA: ${t.directoryUrl} (root ${t.rootPemPath}); device ${t.deviceName} -> ${deviceAddress}, http-01 port ${t.http01Port}, tls-alpn-01 port ${t.tlsAlpn01Port}${t.dns ? `, DNS ${t.dns.resolver}` : ', no DNS server (pebble-challtestsrv not found)'}`);
    const runOnce = async (phase: Phase) => {
      const ctxValues = {
        directoryUrl: t.directoryUrl, rootPemPath: t.rootPemPath, cacertsUrl: `${t.distributionUrl}/.well-known/est/cacerts`, http01Port: t.http01Port, tlsAlpn01Port: t.tlsAlpn01Port, deviceAddress,
        deviceName: t.deviceName, stateDir, phase, dnsResolver: t.dns?.resolver, dnsManagementUrl: t.dns?.managementUrl, eab: t.eab,
      };
      const argv = substitute(phase === 'enroll' ? opts.command : opts.renewCommand ?? opts.command, placeholders(ctxValues));
      const invocation = ++runs;
      t.session.invocation = invocation;
      const startedAt = t.session.now();
      say(`${phase}: run ${invocation}: ${argv.join(' ')}`);
      const r = await runClient(argv, clientEnv(ctxValues), opts.timeoutMs, stateDir, opts.echo);
      t.session.commands.push({ phase, invocation, argv, startedAt, ms: r.ms, exitCode: r.exitCode, ...(r.signal ? { signal: r.signal } : {}), ...(r.timedOut ? { timedOut: true } : {}), outputTail: r.outputTail });
      say(`${phase}: run ${invocation} ${r.timedOut ? 'killed at the timeout' : 'exited'} ${r.exitCode ?? r.signal} after ${r.ms} ms`);
      t.session.invocation = 0;
      return invocation;
    };
    for (const phase of phases) {
      t.session.phase = phase;
      const haveCert = renewedIn(t, 'enroll');
      if (phase !== 'enroll' && !haveCert) {
        t.session.notes.push(`phase ${phase} skipped: ${NO_CERTIFICATE}`);
        continue;
      }
      ran.push(phase);
      if (phase === 'renew') {
        const until = Date.now() + plan.renewForSeconds * 1000;
        for (;;) {
          const inv = await runOnce(phase);
          if (renewedIn(t, phase, inv) || Date.now() + plan.renewEverySeconds * 1000 > until) break;
          await sleep(plan.renewEverySeconds * 1000);
        }
        if (!renewedIn(t, phase)) t.session.notes.push(`phase renew: no renewal within ${plan.renewForSeconds} s`);
      } else if (phase === 'untrusted-server') {
        const restore = await t.presentForeignCertificate();
        t.session.fault({ kind: 'untrustedServerCertificate', at: t.session.now(), phase });
        try {
          await runOnce(phase);
        } finally {
          restore();
        }
      } else {
        await runOnce(phase);
      }
      // Background validations and issuances finish before the next phase (and before the store is read).
      await t.ctx.work.drain();
    }
    t.session.phase = ran.at(-1) ?? 'enroll';
    const { orders, certificates } = await collectOrders(t.session, t.ctx);
    return { ...t.session.snapshot(ran), orders, certificates };
  } finally {
    await t.close();
    if (ownWork) rmSync(workDir, { recursive: true, force: true });
  }
}

/** Runs the kit and reports every requirement judged by an acme-client check (JSON/HTML via report.ts). */
export async function runAcmeClient(opts: AcmeClientRunOptions): Promise<{ report: Report; record: ExchangeRecord }> {
  const requirements = opts.requirements ?? loadRequirements();
  const startedAt = new Date();
  const record = await recordAcmeClient(opts);
  const incomplete = incompleteReason(record, PHASES.filter((p) => (opts.phases ?? PHASES).includes(p)));
  const report = buildReport({
    kit: 'acme-client', target: opts.command.join(' '), requirements, actors: ['Enrolling Node'],
    verdicts: judgeExchange(record), claimedOptions: opts.claims, ...(incomplete ? { incomplete } : {}), startedAt, finishedAt: new Date(),
  });
  return { report, record };
}
