import type { FastifyInstance } from 'fastify';
import type { AcmeContext } from '../context.ts';
import { authzAsOf } from '../expiry.ts';
import { AcmeProblem } from '../problems.ts';
import { rateLimitKey } from '../rate-limit.ts';
import { challengeJson } from '../resources.ts';
import { acmePost, requireOwner } from '../route.ts';
import { startValidation } from '../validation.ts';

/**
 * RFC 8555 §6.6: too many validations running and waiting (`why`). Retry-After is one attempt's time
 * budget: by then every running attempt has ended, so the queue has moved.
 */
function validationsBusy(ctx: AcmeContext, why: string): AcmeProblem {
  const wait = Math.max(1, Math.ceil(ctx.options.validation.timeoutMs / 1000));
  return new AcmeProblem('rateLimited', `${why}; retry after ${wait} s`, { retryAfterSeconds: wait });
}

/**
 * RFC 8555 §7.5.1: POST {} to a challenge asks the server to validate it; POST-as-GET reads it.
 * Validation runs in the background; the reply waits briefly so that fast validations answer at once.
 */
export function challenge(app: FastifyInstance, ctx: AcmeContext): void {
  acmePost(app, ctx, '/acme/chall/:id', 'kid', async (req, params, request) => {
    const ch = ctx.store.getChallenge(params.id);
    if (!ch) throw new AcmeProblem('malformed', `no challenge ${params.id}`, { status: 404 });
    const authz = authzAsOf(ctx.store.getAuthz(ch.authzId)!, ctx.now());
    requireOwner(req, authz.accountId, 'this challenge');
    if (req.payload !== undefined) {
      if (typeof req.payload !== 'object' || req.payload === null || Array.isArray(req.payload)) throw new AcmeProblem('malformed', 'challenge response payload must be {}');
      // §7.1.6: an expired authorization's challenges can no longer be validated, and §7.5.1: a response the
      // server cannot validate "MUST return an HTTP error" (the client then undoes what it provisioned).
      // RFC 8555 names no problem type for it: malformed, like any other request this server cannot act on.
      if (authz.status === 'expired') {
        throw new AcmeProblem('malformed', `the authorization for ${authz.identifier.value} expired at ${authz.expires} (RFC 8555 §7.1.6): its challenges can no longer be validated; create a new order`);
      }
      if (authz.status === 'pending' && ch.status === 'pending') {
        // Capacity first, then the compare-and-swap, with no await between them: a refused challenge stays
        // `pending` (the client may POST again), an accepted one is `processing` and holds its queue place.
        if (!ctx.validations.hasRoom()) {
          const { running, queued } = ctx.validations.stats();
          throw validationsBusy(ctx, `the server is busy validating (${running} running, ${queued} waiting)`);
        }
        const address = rateLimitKey(request.ip);
        const owners: Record<string, string> = { [`account:${authz.accountId}`]: 'this account', [`address:${address}`]: `client address ${address}` };
        const atCap = ctx.validations.ownerAtCap(Object.keys(owners));
        if (atCap) throw validationsBusy(ctx, `${owners[atCap]} has ${ctx.validations.maxPerOwner} validations under way already`);
        if (ctx.store.casChallenge(ch.id, 'pending', 'processing')) {
          void startValidation(ctx, { ...ch, status: 'processing' }, Object.keys(owners));
          await ctx.work.waitFor(`chall:${ch.id}`, ctx.options.processingWaitMs);
        }
      }
    }
    const current = ctx.store.getChallenge(ch.id)!;
    return {
      body: challengeJson(current, ctx.urls),
      headers: { Link: `<${ctx.urls.directory}>;rel="index", <${ctx.urls.authz(ch.authzId)}>;rel="up"`, ...(current.status === 'processing' ? { 'Retry-After': '1' } : {}) },
    };
  });
}
