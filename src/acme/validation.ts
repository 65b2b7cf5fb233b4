import { validateChallenge } from './challenges/index.ts';
import type { AcmeContext } from './context.ts';
import { authzAsOf, effectiveOrderStatus } from './expiry.ts';
import { problemDocument } from './problems.ts';
import type { AcmeChallenge } from '../store/acme-types.ts';

/**
 * RFC 8555 §8.1 key authorization: token "." base64url(JWK thumbprint of the account key). The
 * thumbprint is the one stored with the account (RFC 7638, computed by jose when the key was
 * registered or changed), not recomputed per validation.
 */
export function keyAuthorization(token: string, accountThumbprint: string): string {
  return `${token}.${accountThumbprint}`;
}

/**
 * Validates one challenge that is `processing` and moves challenge, authorization and order along the
 * §7.1.6 state machines, every step compare-and-swap. A failed challenge invalidates its authorization
 * and the order (§7.5.1: no retries at another challenge of the same authorization).
 */
export async function runValidation(ctx: AcmeContext, ch: AcmeChallenge, signal?: AbortSignal): Promise<void> {
  const stored = ctx.store.getAuthz(ch.authzId);
  // Read when the job gets its slot, which may be long after the POST: an authorization that expired or was
  // deactivated meanwhile gets no connection made for it.
  const authz = stored && authzAsOf(stored, ctx.now());
  if (!authz) return;
  if (authz.status !== 'pending') return abandon(ctx, ch.id, `its authorization is ${authz.status}`);
  const account = ctx.store.getAccount(authz.accountId);
  if (!account) return;
  const keyAuth = keyAuthorization(ch.token, account.thumbprint);
  const result = await validateChallenge(ch.type, authz.identifier, ch.token, keyAuth, ctx.options.validation, signal);
  if (result.ok) {
    ctx.store.recordValidation(ch.id, { ok: true });
    return;
  }
  ctx.store.recordValidation(ch.id, {
    ok: false,
    challengeError: problemDocument(result.problem.type, result.problem.detail),
    orderError: problemDocument(result.problem.type, `authorization for ${authz.identifier.value} failed: ${result.problem.detail}`),
  });
}

/**
 * A `processing` challenge that will never be validated (its authorization expired or was deactivated
 * while it waited) ends `invalid` with the reason, so a client polling it gets a verdict instead of
 * `processing` with Retry-After for ever. The authorization and order already read expired/invalid.
 */
function abandon(ctx: AcmeContext, challengeId: string, why: string): void {
  ctx.store.casChallenge(challengeId, 'processing', 'invalid', { error: problemDocument('malformed', `the challenge was not validated: ${why}`) });
}

/**
 * Queues the validation of a challenge that is `processing` behind the concurrency bound (validation-slots.ts),
 * as a background job keyed by the challenge so that a repeated POST joins it, counted against `owners`
 * (the account and the client address: ValidationSlots.ownerAtCap). The returned promise settles when the
 * validation ended, or was abandoned by shutdown.
 */
export function startValidation(ctx: AcmeContext, ch: AcmeChallenge, owners: readonly string[] = []): Promise<void> {
  return ctx.work.run(`chall:${ch.id}`, () => ctx.validations.runOwned(owners, (signal) => runValidation(ctx, ch, signal)));
}

/**
 * Start-up recovery: a crash (kill -9) during validation leaves challenges `processing` with no job behind
 * them, and clients polling them would wait until the order expires. The client's POST was accepted
 * (RFC 8555 §7.5.1), so the server still owes a verdict: validate those challenges again in the background.
 * Challenges of orders that expired meanwhile end `invalid` (abandon) instead: no validation can help them.
 * They queue for the same slots as new ones, but are never refused for a full queue: their POST was accepted.
 */
export function resumeProcessingChallenges(ctx: AcmeContext): number {
  let resumed = 0;
  for (const ch of ctx.store.listChallengesByStatus('processing')) {
    const authz = ctx.store.getAuthz(ch.authzId);
    const order = authz && ctx.store.getOrder(authz.orderId);
    if (!order) continue;
    const status = effectiveOrderStatus(order, ctx.now());
    if (status !== 'pending') {
      abandon(ctx, ch.id, `its order is ${status}${status === 'invalid' && order.status !== 'invalid' ? ' (expired)' : ''}`);
      continue;
    }
    resumed++;
    void startValidation(ctx, ch);
  }
  return resumed;
}
