import type { FastifyInstance } from 'fastify';
import type { AcmeAuthz } from '../../store/acme-types.ts';
import type { AcmeContext } from '../context.ts';
import { authzAsOf } from '../expiry.ts';
import { AcmeProblem } from '../problems.ts';
import { authzJson } from '../resources.ts';
import { acmePost, requireOwner } from '../route.ts';

function cannotDeactivate(a: AcmeAuthz): AcmeProblem {
  return new AcmeProblem('malformed', `authorization is ${a.status}${a.status === 'expired' ? ` since ${a.expires}` : ''} and cannot be deactivated`);
}

/** RFC 8555 §7.5 authorization (POST-as-GET), and §7.5.2 deactivation. */
export function authorization(app: FastifyInstance, ctx: AcmeContext): void {
  acmePost(app, ctx, '/acme/authz/:id', 'kid', async (req, params) => {
    const a = ctx.store.getAuthz(params.id);
    if (!a) throw new AcmeProblem('malformed', `no authorization ${params.id}`, { status: 404 });
    requireOwner(req, a.accountId, 'this authorization');
    if (req.payload !== undefined) {
      const p = req.payload as { status?: unknown };
      if (typeof p !== 'object' || p === null || p.status !== 'deactivated') throw new AcmeProblem('malformed', 'an authorization can only be updated to {"status": "deactivated"}');
      // §7.5.2 deactivates a pending or valid authorization; `expired` is final (§7.1.6) like the others. The
      // check and the swaps run in one turn of the event loop, so an authorization seen unexpired is swapped so.
      const seen = authzAsOf(a, ctx.now());
      if (seen.status !== 'pending' && seen.status !== 'valid') throw cannotDeactivate(seen);
      if (!ctx.store.casAuthz(a.id, 'pending', 'deactivated') && !ctx.store.casAuthz(a.id, 'valid', 'deactivated')) {
        throw cannotDeactivate(authzAsOf(ctx.store.getAuthz(a.id)!, ctx.now()));
      }
      for (const o of ctx.store.ordersForAuthz(a.id)) {
        for (const from of ['pending', 'ready'] as const) ctx.store.casOrder(o.id, from, 'invalid');
      }
    }
    const current = authzAsOf(ctx.store.getAuthz(a.id)!, ctx.now());
    const challenges = ctx.store.listChallenges(a.id);
    // Retry-After only while a validation runs: before any challenge is answered there is nothing to wait for.
    const validating = current.status === 'pending' && challenges.some((c) => c.status === 'processing');
    return { body: authzJson(current, challenges, ctx.urls), headers: (validating ? { 'Retry-After': '1' } : {}) as Record<string, string> };
  });
}
