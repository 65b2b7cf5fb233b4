import { WardgateError } from '../../errors.ts';
import type { ClientHelloOptions } from '../tls/client-hello.ts';
import { handshakeProbe, type HandshakeOptions, type HandshakeOutcome } from '../tls/handshake-probe.ts';
import { rawProbe, type Endpoint, type RawOutcome } from '../tls/raw-probe.ts';

export type AnsweredRaw = Exclude<RawOutcome, { kind: 'unreachable' }>;
type Hello = Omit<ClientHelloOptions, 'serverName'> & { withoutSni?: boolean };

/**
 * Thrown by a ProbeRun once the endpoint has stopped answering: the collector stops probing and
 * reports what it has. `reason` is a printable sentence for the report.
 */
export class EndpointStopped extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'EndpointStopped';
  }
}

/** A raw answer that holds no TLS byte from the server: a close, a reset or silence. */
function rawSilent(r: AnsweredRaw): boolean {
  return (r.kind === 'closed' || r.kind === 'timeout') && !r.flight.hello && !r.flight.alert;
}

function rawText(r: AnsweredRaw): string {
  if (r.kind === 'timeout') return 'no answer before the timeout';
  return r.kind === 'closed' && r.reset ? `the connection reset (${r.reset})` : 'the connection closed';
}

/**
 * The probes of one tls-node run against one endpoint, in order. It tells a product that stopped
 * answering mid-run from one that answers a probe by hanging up:
 * - no TCP connection on the first probe: the target is down or wrong (TLS_PROBE_FAILED, no report);
 * - no TCP connection later: the endpoint stopped accepting connections (EndpointStopped);
 * - a close, reset or silence with no TLS byte: only an answer if the endpoint still answers the last
 *   raw ClientHello it answered with TLS (a ServerHello or an alert); otherwise EndpointStopped, and
 *   that probe's outcome is no evidence. A refusal "proved" by a dead endpoint would pass the
 *   refusal checks (versions, client certificates) of a product that merely crashed.
 */
export class ProbeRun {
  private connected = false;
  private lastLabel?: string;
  private lastAnswered?: { label: string; hello: Hello };
  /** Probes whose outcome is evidence (the endpoint answered them); the collector tells a cut-short stage by it. */
  answered = 0;

  constructor(readonly endpoint: Endpoint, readonly timeoutMs: number) {}

  async raw(label: string, hello: Hello): Promise<AnsweredRaw> {
    const r = await rawProbe(this.endpoint, hello, this.timeoutMs);
    if (r.kind === 'unreachable') return this.unreachable(r.error);
    if (rawSilent(r)) await this.stillAnswering(label, rawText(r));
    else if (r.flight.hello || r.flight.alert) this.lastAnswered = { label, hello };
    this.done(label);
    return r;
  }

  async handshake(label: string, opts: HandshakeOptions): Promise<HandshakeOutcome> {
    const o = await handshakeProbe(this.endpoint, opts);
    if (o.unreachable) return this.unreachable(o.unreachable);
    if (o.abrupt) await this.stillAnswering(label, o.error ?? 'the connection ended');
    this.done(label);
    return o;
  }

  private done(label: string): void {
    this.answered += 1;
    this.connected = true;
    this.lastLabel = label;
  }

  private unreachable(code: string): never {
    const where = `${this.endpoint.host}:${this.endpoint.port}`;
    if (!this.connected) throw new WardgateError('TLS_PROBE_FAILED', `cannot connect to ${where}: ${code}`);
    throw new EndpointStopped(`the endpoint stopped accepting connections after probe "${this.lastLabel}": ${code}`);
  }

  /** Repeats the last ClientHello the endpoint answered with TLS; throws EndpointStopped if it no longer does. */
  private async stillAnswering(label: string, what: string): Promise<void> {
    const known = this.lastAnswered;
    if (!known) return; // nothing answered yet: the close or silence is the endpoint's only answer so far
    const again = await rawProbe(this.endpoint, known.hello, this.timeoutMs);
    if (again.kind !== 'unreachable' && (again.flight.hello || again.flight.alert)) return;
    const repeat = again.kind === 'unreachable' ? `could not connect (${again.error})` : `got ${again.kind === 'not-tls' ? `an answer that is not TLS (${again.error})` : rawText(again)}`;
    throw new EndpointStopped(`the endpoint stopped answering after probe "${this.lastLabel}": probe "${label}" got ${what}, and a repeat of "${known.label}", which it had answered, ${repeat}`);
  }
}
