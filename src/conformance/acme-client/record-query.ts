/** Small, named questions the checks ask of an ExchangeRecord, so each judge reads like its rule. */
import { isIP } from 'node:net';
import { canonicalIp } from '../../pki/ip.ts';
import { windowAt } from './fault-plan.ts';
import type { ExchangeRecord, RecordedCertificate, RecordedOrder, RecordedRequest } from './exchange.ts';

/** Allowance for timer and network jitter when comparing a client's wait with a Retry-After (ms). */
export const TIMING_SLACK_MS = 100;

export const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function acmeRequests(r: ExchangeRecord): RecordedRequest[] {
  return r.requests.filter((q) => q.listener === 'acme');
}

export function jwsRequests(r: ExchangeRecord): RecordedRequest[] {
  return acmeRequests(r).filter((q) => q.jws !== undefined);
}

export function claims(r: ExchangeRecord, option: string): boolean {
  return r.claims.includes(option);
}

export function idKey(i: { type: string; value: string }): string {
  return `${i.type}:${i.value}`;
}

/** The commands' exit statuses, for evidence when nothing else happened. */
export function commandSummary(r: ExchangeRecord): string {
  if (r.commands.length === 0) return 'the client command never ran';
  return r.commands.map((c) => `${c.phase} run ${c.invocation}: exit ${c.exitCode ?? c.signal}`).join('; ');
}

/** The end of a run's output (default: the last run), for evidence. */
export function lastOutput(r: ExchangeRecord, invocation?: number): string {
  const cmd = invocation === undefined ? r.commands.at(-1) : r.commands.find((c) => c.invocation === invocation);
  const tail = cmd?.outputTail.trim().split('\n').slice(-3).join(' | ') ?? '';
  return tail ? ` Last output: ${tail.slice(0, 300)}` : '';
}

/** The first certificate issued in the run and the order that obtained it. */
export function firstCertificate(r: ExchangeRecord): RecordedCertificate | undefined {
  return r.certificates[0];
}

/** Orders made after `cert` was issued that ask for at least one of its names: its renewals, first first. */
export function renewalOrders(r: ExchangeRecord, cert: RecordedCertificate): RecordedOrder[] {
  const names = new Set(cert.names);
  return r.orders.filter((o) => o.at > cert.issuedAt && o.id !== cert.orderId && o.identifiers.some((i) => names.has(i.value)));
}

/** RFC 8738 §3: an IPv4 address in dotted-decimal, an IPv6 address in RFC 5952 form (so without a zone ID). */
export function isCanonicalIp(value: string): boolean {
  return isIP(value) !== 0 && !value.includes('%') && canonicalIp(value) === value;
}

/** The window (ms since the run started) the kit served for `cert` at `at` (fault-plan.ts windowAt). */
export function windowInEffect(r: ExchangeRecord, cert: RecordedCertificate, at: number): { start: number; end: number } {
  const notAfterMs = Date.parse(cert.notAfter) - Date.parse(r.startedAt);
  return windowAt(r.plan, { issuedAt: cert.issuedAt, notAfterMs, first: r.certificates[0]?.serial === cert.serial }, at);
}
