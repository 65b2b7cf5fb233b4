import type { FastifyInstance } from 'fastify';
import type { AcmeContext } from '../context.ts';
import { orderAsOf } from '../expiry.ts';
import { AcmeProblem } from '../problems.ts';
import { orderJson } from '../resources.ts';
import { acmePost, requireOwner, requirePostAsGet } from '../route.ts';

/** Seconds a client should wait before polling an order that is still processing. */
export const PROCESSING_RETRY_AFTER = '1';

/** RFC 8555 §7.1.3 order, read with POST-as-GET. */
export function order(app: FastifyInstance, ctx: AcmeContext): void {
  acmePost(app, ctx, '/acme/order/:id', 'kid', async (req, params) => {
    requirePostAsGet(req);
    const stored = ctx.store.getOrder(params.id);
    if (!stored) throw new AcmeProblem('malformed', `no order ${params.id}`, { status: 404 });
    requireOwner(req, stored.accountId, 'this order');
    // §7.1.6: a client polling an order that expired pending or ready reads `invalid`.
    const o = orderAsOf(stored, ctx.now());
    const headers: Record<string, string> = o.status === 'processing' ? { 'Retry-After': PROCESSING_RETRY_AFTER } : {};
    return { body: orderJson(o, ctx.urls), headers };
  });
}
