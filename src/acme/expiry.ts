import type { AcmeAuthz, AcmeOrder, AuthzStatus, OrderStatus } from '../store/acme-types.ts';

/**
 * What expiry does to orders and authorizations (RFC 8555 §7.1.6), the one definition every handler,
 * background job and view uses.
 *
 * The status is computed when read, not written when the time passes: the stored row keeps `pending` or
 * `ready` (`valid` for an authorization) and every reader sees the status as of its own `now`. Writing it
 * instead would take either a sweep (then the answer is wrong between `expires` and the next run) or a
 * compare-and-swap on each read (a write per poll, and every read path would have to remember it); the
 * computed status is exact at any instant, costs nothing, and follows an injected clock. The one place
 * that needs it in SQL, where an index or a query filters on status (the orders list, `replaces`), restates
 * it in the store (SqliteAcmeStore): change one, change both.
 *
 * Each authorization is created with its order's `expires` (new-order.ts), so an order whose authorization
 * expired (§7.1.6: it then "moves to the invalid state") has expired itself: the order's own `expires`
 * covers both rules.
 */

/** §7.1.3, §7.1.4: `expires` is "the timestamp after which" the object is invalid: at that instant it still counts. */
export function isExpired(expires: string, now: number): boolean {
  return now > Date.parse(expires);
}

/**
 * §7.1.6: an order "moves to the invalid state if it expires". Only `pending` and `ready` orders do: a
 * `processing` one has its certificate in flight (start-up recovery completes it), and `valid` is final.
 */
export function effectiveOrderStatus(o: Pick<AcmeOrder, 'status' | 'expires'>, now: number): OrderStatus {
  return (o.status === 'pending' || o.status === 'ready') && isExpired(o.expires, now) ? 'invalid' : o.status;
}

/**
 * §7.1.6: a `pending` or `valid` authorization past its `expires` is `expired` (final): its challenges can
 * no longer be validated, and it no longer authorizes its order.
 */
export function effectiveAuthzStatus(a: Pick<AcmeAuthz, 'status' | 'expires'>, now: number): AuthzStatus {
  return (a.status === 'pending' || a.status === 'valid') && isExpired(a.expires, now) ? 'expired' : a.status;
}

/** The order as a client sees it at `now` (its status after expiry); what handlers decide on and render. */
export function orderAsOf(o: AcmeOrder, now: number): AcmeOrder {
  const status = effectiveOrderStatus(o, now);
  return status === o.status ? o : { ...o, status };
}

/** The authorization as a client sees it at `now`. */
export function authzAsOf(a: AcmeAuthz, now: number): AcmeAuthz {
  const status = effectiveAuthzStatus(a, now);
  return status === a.status ? a : { ...a, status };
}
