import type Database from 'better-sqlite3';
import type { AcmeStore } from '../acme-store.ts';
import type {
  AcmeAccount, AcmeAuthz, AcmeChallenge, AcmeIdentifier, AcmeOrder, AuthzStatus, ChallengeStatus, EabKey, OrderListPosition, OrderStatus, PruneCounts, StoredProblem,
} from '../acme-types.ts';
import type { CertificateRecord, NewAuditEntry } from '../types.ts';
import type { SqliteStore } from './sqlite-store.ts';
import { WardgateError } from '../../errors.ts';

/** SQLite's unique-index violation as the store's own error, so no SQLite detail leaks out of store/. */
function duplicateAs<T>(what: string, run: () => T): T {
  try {
    return run();
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new WardgateError('STORE_DUPLICATE', what, { cause: err });
    throw err;
  }
}

type Row = Record<string, string | null>;
const json = <T>(v: string | null): T | undefined => (v == null ? undefined : JSON.parse(v) as T);
const opt = (v: string | null): string | undefined => v ?? undefined;

function toAccount(r: Row): AcmeAccount {
  return { id: r.id!, thumbprint: r.thumbprint!, jwk: JSON.parse(r.jwk!), status: r.status as AcmeAccount['status'], contact: JSON.parse(r.contact!), eabKid: opt(r.eab_kid), createdAt: r.created_at! };
}
function toOrder(r: Row): AcmeOrder {
  return {
    id: r.id!, accountId: r.account_id!, status: r.status as OrderStatus, identifiers: JSON.parse(r.identifiers!), profile: r.profile!,
    authzIds: JSON.parse(r.authz_ids!), expires: r.expires!, csr: opt(r.csr), certSerial: opt(r.cert_serial), error: json<StoredProblem>(r.error),
    replaces: opt(r.replaces), createdAt: r.created_at!, updatedAt: r.updated_at!,
  };
}
function toAuthz(r: Row): AcmeAuthz {
  return { id: r.id!, accountId: r.account_id!, orderId: r.order_id!, identifier: JSON.parse(r.identifier!), status: r.status as AuthzStatus, expires: r.expires! };
}
function toChallenge(r: Row): AcmeChallenge {
  return { id: r.id!, authzId: r.authz_id!, type: r.type as AcmeChallenge['type'], token: r.token!, status: r.status as ChallengeStatus, validated: opt(r.validated), error: json<StoredProblem>(r.error) };
}
function toEab(r: Row): EabKey {
  return { kid: r.kid!, hmacKey: r.hmac_key!, label: opt(r.label), allowDns: JSON.parse(r.allow_dns!), allowIp: JSON.parse(r.allow_ip!), accountId: opt(r.account_id), createdAt: r.created_at! };
}

/** SQLite implementation of AcmeStore; shares the connection (and its transactions) with SqliteStore. */
export class SqliteAcmeStore implements AcmeStore {
  private readonly db: Database.Database;
  private readonly q;

  constructor(private readonly parent: SqliteStore) {
    const db = (this.db = parent.db);
    this.q = {
      insertAccount: db.prepare('INSERT INTO acme_accounts (id, thumbprint, jwk, status, contact, eab_kid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      bindEab: db.prepare('UPDATE acme_eab_keys SET account_id = ? WHERE kid = ? AND account_id IS NULL'),
      getAccount: db.prepare('SELECT * FROM acme_accounts WHERE id = ?'),
      getAccountByThumb: db.prepare('SELECT * FROM acme_accounts WHERE thumbprint = ?'),
      changeKey: db.prepare('UPDATE acme_accounts SET jwk = ?, thumbprint = ? WHERE id = ? AND thumbprint = ?'),
      insertEab: db.prepare('INSERT INTO acme_eab_keys (kid, hmac_key, label, allow_dns, allow_ip, account_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      getEab: db.prepare('SELECT * FROM acme_eab_keys WHERE kid = ?'),
      listEab: db.prepare('SELECT * FROM acme_eab_keys ORDER BY created_at'),
      insertOrder: db.prepare(`INSERT INTO acme_orders (id, account_id, status, identifiers, profile, authz_ids, expires, replaces, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      insertAuthz: db.prepare('INSERT INTO acme_authzs (id, account_id, order_id, identifier, status, expires) VALUES (?, ?, ?, ?, ?, ?)'),
      insertChallenge: db.prepare('INSERT INTO acme_challenges (id, authz_id, type, token, status) VALUES (?, ?, ?, ?, ?)'),
      // RFC 8555 §7.1.6 as acme/expiry.ts computes it: orders replacing the same certificate that expired
      // unfinished are invalid; stored so, the unique index acme_orders_replaces (status != 'invalid') lets the
      // new order in. The index's own terms are repeated so that the planner can use it.
      expireReplacing: db.prepare(`UPDATE acme_orders INDEXED BY acme_orders_replaces SET status = 'invalid', updated_at = @now
        WHERE replaces = @replaces AND replaces IS NOT NULL AND status != 'invalid' AND status IN ('pending', 'ready') AND expires < @now`),
      getOrder: db.prepare('SELECT * FROM acme_orders WHERE id = ?'),
      // §7.1.2.1: invalid orders are left out, and so are those that expired unfinished (acme/expiry.ts:
      // invalid once `expires` is past; it still counts at that very instant). Keyset pagination on
      // (created_at, id) through acme_orders_account, whose range starts at the previous page's last order.
      listOrders: db.prepare(`SELECT id, created_at FROM acme_orders
        WHERE account_id = @account
          AND (status IN ('processing', 'valid') OR (status IN ('pending', 'ready') AND expires >= @now))
          AND created_at >= @afterCreated AND (created_at > @afterCreated OR id > @afterId)
        ORDER BY created_at, id LIMIT @limit`),
      ordersByStatus: db.prepare('SELECT * FROM acme_orders WHERE status = ?'),
      casOrder: db.prepare(`UPDATE acme_orders SET status = @to, csr = coalesce(@csr, csr), error = coalesce(@error, error), updated_at = @now
        WHERE id = @id AND status = @from AND (@notExpiredAt IS NULL OR expires >= @notExpiredAt)`),
      // Same unfinished-and-unexpired terms as listOrders, through acme_orders_account.
      cancelUnfinished: db.prepare(`UPDATE acme_orders SET status = 'invalid', error = @error, updated_at = @updated
        WHERE account_id = @account AND status IN ('pending', 'ready') AND expires >= @now`),
      completeOrder: db.prepare(`UPDATE acme_orders SET status = 'valid', cert_serial = ?, updated_at = ? WHERE id = ? AND status = 'processing'`),
      getAuthz: db.prepare('SELECT * FROM acme_authzs WHERE id = ?'),
      casAuthz: db.prepare('UPDATE acme_authzs SET status = ? WHERE id = ? AND status = ?'),
      listChallenges: db.prepare('SELECT * FROM acme_challenges WHERE authz_id = ? ORDER BY type'),
      getChallenge: db.prepare('SELECT * FROM acme_challenges WHERE id = ?'),
      challengesByStatus: db.prepare('SELECT * FROM acme_challenges WHERE status = ?'),
      casChallenge: db.prepare(`UPDATE acme_challenges SET status = @to, validated = coalesce(@validated, validated), error = coalesce(@error, error)
        WHERE id = @id AND status = @from`),
      ordersForAuthz: db.prepare('SELECT o.* FROM acme_orders o JOIN acme_authzs a ON a.order_id = o.id WHERE a.id = ?'),
      // Through the account's orders (acme_orders_account), then each order's authorizations (acme_authzs_order).
      authorizedIdentifiers: db.prepare(`SELECT DISTINCT a.identifier FROM acme_orders o JOIN acme_authzs a ON a.order_id = o.id
        WHERE o.account_id = ? AND a.account_id = o.account_id AND a.status = 'valid' AND a.expires >= ?`),
      certForOrder: db.prepare('SELECT serial FROM certificates WHERE order_id = ? LIMIT 1'),
      // `processing` is not prunable: its certificate may be in flight, and start-up recovery completes it.
      // INDEXED BY: without ANALYZE statistics the planner prefers acme_orders_status and sorts.
      prunable: db.prepare(`SELECT id FROM acme_orders INDEXED BY acme_orders_unfinished_expires
        WHERE status IN ('pending', 'ready', 'invalid') AND expires < ?
          AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.order_id = acme_orders.id)
        ORDER BY expires LIMIT ?`),
      pruneChallenges: db.prepare('DELETE FROM acme_challenges WHERE authz_id IN (SELECT id FROM acme_authzs WHERE order_id = ?)'),
      pruneAuthzs: db.prepare('DELETE FROM acme_authzs WHERE order_id = ?'),
      pruneOrder: db.prepare('DELETE FROM acme_orders WHERE id = ?'),
    };
  }

  insertAccount(a: AcmeAccount, eabKid?: string): void {
    duplicateAs(`an account for key ${a.thumbprint} exists`, () => this.db.transaction(() => {
      if (eabKid && this.q.bindEab.run(a.id, eabKid).changes !== 1) throw Object.assign(new Error('EAB key already bound'), { code: 'EAB_BOUND' });
      this.q.insertAccount.run(a.id, a.thumbprint, JSON.stringify(a.jwk), a.status, JSON.stringify(a.contact), eabKid ?? null, a.createdAt);
      this.parent.appendAuditInTx({ event: 'acme.account.new', actor: `acme:${a.id}`, data: { id: a.id, contact: a.contact, eabKid } });
    }).immediate());
  }

  getAccount(id: string): AcmeAccount | undefined {
    const r = this.q.getAccount.get(id) as Row | undefined;
    return r && toAccount(r);
  }

  getAccountByThumbprint(thumbprint: string): AcmeAccount | undefined {
    const r = this.q.getAccountByThumb.get(thumbprint) as Row | undefined;
    return r && toAccount(r);
  }

  updateAccount(id: string, patch: { contact?: string[]; status?: AcmeAccount['status'] }): boolean {
    return this.db.transaction(() => {
      const sets: string[] = [];
      const args: string[] = [];
      if (patch.contact) { sets.push('contact = ?'); args.push(JSON.stringify(patch.contact)); }
      if (patch.status) { sets.push('status = ?'); args.push(patch.status); }
      if (!sets.length) return true;
      // Only a valid account changes: a deactivated one is final (RFC 8555 §7.3.6).
      const n = this.db.prepare(`UPDATE acme_accounts SET ${sets.join(', ')} WHERE id = ? AND status = 'valid'`).run(...args, id).changes;
      if (n === 1) this.parent.appendAuditInTx({ event: 'acme.account.update', actor: `acme:${id}`, data: { id, ...patch } });
      return n === 1;
    }).immediate();
  }

  changeAccountKey(id: string, oldThumbprint: string, jwk: Record<string, unknown>, thumbprint: string): boolean {
    return this.db.transaction(() => {
      if (this.q.getAccountByThumb.get(thumbprint)) return false;
      const n = this.q.changeKey.run(JSON.stringify(jwk), thumbprint, id, oldThumbprint).changes;
      if (n === 1) this.parent.appendAuditInTx({ event: 'acme.account.key-change', actor: `acme:${id}`, data: { id, thumbprint } });
      return n === 1;
    }).immediate();
  }

  insertEabKey(k: EabKey): void {
    this.db.transaction(() => {
      this.q.insertEab.run(k.kid, k.hmacKey, k.label ?? null, JSON.stringify(k.allowDns), JSON.stringify(k.allowIp), k.accountId ?? null, k.createdAt);
      this.parent.appendAuditInTx({ event: 'acme.eab.create', actor: 'cli', data: { kid: k.kid, label: k.label, allowDns: k.allowDns, allowIp: k.allowIp } });
    }).immediate();
  }

  getEabKey(kid: string): EabKey | undefined {
    const r = this.q.getEab.get(kid) as Row | undefined;
    return r && toEab(r);
  }

  listEabKeys(): EabKey[] {
    return (this.q.listEab.all() as Row[]).map(toEab);
  }

  insertOrder(o: AcmeOrder, authzs: AcmeAuthz[], challenges: AcmeChallenge[]): void {
    duplicateAs(`certificate ${o.replaces} is being replaced by another order`, () => this.parent.relaxed(() => this.db.transaction(() => {
      if (o.replaces) this.q.expireReplacing.run({ replaces: o.replaces, now: o.createdAt });
      this.q.insertOrder.run(o.id, o.accountId, o.status, JSON.stringify(o.identifiers), o.profile, JSON.stringify(o.authzIds), o.expires, o.replaces ?? null, o.createdAt, o.updatedAt);
      for (const a of authzs) this.q.insertAuthz.run(a.id, a.accountId, a.orderId, JSON.stringify(a.identifier), a.status, a.expires);
      for (const c of challenges) this.q.insertChallenge.run(c.id, c.authzId, c.type, c.token, c.status);
    }).immediate()));
  }

  getOrder(id: string): AcmeOrder | undefined {
    const r = this.q.getOrder.get(id) as Row | undefined;
    return r && toOrder(r);
  }

  listOrders(accountId: string, opts: { now: string; limit: number; after?: OrderListPosition }): OrderListPosition[] {
    // '' sorts before every ISO timestamp and id: no `after` starts at the account's first order.
    const rows = this.q.listOrders.all({
      account: accountId, now: opts.now, limit: opts.limit, afterCreated: opts.after?.createdAt ?? '', afterId: opts.after?.id ?? '',
    }) as { id: string; created_at: string }[];
    return rows.map((r) => ({ id: r.id, createdAt: r.created_at }));
  }

  listOrdersByStatus(status: OrderStatus): AcmeOrder[] {
    return (this.q.ordersByStatus.all(status) as Row[]).map(toOrder);
  }

  casOrder(id: string, from: OrderStatus, to: OrderStatus, patch: { csr?: string; error?: StoredProblem; notExpiredAt?: string } = {}): boolean {
    return this.parent.relaxed(() => this.q.casOrder.run({
      id, from, to, csr: patch.csr ?? null, error: patch.error ? JSON.stringify(patch.error) : null, notExpiredAt: patch.notExpiredAt ?? null, now: new Date().toISOString(),
    }).changes === 1);
  }

  cancelUnfinishedOrders(accountId: string, now: string, error: StoredProblem): number {
    return this.parent.relaxed(() => this.q.cancelUnfinished.run({
      account: accountId, now, error: JSON.stringify(error), updated: new Date().toISOString(),
    }).changes);
  }

  completeOrder(id: string, cert: CertificateRecord, audit: NewAuditEntry): Promise<boolean> {
    return this.parent.durable(() => {
      if (this.q.completeOrder.run(cert.serial, new Date().toISOString(), id).changes !== 1) return false;
      this.parent.insertCertificateRows(cert, audit);
      return true;
    });
  }

  getAuthz(id: string): AcmeAuthz | undefined {
    const r = this.q.getAuthz.get(id) as Row | undefined;
    return r && toAuthz(r);
  }

  casAuthz(id: string, from: AuthzStatus, to: AuthzStatus): boolean {
    return this.parent.relaxed(() => this.q.casAuthz.run(to, id, from).changes === 1);
  }

  listChallenges(authzId: string): AcmeChallenge[] {
    return (this.q.listChallenges.all(authzId) as Row[]).map(toChallenge);
  }

  getChallenge(id: string): AcmeChallenge | undefined {
    const r = this.q.getChallenge.get(id) as Row | undefined;
    return r && toChallenge(r);
  }

  listChallengesByStatus(status: ChallengeStatus): AcmeChallenge[] {
    return (this.q.challengesByStatus.all(status) as Row[]).map(toChallenge);
  }

  casChallenge(id: string, from: ChallengeStatus, to: ChallengeStatus, patch: { validated?: string; error?: StoredProblem } = {}): boolean {
    return this.parent.relaxed(() => this.q.casChallenge.run({ id, from, to, validated: patch.validated ?? null, error: patch.error ? JSON.stringify(patch.error) : null }).changes === 1);
  }

  recordValidation(challengeId: string, outcome: { ok: true } | { ok: false; challengeError: StoredProblem; orderError: StoredProblem }): boolean {
    return this.parent.relaxed(() => this.db.transaction(() => {
      const ch = this.getChallenge(challengeId);
      if (!ch) return false;
      const now = new Date().toISOString();
      if (outcome.ok) {
        if (!this.casChallenge(challengeId, 'processing', 'valid', { validated: now })) return false;
        this.casAuthz(ch.authzId, 'pending', 'valid');
        for (const order of this.ordersForAuthz(ch.authzId)) {
          if (order.authzIds.every((id) => this.getAuthz(id)?.status === 'valid')) this.casOrder(order.id, 'pending', 'ready');
        }
      } else {
        if (!this.casChallenge(challengeId, 'processing', 'invalid', { error: outcome.challengeError })) return false;
        this.casAuthz(ch.authzId, 'pending', 'invalid');
        for (const order of this.ordersForAuthz(ch.authzId)) this.casOrder(order.id, 'pending', 'invalid', { error: outcome.orderError });
      }
      return true;
    }).immediate());
  }

  ordersForAuthz(authzId: string): AcmeOrder[] {
    return (this.q.ordersForAuthz.all(authzId) as Row[]).map(toOrder);
  }

  authorizedIdentifiers(accountId: string, now: string): AcmeIdentifier[] {
    return (this.q.authorizedIdentifiers.all(accountId, now) as Row[]).map((r) => JSON.parse(r.identifier!) as AcmeIdentifier);
  }

  certificateForOrder(orderId: string): CertificateRecord | undefined {
    const r = this.q.certForOrder.get(orderId) as { serial: string } | undefined;
    return r && this.parent.getCertificate(r.serial);
  }

  pruneExpired(before: string, maxRows: number): PruneCounts {
    // relaxed: a prune lost to a power cut is redone by the next run; a kill -9 loses nothing committed.
    return this.parent.relaxed(() => this.db.transaction(() => {
      const n: PruneCounts = { orders: 0, authzs: 0, challenges: 0 };
      let rows = 0;
      while (rows < maxRows) {
        // An order is at least four rows (itself, an authorization, two challenges): fetch no more candidates than fit.
        const candidates = this.q.prunable.all(before, Math.ceil((maxRows - rows) / 4)) as { id: string }[];
        if (candidates.length === 0) break;
        for (const { id } of candidates) {
          const challenges = this.q.pruneChallenges.run(id).changes;
          const authzs = this.q.pruneAuthzs.run(id).changes;
          n.orders += this.q.pruneOrder.run(id).changes;
          n.authzs += authzs;
          n.challenges += challenges;
          rows += 1 + authzs + challenges;
          if (rows >= maxRows) break;
        }
      }
      return n;
    }).immediate());
  }
}
