import type { CertificateRecord, NewAuditEntry } from './types.ts';
import type {
  AcmeAccount, AcmeAuthz, AcmeIdentifier, AcmeChallenge, AcmeOrder, AuthzStatus, ChallengeStatus, EabKey, OrderListPosition, OrderStatus, PruneCounts, StoredProblem,
} from './acme-types.ts';

/**
 * Persistence for the ACME server. Same contract as Store: durable on return, and every state change
 * is compare-and-swap on the current status (`from`), returning whether it happened, so two requests
 * racing on one order or challenge can never both win (RFC 8555 §7.1.6 state machine).
 */
export interface AcmeStore {
  /** A second account for the same key (thumbprint) throws STORE_DUPLICATE: the caller answers with the existing one. */
  insertAccount(account: AcmeAccount, eabKid?: string): void;
  getAccount(id: string): AcmeAccount | undefined;
  getAccountByThumbprint(thumbprint: string): AcmeAccount | undefined;
  updateAccount(id: string, patch: { contact?: string[]; status?: AccountStatus }): boolean;
  /** RFC 8555 §7.3.5: swaps the key; false when another account already uses the new key. */
  changeAccountKey(id: string, oldThumbprint: string, jwk: Record<string, unknown>, thumbprint: string): boolean;

  insertEabKey(key: EabKey): void;
  getEabKey(kid: string): EabKey | undefined;
  listEabKeys(): EabKey[];

  /**
   * Inserts an order with its authorizations and their challenges in one transaction. At most one order
   * that is not `invalid` may name a certificate in `replaces` (RFC 9773 §5); another one throws
   * STORE_DUPLICATE. An order that expired `pending` or `ready` is invalid (RFC 8555 §7.1.6) and
   * does not count: those replacing the same certificate whose `expires` lies before `order.createdAt` are
   * first stored `invalid`, in the same transaction.
   */
  insertOrder(order: AcmeOrder, authzs: AcmeAuthz[], challenges: AcmeChallenge[]): void;
  getOrder(id: string): AcmeOrder | undefined;
  /**
   * RFC 8555 §7.1.2.1 orders list: the account's orders that are not invalid at `now` (neither stored
   * `invalid` nor `pending`/`ready` with `expires` before `now`, as acme/expiry.ts defines it), in creation
   * order, at most `limit`, starting after `after`. Pages are keyed by position, not offset, so a page
   * boundary stays put when orders before it expire or are pruned between two requests.
   */
  listOrders(accountId: string, opts: { now: string; limit: number; after?: OrderListPosition }): OrderListPosition[];
  listOrdersByStatus(status: OrderStatus): AcmeOrder[];
  /** `notExpiredAt`: change only an order whose `expires` is not before that instant (RFC 8555 §7.1.6). */
  casOrder(id: string, from: OrderStatus, to: OrderStatus, patch?: { csr?: string; error?: StoredProblem; notExpiredAt?: string }): boolean;
  /**
   * RFC 8555 §7.3.6 deactivation: every order of the account that is `pending` or `ready` and not expired at
   * `now` becomes `invalid` with `error`, in one statement. Compare-and-swap like casOrder: an order that
   * reached `processing` or `valid` first is untouched. Returns how many orders changed.
   */
  cancelUnfinishedOrders(accountId: string, now: string, error: StoredProblem): number;
  /**
   * processing -> valid together with the certificate insert: one transaction, so a crash leaves
   * either both or neither. Settles once durably committed (implementations may group commits).
   */
  completeOrder(id: string, cert: CertificateRecord, audit: NewAuditEntry): Promise<boolean>;

  getAuthz(id: string): AcmeAuthz | undefined;
  casAuthz(id: string, from: AuthzStatus, to: AuthzStatus): boolean;
  listChallenges(authzId: string): AcmeChallenge[];
  getChallenge(id: string): AcmeChallenge | undefined;
  listChallengesByStatus(status: ChallengeStatus): AcmeChallenge[];
  casChallenge(id: string, from: ChallengeStatus, to: ChallengeStatus, patch?: { validated?: string; error?: StoredProblem }): boolean;
  /**
   * Records a validation outcome in one transaction (one fsync instead of three): challenge
   * processing -> valid|invalid, its authorization pending -> valid|invalid, and the order pending ->
   * ready (when every authorization is valid) or -> invalid. False when the challenge was not processing.
   */
  recordValidation(challengeId: string, outcome: { ok: true } | { ok: false; challengeError: StoredProblem; orderError: StoredProblem }): boolean;
  /** Orders that include the authorization (to move them pending -> ready / invalid). */
  ordersForAuthz(authzId: string): AcmeOrder[];
  /**
   * The identifiers the account holds valid authorizations for at `now` (status valid, not expired): RFC
   * 8555 §7.6 lets such an account revoke a certificate for those names that another account ordered.
   */
  authorizedIdentifiers(accountId: string, now: string): AcmeIdentifier[];
  /** Certificates already issued for an order (crash recovery). */
  certificateForOrder(orderId: string): CertificateRecord | undefined;

  /**
   * Deletes orders that can no longer lead to a certificate (`pending`, `ready` or `invalid`, `expires`
   * before `before`, no certificate names them), oldest expiry first, together with the authorizations
   * they own and those authorizations' challenges, in one transaction that stops once `maxRows` rows are
   * deleted (it may exceed that by one order's rows). A crash leaves each order whole or gone. An
   * authorization belongs to the one order in its `orderId` (orders never share them), so no remaining
   * order can point at a deleted one. `valid` and `processing` orders, certificates, accounts, EAB keys
   * and the audit log are never touched. When fewer than `maxRows` rows were deleted, none is left.
   */
  pruneExpired(before: string, maxRows: number): PruneCounts;
}

type AccountStatus = AcmeAccount['status'];
