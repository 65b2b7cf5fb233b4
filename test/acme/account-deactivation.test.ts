// RFC 8555 §7.3.6: deactivating an account cancels its unfinished orders in one store operation, not one
// query per order, and leaves alone what already reached processing or valid. Orders are seeded straight
// into the store (no validation, so no device addresses are used).
import t from 'tap';
import type { AcmeStore } from '../../src/store/acme-store.ts';
import { acmeFixture } from '../helpers/acme-fixture.ts';
import { DAY, certFor, seedOrder } from '../helpers/acme-orders.ts';

const DEACTIVATED = /account that placed this order was deactivated/;

t.test('deactivation cancels every pending and ready order in one statement, and nothing else', async (t) => {
  const f = await acmeFixture(t);
  const store = f.ctx.store;
  const c = await f.client();
  await c.register();
  const other = await f.client();
  await other.register();
  const me = c.kid!.split('/').pop()!;
  const them = other.kid!.split('/').pop()!;
  const now = Date.now();
  const live = now + 7 * DAY;

  // More than one orders-list page (100): the old per-order loop paged through them.
  const pending = Array.from({ length: 130 }, (_, i) => `pending-${String(i).padStart(3, '0')}`);
  for (const id of pending) seedOrder(store, { id, accountId: me, status: 'pending', expires: live });
  seedOrder(store, { id: 'ready', accountId: me, status: 'ready', expires: live });
  seedOrder(store, { id: 'processing', accountId: me, status: 'processing', expires: live });
  seedOrder(store, { id: 'valid', accountId: me, status: 'processing', expires: live });
  t.ok(await store.completeOrder('valid', certFor('valid', '0d01', me), { event: 'cert.issue', actor: 'test', data: { serial: '0d01' } }));
  seedOrder(store, { id: 'failed', accountId: me, status: 'pending', expires: live });
  const ownError = { type: 'urn:ietf:params:acme:error:connection', detail: 'validation failed' };
  t.ok(store.casOrder('failed', 'pending', 'invalid', { error: ownError }));
  // Expired unfinished: already invalid as clients see it (acme/expiry.ts), and keeps its missing error.
  seedOrder(store, { id: 'expired', accountId: me, status: 'pending', expires: now - DAY });
  seedOrder(store, { id: 'theirs', accountId: them, status: 'pending', expires: live });

  const calls: Record<string, number> = {};
  for (const m of ['getOrder', 'casOrder', 'listOrders'] as const) {
    const original = store[m].bind(store) as (...a: unknown[]) => unknown;
    calls[m] = 0;
    (store as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => { calls[m]++; return original(...a); };
  }
  const deact = await c.post(c.kid!, { status: 'deactivated' });
  t.equal(deact.body.status, 'deactivated', deact.text);
  t.same(calls, { getOrder: 0, casOrder: 0, listOrders: 0 }, 'no per-order reads or writes');

  for (const id of [...pending, 'ready']) {
    const o = store.getOrder(id);
    if (o?.status !== 'invalid' || !DEACTIVATED.test(o.error?.detail ?? '')) t.fail(`${id} was not cancelled: ${JSON.stringify(o)}`);
  }
  t.pass('all 131 pending and ready orders are invalid, with the deactivation as their error');
  t.equal(store.getOrder('ready')?.error?.type, 'urn:ietf:params:acme:error:unauthorized');
  t.equal(store.getOrder('processing')?.status, 'processing', 'a processing order keeps going');
  t.equal(store.getOrder('valid')?.status, 'valid', 'a valid order stays valid');
  t.same(store.getOrder('failed')?.error, ownError, 'an invalid order keeps its own error');
  t.equal(store.getOrder('expired')?.status, 'pending', 'an expired order is not rewritten');
  t.notOk(store.getOrder('expired')?.error);
  t.equal(store.getOrder('theirs')?.status, 'pending', 'another account\'s order is untouched');
});

t.test('store cancelUnfinishedOrders: compare-and-swap on pending/ready, count of changed orders', async (t) => {
  const f = await acmeFixture(t);
  const store: AcmeStore = f.ctx.store;
  const c = await f.client();
  await c.register();
  const me = c.kid!.split('/').pop()!;
  const now = Date.now();
  seedOrder(store, { id: 'a', accountId: me, status: 'pending', expires: now + DAY });
  seedOrder(store, { id: 'b', accountId: me, status: 'ready', expires: now + DAY });
  // A finalize that won the race: the order left `ready` before the cancellation ran.
  t.ok(store.casOrder('b', 'ready', 'processing'));
  seedOrder(store, { id: 'edge', accountId: me, status: 'ready', expires: now });
  const error = { type: 'urn:ietf:params:acme:error:unauthorized', detail: 'the account that placed this order was deactivated' };
  const at = new Date(now).toISOString();
  t.equal(store.cancelUnfinishedOrders(me, at, error), 2, 'the pending order and the one expiring at this very instant');
  t.equal(store.getOrder('b')?.status, 'processing');
  t.equal(store.getOrder('edge')?.status, 'invalid', 'an order still counts at its expires instant (§7.1.3)');
  t.equal(store.cancelUnfinishedOrders(me, at, error), 0, 'a second run changes nothing');
});
