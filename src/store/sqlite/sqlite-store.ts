import { closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { WardgateError } from '../../errors.ts';
import { GENESIS_HASH, hashAuditEntry } from '../audit-chain.ts';
import type { Store } from '../store.ts';
import type {
  AuditEntry, CertificateQuery, CertificateRecord, NewAuditEntry, RevokedEntry,
} from '../types.ts';
import { GroupCommit } from './group-commit.ts';
import { migrate } from './migrations.ts';
import { makeStoreFilesPrivate } from './private-store-files.ts';
import { SqliteAcmeStore } from './sqlite-acme-store.ts';

interface CertRow {
  serial: string; issuer_id: string; profile: string; names: string; not_before: string; not_after: string;
  status: 'valid' | 'revoked'; revoked_at: string | null; revocation_reason: number | null; account_id: string | null; order_id: string | null;
  pem: string; renew_after: string | null; created_at: string;
}

interface AuditRow { seq: number; at: string; event: string; actor: string; data: string; prev_hash: string; hash: string }

function toRecord(r: CertRow): CertificateRecord {
  return {
    serial: r.serial, issuerId: r.issuer_id, profile: r.profile, names: JSON.parse(r.names) as string[],
    notBefore: r.not_before, notAfter: r.not_after, status: r.status,
    revokedAt: r.revoked_at ?? undefined, revocationReason: r.revocation_reason ?? undefined,
    accountId: r.account_id ?? undefined, orderId: r.order_id ?? undefined, pem: r.pem, renewAfter: r.renew_after ?? undefined, createdAt: r.created_at,
  };
}

/** Rows per write transaction of a bulk update: a few ms of write lock each (setRenewAfterAll). */
const BULK_ROWS = 2_000;
/** Pause between those transactions: longer than the first busy-handler sleeps (1+2+5 ms) of a waiting writer. */
const BULK_PAUSE_MS = 10;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** A synchronous pause, for the bulk updates the CLI runs (the store's API is synchronous). */
const pauseSync = (ms: number) => Atomics.wait(sleeper, 0, 0, ms);

function toAudit(r: AuditRow): AuditEntry {
  return { seq: r.seq, at: r.at, event: r.event, actor: r.actor, data: JSON.parse(r.data), prevHash: r.prev_hash, hash: r.hash };
}

/**
 * The embedded default store: one SQLite file in WAL mode with synchronous=FULL, so every committed
 * transaction survives a kill -9 or power loss. Writes that may be lost to a power cut (not to a
 * crash) go through `relaxed()`. Several processes may open the same file; writers are serialised by
 * SQLite's lock and wait up to `busyTimeoutMs` for it.
 */
export class SqliteStore implements Store {
  readonly db: Database.Database;
  private readonly stmts;
  private acmeStore?: SqliteAcmeStore;

  /** ACME tables, on the same connection so that order completion and certificate insert share a transaction. */
  get acme(): SqliteAcmeStore {
    return (this.acmeStore ??= new SqliteAcmeStore(this));
  }

  constructor(path: string, options: { busyTimeoutMs?: number; readonly?: boolean } = {}) {
    // The store holds EAB HMAC keys: create it 0600 (SQLite gives its -wal and -shm files the same mode),
    // not SQLite's 0644, which leaks them when the data dir itself is readable by others.
    if (!options.readonly && path && path !== ':memory:' && !existsSync(path)) closeSync(openSync(path, 'a', 0o600));
    // ... and tighten a store made before that (by an older wardgate) before SQLite opens its -wal/-shm.
    if (path && path !== ':memory:') makeStoreFilesPrivate(path);
    this.db = new Database(path, { readonly: options.readonly ?? false, timeout: options.busyTimeoutMs ?? 10_000 });
    if (!options.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
      // SQLite's default page cache is 2 MiB; with 100,000 certificates the tables and their five
      // indexes are ~100 MiB, and every insert would re-read index pages from the OS. 64 MiB keeps
      // the hot pages (the ends of the b-trees that inserts touch) in this process.
      this.db.pragma('cache_size = -65536');
      migrate(this.db);
    }
    const db = this.db;
    this.stmts = {
      insertCert: db.prepare(`INSERT INTO certificates (serial, issuer_id, profile, names, not_before, not_after, status,
        revoked_at, revocation_reason, account_id, order_id, pem, renew_after, created_at)
        VALUES (@serial, @issuer_id, @profile, @names, @not_before, @not_after, @status, @revoked_at, @revocation_reason,
        @account_id, @order_id, @pem, @renew_after, @created_at)`),
      getCert: db.prepare('SELECT * FROM certificates WHERE serial = ?'),
      revoke: db.prepare(`UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ?
        WHERE serial = ? AND status = 'valid'`),
      countRevoked: db.prepare(`SELECT count(*) AS n FROM certificates WHERE status = 'revoked' AND issuer_id = ?`),
      listRevoked: db.prepare(`SELECT serial, revoked_at, revocation_reason FROM certificates
        WHERE status = 'revoked' AND issuer_id = ? AND not_after > ? ORDER BY revoked_at`),
      head: db.prepare('SELECT seq, hash FROM audit_head WHERE id = 1'),
      insertAudit: db.prepare(`INSERT INTO audit_log (seq, at, event, actor, data, prev_hash, hash)
        VALUES (@seq, @at, @event, @actor, @data, @prev_hash, @hash)`),
      setHead: db.prepare('INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash'),
      readAudit: db.prepare('SELECT * FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?'),
      counter: db.prepare(`INSERT INTO counters (name, value) VALUES (?, 1)
        ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value`),
      renewAfterRange: db.prepare(`UPDATE certificates SET renew_after = ? WHERE rowid > ? AND rowid <= ? AND status = 'valid' AND not_after > ?`),
      maxRowid: db.prepare('SELECT max(rowid) AS m FROM certificates'),
      renewAfterOne: db.prepare(`UPDATE certificates SET renew_after = ? WHERE serial = ? AND status = 'valid'`),
    };
  }

  /** Durable writes of the current event-loop turn share one commit (see GroupCommit). */
  private groupCommit?: GroupCommit;

  /**
   * Runs `fn` in a durable commit shared with the other writes queued in this turn; it settles once the
   * commit is on disk, the fsync run off the event loop when the store is a WAL file (see GroupCommit).
   */
  durable<T>(fn: () => T): Promise<T> {
    return (this.groupCommit ??= new GroupCommit(this.db, this.walPath())).run(fn);
  }

  private walPath(): string | undefined {
    if (this.db.memory || this.db.readonly) return undefined;
    return this.db.pragma('journal_mode', { simple: true }) === 'wal' ? `${this.db.name}-wal` : undefined;
  }

  /**
   * Runs `fn` (its own transaction) with synchronous=NORMAL: in WAL mode the commit reaches the OS
   * but is not fsynced, so it survives a kill -9 of this process but not a power cut. For state a
   * client re-creates by retrying (ACME orders, authorizations, challenges), which would otherwise
   * cost an fsync per request. The next FULL commit (a certificate, an account) fsyncs the WAL and
   * with it every relaxed commit before it, so what is durable is always a prefix of what was written.
   */
  relaxed<T>(fn: () => T): T {
    // The setting cannot change inside an open transaction: nested calls keep the outer one's.
    if (this.db.inTransaction) return fn();
    // exec, not a prepared statement: SQLite applies this pragma when it compiles it.
    this.db.exec('PRAGMA synchronous = NORMAL');
    try {
      return fn();
    } finally {
      this.db.exec('PRAGMA synchronous = FULL');
    }
  }

  insertCertificate(cert: CertificateRecord, audit?: NewAuditEntry): void {
    try {
      this.insertCertificateTx(cert, audit);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new WardgateError('STORE_CONFLICT', `a certificate with serial ${cert.serial} is already stored`, { cause: err });
      }
      throw err;
    }
  }

  private insertCertificateTx(cert: CertificateRecord, audit?: NewAuditEntry): void {
    this.db.transaction(() => this.insertCertificateRows(cert, audit)).immediate();
  }

  /** Inserts inside the caller's transaction (used to complete an ACME order atomically). */
  insertCertificateRows(cert: CertificateRecord, audit?: NewAuditEntry): void {
    {
      this.stmts.insertCert.run({
        serial: cert.serial, issuer_id: cert.issuerId, profile: cert.profile, names: JSON.stringify(cert.names),
        not_before: cert.notBefore, not_after: cert.notAfter, status: cert.status, revoked_at: cert.revokedAt ?? null,
        revocation_reason: cert.revocationReason ?? null, account_id: cert.accountId ?? null, order_id: cert.orderId ?? null, pem: cert.pem,
        renew_after: cert.renewAfter ?? null, created_at: cert.createdAt,
      });
      if (audit) this.appendAuditInTx(audit);
    }
  }

  getCertificate(serial: string): CertificateRecord | undefined {
    const row = this.stmts.getCert.get(serial) as CertRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  private where(q: CertificateQuery): { sql: string; args: unknown[] } {
    const clauses: string[] = [];
    const args: unknown[] = [];
    if (q.status) { clauses.push('status = ?'); args.push(q.status); }
    if (q.issuerId) { clauses.push('issuer_id = ?'); args.push(q.issuerId); }
    if (q.expiringBefore) { clauses.push('not_after < ?'); args.push(q.expiringBefore); }
    return { sql: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', args };
  }

  listCertificates(query: CertificateQuery = {}): CertificateRecord[] {
    const { sql, args } = this.where(query);
    const rows = this.db.prepare(`SELECT * FROM certificates ${sql} ORDER BY created_at, serial LIMIT ? OFFSET ?`)
      .all(...args, query.limit ?? -1, query.offset ?? 0) as CertRow[];
    return rows.map(toRecord);
  }

  countCertificates(query: CertificateQuery = {}): number {
    const { sql, args } = this.where(query);
    return (this.db.prepare(`SELECT count(*) AS n FROM certificates ${sql}`).get(...args) as { n: number }).n;
  }

  revokeCertificate(serial: string, reason: number, at: string, audit?: NewAuditEntry): boolean {
    return this.db.transaction(() => {
      const changed = this.stmts.revoke.run(at, reason, serial).changes === 1;
      if (changed && audit) this.appendAuditInTx(audit);
      return changed;
    }).immediate();
  }

  listRevoked(issuerId: string, now: string): RevokedEntry[] {
    return (this.stmts.listRevoked.all(issuerId, now) as { serial: string; revoked_at: string; revocation_reason: number }[])
      .map((r) => ({ serial: r.serial, revokedAt: r.revoked_at, reason: r.revocation_reason }));
  }

  countRevoked(issuerId: string): number {
    return (this.stmts.countRevoked.get(issuerId) as { n: number }).n;
  }

  setRenewAfter(serials: string[] | 'all', at: string, audit?: NewAuditEntry): number {
    if (serials === 'all') return this.setRenewAfterAll(at, audit);
    return this.db.transaction(() => {
      let n = 0;
      for (const s of serials) n += this.stmts.renewAfterOne.run(at, s).changes;
      if (audit) this.appendAuditInTx(audit);
      return n;
    }).immediate();
  }

  /**
   * Found in review: one UPDATE of every certificate held SQLite's write lock for 135-380 ms at 100,000
   * certificates (linear in the store), and a `serve` on the same file blocks its event loop on that lock
   * (better-sqlite3 is synchronous) whenever it writes meanwhile: another connection writing every 2 ms
   * waited up to 130-355 ms for one write, 40-140 ms with these batches (bench numbers in docs/acme.md). So: `BULK_ROWS` rowids per transaction
   * (a few ms each), with a pause between them long enough for a waiting writer's busy handler, which
   * retries after 1, 2, 5, 10 ... ms, to find the lock free. The audit entry commits with the first
   * batch, so no change is ever unaudited; a run cut short leaves a prefix done, and running it again
   * finishes it (the update is idempotent).
   */
  private setRenewAfterAll(at: string, audit?: NewAuditEntry): number {
    const now = new Date().toISOString();
    const batches = Math.max(1, Math.ceil(((this.stmts.maxRowid.get() as { m: number | null }).m ?? 0) / BULK_ROWS));
    let n = 0;
    for (let b = 0; b < batches; b++) {
      const batch = this.db.transaction(() => {
        if (b === 0 && audit) this.appendAuditInTx(audit);
        return this.stmts.renewAfterRange.run(at, b * BULK_ROWS, (b + 1) * BULK_ROWS, now).changes;
      });
      if (b === batches - 1) {
        n += batch.immediate();
      } else {
        // Relaxed (no fsync, which would make each batch as long as the disk's sync): the last commit is
        // FULL and syncs the WAL with every batch before it, so what a power cut leaves is a prefix of
        // the run that starts with its audit entry.
        n += this.relaxed(() => batch.immediate());
        pauseSync(BULK_PAUSE_MS);
      }
    }
    return n;
  }

  nextCounter(name: string): number {
    return (this.stmts.counter.get(name) as { value: number }).value;
  }

  appendAudit(entry: NewAuditEntry): AuditEntry {
    return this.db.transaction(() => this.appendAuditInTx(entry)).immediate();
  }

  /** Must run inside an IMMEDIATE transaction so that no other writer can take the same sequence number. */
  appendAuditInTx(entry: NewAuditEntry): AuditEntry {
    const head = this.auditHead();
    const base = { seq: head.seq + 1, at: new Date().toISOString(), event: entry.event, actor: entry.actor, data: entry.data, prevHash: head.hash };
    const full: AuditEntry = { ...base, hash: hashAuditEntry(base) };
    this.stmts.insertAudit.run({
      seq: full.seq, at: full.at, event: full.event, actor: full.actor, data: JSON.stringify(full.data),
      prev_hash: full.prevHash, hash: full.hash,
    });
    this.stmts.setHead.run(full.seq, full.hash);
    return full;
  }

  readAudit(fromSeq = 1, limit = -1): AuditEntry[] {
    return (this.stmts.readAudit.all(fromSeq, limit) as AuditRow[]).map(toAudit);
  }

  auditHead(): { seq: number; hash: string } {
    const row = this.stmts.head.get() as { seq: number; hash: string } | undefined;
    return row ?? { seq: 0, hash: GENESIS_HASH };
  }

  /**
   * VACUUM INTO copies the whole store inside one read transaction: a consistent snapshot of everything
   * committed before it began, while other processes (serve) keep writing. The online backup API
   * (db.backup) copies in steps and starts over whenever another connection commits, so under steady
   * issuance a large store never finished.
   */
  async backupTo(path: string): Promise<void> {
    this.db.prepare('VACUUM INTO ?').run(path);
  }

  checkIntegrity(): void {
    const result = this.db.pragma('integrity_check', { simple: true });
    if (result !== 'ok') throw new WardgateError('STORE_CORRUPT', `SQLite integrity check failed: ${String(result)}`);
  }

  close(): void {
    if (!this.db.open) return;
    this.groupCommit?.close();
    this.db.close();
  }
}
