import type { FastifyInstance } from 'fastify';
import type { AcmeContext } from '../context.ts';
import { AcmeProblem } from '../problems.ts';
import { authzJson } from '../resources.ts';
import { acmePost, requireOwner } from '../route.ts';

/** RFC 8555 §7.5 authorization (POST-as-GET), and §7.5.2 deactivation. */
export function authorization(app: FastifyInstance, ctx: AcmeContext): void {
  acmePost(app, ctx, '/acme/authz/:id', 'kid', async (req, params) => {
    const a = ctx.store.getAuthz(params.id);
    if (!a) throw new AcmeProblem('malformed', `no authorization ${params.id}`, { status: 404 });
    requireOwner(req, a.accountId, 'this authorization');
    if (req.payload !== undefined) {
      const p = req.payload as { status?: unknown };
      if (typeof p !== 'object' || p === null || p.status !== 'deactivated') throw new AcmeProblem('malformed', 'an authorization can only be updated to {"status": "deactivated"}');
      if (!ctx.store.casAuthz(a.id, 'pending', 'deactivated') && !ctx.store.casAuthz(a.id, 'valid', 'deactivated')) {
        throw new AcmeProblem('malformed', `authorization is ${ctx.store.getAuthz(a.id)!.status} and cannot be deactivated`);
      }
      for (const o of ctx.store.ordersForAuthz(a.id)) {
        for (const from of ['pending', 'ready'] as const) ctx.store.casOrder(o.id, from, 'invalid');
      }
    }
    const current = ctx.store.getAuthz(a.id)!;
    const challenges = ctx.store.listChallenges(a.id);
    // Retry-After only while a validation runs: before any challenge is answered there is nothing to wait for.
    const validating = current.status === 'pending' && challenges.some((c) => c.status === 'processing');
    return { body: authzJson(current, challenges, ctx.urls), headers: (validating ? { 'Retry-After': '1' } : {}) as Record<string, string> };
  });
}
