import type Database from 'better-sqlite3';

/**
 * Versioned schema. Each migration runs once, in order, inside a transaction together with the bump of
 * `PRAGMA user_version`; never edit a migration that has shipped, append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: certificates and the hash-chained audit log
  `CREATE TABLE certificates (
     serial TEXT PRIMARY KEY,
     issuer_id TEXT NOT NULL,
     profile TEXT NOT NULL,
     names TEXT NOT NULL,
     not_before TEXT NOT NULL,
     not_after TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('valid','revoked')),
     revoked_at TEXT,
     revocation_reason INTEGER,
     account_id TEXT,
     pem TEXT NOT NULL,
     renew_after TEXT,
     created_at TEXT NOT NULL
   );
   CREATE INDEX certificates_status ON certificates(status, issuer_id);
   CREATE INDEX certificates_not_after ON certificates(not_after);
   CREATE INDEX certificates_account ON certificates(account_id);
   CREATE TABLE audit_log (
     seq INTEGER PRIMARY KEY,
     at TEXT NOT NULL,
     event TEXT NOT NULL,
     actor TEXT NOT NULL,
     data TEXT NOT NULL,
     prev_hash TEXT NOT NULL,
     hash TEXT NOT NULL
   );
   -- The head is kept apart from the log so that deleting the newest entries is detectable.
   CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
   CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);`,
  // 2: ACME (RFC 8555) accounts, orders, authorizations, challenges, and External Account Binding keys
  `CREATE TABLE acme_accounts (
     id TEXT PRIMARY KEY,
     thumbprint TEXT NOT NULL UNIQUE,
     jwk TEXT NOT NULL,
     status TEXT NOT NULL,
     contact TEXT NOT NULL,
     eab_kid TEXT,
     created_at TEXT NOT NULL
   );
   CREATE TABLE acme_eab_keys (
     kid TEXT PRIMARY KEY,
     hmac_key TEXT NOT NULL,
     label TEXT,
     allow_dns TEXT NOT NULL,
     allow_ip TEXT NOT NULL,
     account_id TEXT,
     created_at TEXT NOT NULL
   );
   CREATE TABLE acme_orders (
     id TEXT PRIMARY KEY,
     account_id TEXT NOT NULL,
     status TEXT NOT NULL,
     identifiers TEXT NOT NULL,
     profile TEXT NOT NULL,
     authz_ids TEXT NOT NULL,
     expires TEXT NOT NULL,
     csr TEXT,
     cert_serial TEXT,
     error TEXT,
     replaces TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE INDEX acme_orders_account ON acme_orders(account_id, created_at);
   CREATE INDEX acme_orders_status ON acme_orders(status);
   CREATE UNIQUE INDEX acme_orders_replaces ON acme_orders(replaces) WHERE replaces IS NOT NULL AND status != 'invalid';
   CREATE TABLE acme_authzs (
     id TEXT PRIMARY KEY,
     account_id TEXT NOT NULL,
     order_id TEXT NOT NULL,
     identifier TEXT NOT NULL,
     status TEXT NOT NULL,
     expires TEXT NOT NULL
   );
   CREATE TABLE acme_challenges (
     id TEXT PRIMARY KEY,
     authz_id TEXT NOT NULL,
     type TEXT NOT NULL,
     token TEXT NOT NULL,
     status TEXT NOT NULL,
     validated TEXT,
     error TEXT
   );
   CREATE INDEX acme_challenges_authz ON acme_challenges(authz_id);
   ALTER TABLE certificates ADD COLUMN order_id TEXT;
   CREATE INDEX certificates_order ON certificates(order_id);`,
  // 3: start-up recovery finds interrupted validations without walking every pending order
  `CREATE INDEX acme_challenges_status ON acme_challenges(status);`,
  // 4: pruning (SqliteAcmeStore.pruneExpired) finds unfinished orders by expiry without walking the
  // valid ones, and an order's authorizations by their owner. The prune query names the partial index
  // (INDEXED BY) and repeats its WHERE: change one, change both, or preparing the query fails.
  `CREATE INDEX acme_orders_unfinished_expires ON acme_orders(expires) WHERE status IN ('pending', 'ready', 'invalid');
   CREATE INDEX acme_authzs_order ON acme_authzs(order_id);`,
];

export function migrate(db: Database.Database, migrations: readonly string[] = MIGRATIONS): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let v = current; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
