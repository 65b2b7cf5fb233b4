/**
 * The fault plan (fault-plan.ts) applied to live requests: errors answered instead of the handler
 * (inject, from a preHandler hook) and successful answers rewritten into slower but legitimate ones
 * (rewrite, from an onSend hook). The server keeps doing the real work; only what the client sees
 * changes. Each applied fault is noted per request (faultOf) and in the session.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseCertId } from '../../acme/ari.ts';
import type { AcmeContext } from '../../acme/context.ts';
import { AcmeProblem } from '../../acme/problems.ts';
import type { AcmeResource, RecordedRequest } from './exchange.ts';
import { windowAt } from './fault-plan.ts';
import type { KitSession } from './session.ts';

const applied = new WeakMap<FastifyRequest, NonNullable<RecordedRequest['fault']>>();

/** The fault the kit applied to this request's answer, if any. */
export function faultOf(request: FastifyRequest): RecordedRequest['fault'] {
  return applied.get(request);
}

/** First certificate issued to the client in this run: the one whose ARI window moves. */
function firstSerial(session: KitSession, ctx: AcmeContext): string | undefined {
  for (const id of session.orderIds) {
    const serial = ctx.store.getOrder(id)?.certSerial;
    if (serial) return serial;
  }
  return undefined;
}

/**
 * Rewrites a successful JSON answer as the plan's slow server would give it (RFC 8555 §7.5.1: pending
 * authorizations; §7.4: `processing` orders; both with Retry-After) or with the plan's ARI window
 * (RFC 9773 §4.2). Returns the new body, or undefined to leave the answer alone.
 */
export function rewrite(session: KitSession, ctx: AcmeContext, resource: AcmeResource, request: FastifyRequest, reply: FastifyReply, body: Record<string, unknown>, url: string): Record<string, unknown> | undefined {
  const plan = session.plan;
  const params = request.params as Record<string, string>;
  const now = Date.now();
  const slowFor = plan.processingSeconds * 1000;
  const slow = (id: string | undefined) => id !== undefined && (session.slowUntil.get(id) ?? 0) > now;
  const answered = (request.body as { payload?: string } | undefined)?.payload !== '';
  if (resource === 'finalize' && session.phase === 'enroll' && !session.processingOrderDone && slowFor > 0) {
    session.processingOrderDone = true;
    session.slowUntil.set(params.id, now + slowFor);
  }
  if (resource === 'challenge' && answered && session.phase === 'enroll' && !session.pendingAuthzDone && slowFor > 0) {
    const authzId = ctx.store.getChallenge(params.id)?.authzId;
    if (authzId) {
      session.pendingAuthzDone = true;
      session.slowUntil.set(authzId, now + slowFor);
    }
  }
  const retryAfter = () => {
    reply.header('Retry-After', String(plan.processingSeconds));
    session.fault({ kind: 'retryAfter', at: session.now(), phase: session.phase, resource, url, seconds: plan.processingSeconds });
    applied.set(request, 'retryAfter');
  };
  if ((resource === 'finalize' || resource === 'order') && slow(params.id) && (body.status === 'valid' || body.status === 'processing')) {
    retryAfter();
    const { certificate: _dropped, ...rest } = body;
    return { ...rest, status: 'processing' };
  }
  if (resource === 'challenge' && slow(ctx.store.getChallenge(params.id)?.authzId) && body.status === 'valid') {
    retryAfter();
    const { validated: _v, ...rest } = body;
    return { ...rest, status: 'processing' };
  }
  if (resource === 'authorization' && slow(params.id) && body.status === 'valid') {
    retryAfter();
    const challenges = (body.challenges as Array<Record<string, unknown>> | undefined)?.map(({ validated: _v, ...c }) => (c.status === 'valid' ? { ...c, status: 'processing' } : c));
    return { ...body, status: 'pending', challenges };
  }
  if (resource === 'renewalInfo') {
    const certId = params.certId;
    const record = ctx.ca.store.getCertificate(parseCertId(certId).serial);
    if (!record) return undefined;
    const w = windowAt(plan, { issuedAt: Date.parse(record.createdAt), notAfterMs: Date.parse(record.notAfter), first: record.serial === firstSerial(session, ctx) }, now);
    const start = new Date(w.start).toISOString();
    const end = new Date(w.end).toISOString();
    const last = [...session.windows].reverse().find((x) => x.certId === certId);
    if (!last || last.start !== start || last.end !== end) {
      session.windows.push({ certId, from: session.now(), start, end });
      session.fault({ kind: 'ariWindow', at: session.now(), phase: session.phase, certId, start, end });
    }
    reply.header('Retry-After', String(plan.ari.retryAfterSeconds));
    return { suggestedWindow: { start, end } };
  }
  return undefined;
}

/** Faults answered instead of the handler: badNonce (§6.5) and orderNotReady (§7.4), once each. */
export function inject(session: KitSession, ctx: AcmeContext, resource: AcmeResource, request: FastifyRequest): void {
  const nonce = (() => {
    try {
      return JSON.parse(Buffer.from(String((request.body as { protected?: string }).protected), 'base64url').toString('utf8')).nonce as string | undefined;
    } catch {
      return undefined;
    }
  })();
  if (resource === 'newOrder' && session.plan.badNonceOnFirstNewOrder && !session.badNonceDone && typeof nonce === 'string') {
    session.badNonceDone = true;
    // A real rejection uses the nonce up; the client must take the fresh one from this error response.
    ctx.nonces.consume(nonce);
    applied.set(request, 'badNonce');
    session.fault({ kind: 'badNonce', at: session.now(), phase: session.phase, resource, nonce });
    throw new AcmeProblem('badNonce', 'conformance kit: this nonce is refused on purpose; retry with the Replay-Nonce of this response (RFC 8555 §6.5)');
  }
  if (resource === 'finalize' && session.phase === 'order-not-ready' && session.plan.orderNotReadyPhase && !session.orderNotReadyDone.has(session.phase)) {
    const id = (request.params as { id: string }).id;
    if (ctx.store.getOrder(id)?.status !== 'ready' || typeof nonce !== 'string') return;
    session.orderNotReadyDone.add(session.phase);
    ctx.nonces.consume(nonce);
    applied.set(request, 'orderNotReady');
    const orderUrl = ctx.urls.order(id);
    session.fault({ kind: 'orderNotReady', at: session.now(), phase: session.phase, orderUrl });
    throw new AcmeProblem('orderNotReady', 'conformance kit: finalize refused once on purpose, as after a concurrent change; read the order and finalize when it is ready (RFC 8555 §7.4)');
  }
}
