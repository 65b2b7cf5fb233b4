import type { FastifyInstance } from 'fastify';
import type { AcmeContext } from '../context.ts';
import { authzAsOf } from '../expiry.ts';
import { AcmeProblem } from '../problems.ts';
import { rateLimitKey } from '../rate-limit.ts';
import { challengeJson } from '../resources.ts';
import { acmePost, requireOwner } from '../route.ts';
import { startValidation } from '../validation.ts';

/**
 * RFC 8555 §6.6: too many validations running and waiting. Retry-After is one attempt's time budget: by
 * then every running attempt has ended, so the queue has moved.
 */
function validationsBusy(ctx: AcmeContext): AcmeProblem {
  const { running, queued } = ctx.validations.stats();
  const wait = Math.max(1, Math.ceil(ctx.options.validation.timeoutMs / 1000));
  return new AcmeProblem('rateLimited', `the server is busy validating (${running} running, ${queued} waiting); retry after ${wait} s`, { retryAfterSeconds: wait });
}

/** Like validationsBusy, for one account or client address that has its share of validations under way. */
function ownerBusy(ctx: AcmeContext, owner: string): AcmeProblem {
  const wait = Math.max(1, Math.ceil(ctx.options.validation.timeoutMs / 1000));
  const [kind, who] = [owner.slice(0, owner.indexOf(':')), owner.slice(owner.indexOf(':') + 1)];
  return new AcmeProblem('rateLimited', `${kind === 'account' ? 'this account' : `client address ${who}`} has ${ctx.validations.maxPerOwner} validations under way already; retry after ${wait} s`, { retryAfterSeconds: wait });
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
        if (!ctx.validations.hasRoom()) throw validationsBusy(ctx);
        const owners = [`account:${authz.accountId}`, `address:${rateLimitKey(request.ip)}`];
        const atCap = ctx.validations.ownerAtCap(owners);
        if (atCap) throw ownerBusy(ctx, atCap);
        if (ctx.store.casChallenge(ch.id, 'pending', 'processing')) {
          void startValidation(ctx, { ...ch, status: 'processing' }, owners);
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
