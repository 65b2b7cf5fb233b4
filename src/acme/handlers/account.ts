import type { FastifyInstance } from 'fastify';
import type { AcmeContext } from '../context.ts';
import { AcmeProblem } from '../problems.ts';
import { accountJson } from '../resources.ts';
import { acmePost, requireOwner, requirePostAsGet } from '../route.ts';
import { checkContacts } from './new-account.ts';

const ORDERS_PAGE = 100;

/** RFC 8555 §7.3.2 account update, §7.3.6 deactivation, §7.1.2.1 the account's orders list. */
export function account(app: FastifyInstance, ctx: AcmeContext): void {
  acmePost(app, ctx, '/acme/acct/:id', 'kid', async (req, params) => {
    requireOwner(req, params.id, 'this account');
    const acct = req.account!;
    if (req.payload === undefined) return { body: accountJson(acct, ctx.urls), location: ctx.urls.account(acct.id) };
    if (typeof req.payload !== 'object' || req.payload === null) throw new AcmeProblem('malformed', 'account update payload must be a JSON object');
    const p = req.payload as Record<string, unknown>;
    if (p.status !== undefined && p.status !== 'deactivated') throw new AcmeProblem('malformed', 'an account "status" can only be changed to "deactivated"');
    const contact = p.contact !== undefined ? checkContacts(p.contact) : undefined;
    if (p.status === 'deactivated' || contact) {
      ctx.store.updateAccount(acct.id, { contact, status: p.status === 'deactivated' ? 'deactivated' : undefined });
    }
    return { body: accountJson(ctx.store.getAccount(acct.id)!, ctx.urls), location: ctx.urls.account(acct.id) };
  });

  acmePost(app, ctx, '/acme/acct/:id/orders', 'kid', async (req, params, request) => {
    requirePostAsGet(req);
    requireOwner(req, params.id, 'this orders list');
    const cursor = Math.max(0, Number((request.query as { cursor?: string }).cursor ?? 0) || 0);
    const ids = ctx.store.listOrderIds(params.id, ORDERS_PAGE + 1, cursor);
    const headers: Record<string, string> = {};
    if (ids.length > ORDERS_PAGE) {
      // §7.1.2.1: further pages via Link rel="next"; the index link is added too, so join them.
      headers.Link = `<${ctx.urls.directory}>;rel="index", <${ctx.urls.accountOrders(params.id)}?cursor=${cursor + ORDERS_PAGE}>;rel="next"`;
    }
    return { body: { orders: ids.slice(0, ORDERS_PAGE).map((id) => ctx.urls.order(id)) }, headers };
  });
}
