/**
 * ACME orders written straight into a store, in any state and with any expiry and creation time, for the
 * pruning, expiry and orders-list tests: many orders in states the HTTP flow reaches only slowly.
 */
import type Database from 'better-sqlite3';
import type { AcmeStore } from '../../src/store/acme-store.ts';
import type { AcmeAuthz, AcmeChallenge, AuthzStatus, ChallengeStatus, OrderStatus } from '../../src/store/acme-types.ts';
import type { CertificateRecord } from '../../src/store/types.ts';

export const DAY = 86_400_000;
export const iso = (ms: number) => new Date(ms).toISOString();

export interface SeedOrder {
  id: string;
  accountId?: string;
  status: OrderStatus;
  /** Epoch ms. */
  expires: number;
  /** Epoch ms; a week before `expires` unless given (the default order lifetime). */
  created?: number;
  names?: number;
  authzStatus?: AuthzStatus;
  challengeStatus?: ChallengeStatus;
  /** Authorizations of other orders this one lists too (orders never do this through newOrder). */
  alsoLists?: string[];
}

const CHALLENGE_TYPES = ['http-01', 'tls-alpn-01', 'dns-01'] as const;

/** Inserts an order with `names` authorizations (ids `${id}-a0`...) and three challenges each. */
export function seedOrder(store: AcmeStore, o: SeedOrder): { authzIds: string[]; challengeIds: string[] } {
  const accountId = o.accountId ?? 'acct-a';
  const authzStatus: AuthzStatus = o.authzStatus ?? (o.status === 'pending' ? 'pending' : o.status === 'invalid' ? 'invalid' : 'valid');
  const challengeStatus: ChallengeStatus = o.challengeStatus ?? (authzStatus === 'valid' ? 'valid' : authzStatus === 'invalid' ? 'invalid' : 'pending');
  const authzs: AcmeAuthz[] = [];
  const challenges: AcmeChallenge[] = [];
  for (let i = 0; i < (o.names ?? 1); i++) {
    const a: AcmeAuthz = { id: `${o.id}-a${i}`, accountId, orderId: o.id, identifier: { type: 'dns', value: `d${i}.${o.id}.klinikum.internal` }, status: authzStatus, expires: iso(o.expires) };
    authzs.push(a);
    for (const type of CHALLENGE_TYPES) challenges.push({ id: `${a.id}-${type}`, authzId: a.id, type, token: `t-${a.id}-${type}`, status: challengeStatus });
  }
  const created = iso(o.created ?? o.expires - 7 * DAY);
  store.insertOrder({
    id: o.id, accountId, status: o.status, identifiers: authzs.map((a) => a.identifier), profile: 'dicom-node',
    authzIds: [...authzs.map((a) => a.id), ...(o.alsoLists ?? [])], expires: iso(o.expires), createdAt: created, updatedAt: created,
  }, authzs, challenges);
  return { authzIds: authzs.map((a) => a.id), challengeIds: challenges.map((c) => c.id) };
}

export function certFor(orderId: string, serial: string, accountId = 'acct-a'): CertificateRecord {
  const now = Date.now();
  return {
    serial, issuerId: 'ecdsa-1', profile: 'dicom-node', names: [`d0.${orderId}.klinikum.internal`], notBefore: iso(now), notAfter: iso(now + 90 * DAY),
    status: 'valid', accountId, orderId, pem: '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n', createdAt: iso(now),
  };
}

export const ids = (db: Database.Database, table: 'acme_orders' | 'acme_authzs' | 'acme_challenges') =>
  (db.prepare(`SELECT id FROM ${table} ORDER BY id`).all() as { id: string }[]).map((r) => r.id);

/** Dangling references between the ACME tables; all zero in a consistent store. */
export function danglingReferences(db: Database.Database): { challengesWithoutAuthz: number; authzsWithoutOrder: number; ordersListingMissingAuthz: number } {
  const n = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
  return {
    challengesWithoutAuthz: n('SELECT count(*) AS n FROM acme_challenges c WHERE NOT EXISTS (SELECT 1 FROM acme_authzs a WHERE a.id = c.authz_id)'),
    authzsWithoutOrder: n('SELECT count(*) AS n FROM acme_authzs a WHERE NOT EXISTS (SELECT 1 FROM acme_orders o WHERE o.id = a.order_id)'),
    ordersListingMissingAuthz: n('SELECT count(*) AS n FROM acme_orders o, json_each(o.authz_ids) j WHERE NOT EXISTS (SELECT 1 FROM acme_authzs a WHERE a.id = j.value)'),
  };
}
