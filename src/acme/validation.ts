import { validateChallenge } from './challenges/index.ts';
import type { AcmeContext } from './context.ts';
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
  const authz = ctx.store.getAuthz(ch.authzId);
  if (!authz) return;
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
 * Start-up recovery: a crash (kill -9) during validation leaves challenges `processing` with no job behind
 * them, and clients polling them would wait until the order expires. The client's POST was accepted
 * (RFC 8555 §7.5.1), so the server still owes a verdict: validate those challenges again in the background.
 * Challenges of expired orders are left alone (the challenge handler starts no validation for them either).
 */
export function resumeProcessingChallenges(ctx: AcmeContext): number {
  let resumed = 0;
  for (const ch of ctx.store.listChallengesByStatus('processing')) {
    const authz = ctx.store.getAuthz(ch.authzId);
    const order = authz && ctx.store.getOrder(authz.orderId);
    if (!order || order.status !== 'pending' || Date.parse(order.expires) <= Date.now()) continue;
    resumed++;
    void ctx.work.run(`chall:${ch.id}`, () => runValidation(ctx, ch));
  }
  return resumed;
}
