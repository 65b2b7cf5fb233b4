import { calculateJwkThumbprint, type JWK } from 'jose';
import { validateChallenge } from './challenges/index.ts';
import type { AcmeContext } from './context.ts';
import { problemDocument } from './problems.ts';
import type { AcmeChallenge } from '../store/acme-types.ts';

/** RFC 8555 §8.1 key authorization: token "." base64url(JWK thumbprint of the account key). */
export async function keyAuthorization(token: string, accountJwk: Record<string, unknown>): Promise<string> {
  return `${token}.${await calculateJwkThumbprint(accountJwk as JWK, 'sha256')}`;
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
  const keyAuth = await keyAuthorization(ch.token, account.jwk);
  const result = await validateChallenge(ch.type, authz.identifier, ch.token, keyAuth, ctx.options.validation, signal);
  if (result.ok) {
    if (!ctx.store.casChallenge(ch.id, 'processing', 'valid', { validated: new Date().toISOString() })) return;
    ctx.store.casAuthz(authz.id, 'pending', 'valid');
    for (const order of ctx.store.ordersForAuthz(authz.id)) {
      const all = order.authzIds.map((id) => ctx.store.getAuthz(id));
      if (all.every((a) => a?.status === 'valid')) ctx.store.casOrder(order.id, 'pending', 'ready');
    }
    return;
  }
  const problem = problemDocument(result.problem.type, result.problem.detail);
  if (!ctx.store.casChallenge(ch.id, 'processing', 'invalid', { error: problem })) return;
  ctx.store.casAuthz(authz.id, 'pending', 'invalid');
  for (const order of ctx.store.ordersForAuthz(authz.id)) {
    ctx.store.casOrder(order.id, 'pending', 'invalid', {
      error: problemDocument(result.problem.type, `authorization for ${authz.identifier.value} failed: ${result.problem.detail}`),
    });
  }
}
