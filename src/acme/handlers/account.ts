import type { FastifyInstance } from 'fastify';
import type { OrderListPosition } from '../../store/acme-types.ts';
import type { AcmeContext } from '../context.ts';
import { AcmeProblem } from '../problems.ts';
import { accountJson } from '../resources.ts';
import { acmePost, requireOwner, requirePostAsGet } from '../route.ts';
import { checkContacts } from './new-account.ts';

const ORDERS_PAGE = 100;

/** A next page's `cursor`: where the previous page ended, opaque to clients (they follow the Link). */
function encodeCursor(p: OrderListPosition): string {
  return Buffer.from(JSON.stringify([p.createdAt, p.id])).toString('base64url');
}

function decodeCursor(raw: unknown): OrderListPosition | undefined {
  if (raw === undefined) return undefined;
  try {
    const v: unknown = typeof raw === 'string' ? JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) : undefined;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') return { createdAt: v[0], id: v[1] };
  } catch { /* reported below */ }
  throw new AcmeProblem('malformed', 'the orders list "cursor" is not one this server handed out in a rel="next" link');
}

/**
 * §7.3.6: "the server SHOULD cancel any pending operations authorized by the account's key, such as
 * certificate orders". Orders still pending or ready become invalid; one already processing keeps going
 * (its finalize was accepted while the account was valid, and start-up recovery finishes it anyway).
 */
function cancelUnfinishedOrders(ctx: AcmeContext, accountId: string): void {
  const error = { type: 'urn:ietf:params:acme:error:unauthorized', detail: 'the account that placed this order was deactivated' };
  ctx.store.cancelUnfinishedOrders(accountId, new Date(ctx.now()).toISOString(), error);
}

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
    if (p.status === 'deactivated') cancelUnfinishedOrders(ctx, acct.id);
    return { body: accountJson(ctx.store.getAccount(acct.id)!, ctx.urls), location: ctx.urls.account(acct.id) };
  });

  acmePost(app, ctx, '/acme/acct/:id/orders', 'kid', async (req, params, request) => {
    requirePostAsGet(req);
    requireOwner(req, params.id, 'this orders list');
    const after = decodeCursor((request.query as { cursor?: unknown }).cursor);
    // §7.1.2.1: "The server SHOULD NOT include orders that are invalid in the array of URLs", which takes
    // those that expired unfinished (acme/expiry.ts). The store filters before it pages: every page is full.
    const page = ctx.store.listOrders(params.id, { now: new Date(ctx.now()).toISOString(), limit: ORDERS_PAGE + 1, after });
    const shown = page.slice(0, ORDERS_PAGE);
    const headers: Record<string, string> = {};
    if (page.length > ORDERS_PAGE) {
      // §7.1.2.1: further pages via Link rel="next"; the index link is added too, so join them.
      headers.Link = `<${ctx.urls.directory}>;rel="index", <${ctx.urls.accountOrders(params.id)}?cursor=${encodeCursor(shown[shown.length - 1])}>;rel="next"`;
    }
    return { body: { orders: shown.map((o) => ctx.urls.order(o.id)) }, headers };
  });
}
