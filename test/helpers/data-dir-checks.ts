/**
 * Shared by the data-safety tests: filling a store with many certificates (so that restore and backup
 * take long enough to be killed midway), running a CLI command that is SIGKILLed when a condition holds,
 * and the two states a data dir may be in afterwards.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority } from '../../src/pki/ca.ts';
import { isWardgateError } from '../../src/errors.ts';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { verifyAuditChain } from '../../src/store/audit-chain.ts';
import { BIN } from './cli.ts';

/** Inserts `n` certificate rows (about 1.5 KB each, like real ones) in one transaction. */
export function fillStore(store: SqliteStore, n: number): void {
  const pem = randomBytes(900).toString('base64');
  store.db.transaction(() => {
    for (let i = 0; i < n; i++) {
      store.insertCertificateRows({
        serial: `7f${i.toString(16).padStart(30, '0')}`, issuerId: 'ecdsa-1', profile: 'dicom-node', names: [`d${i}.klinikum.internal`],
        notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2027-01-01T00:00:00.000Z', status: 'valid', pem, createdAt: new Date().toISOString(),
      });
    }
  })();
}

/**
 * Runs `wardgate ARGS` and SIGKILLs it as soon as `when()` holds (polled every millisecond). Resolves with
 * how it ended; `signal` is null when it finished before the condition held.
 */
export async function killWhen(args: string[], env: Record<string, string>, when: () => boolean): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: 'ignore' });
  const timer = setInterval(() => {
    if (when()) {
      child.kill('SIGKILL');
      clearInterval(timer);
    }
  }, 1);
  return new Promise((resolve) => child.once('exit', (code, signal) => {
    clearInterval(timer);
    resolve({ code, signal });
  }));
}

/** A condition that holds `ms` after it is first asked. */
export function after(ms: number): () => boolean {
  let start: number | undefined;
  return () => Date.now() - (start ??= Date.now()) >= ms;
}

export function hasEntries(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).length > 0;
}

export interface Asserter {
  ok: (v: unknown, msg: string) => void;
  equal: (a: unknown, b: unknown, msg: string) => void;
  fail: (msg: string) => void;
}

/** The data dir holds no CA: every command (serve too) refuses it with DATA_DIR_MISSING. */
export async function assertNoCa(t: Asserter, dir: string, label: string): Promise<void> {
  try {
    const ca = await CertificateAuthority.open(dir, { passphrase: 'unused' });
    ca.close();
    t.fail(`${label}: the data dir opened as a CA`);
  } catch (err) {
    t.ok(isWardgateError(err, 'DATA_DIR_MISSING'), `${label}: no CA (${(err as Error).message})`);
  }
}

/** The data dir holds the complete CA: keys open, every file is there, the store has `certificates`. */
export async function assertCompleteCa(t: Asserter, dir: string, passphrase: string, certificates: number, label: string): Promise<void> {
  for (const f of ['ca.json', 'root.pem', 'intermediate.pem', 'intermediate-rsa.pem', 'keys/ecdsa-1.key.pem', 'keys/rsa-1.key.pem', 'issuers/ecdsa-1.pem', 'issuers/rsa-1.pem']) {
    t.ok(existsSync(join(dir, 'ca', f)), `${label}: ca/${f} present`);
  }
  t.ok(existsSync(join(dir, 'wardgate.db')), `${label}: store present`);
  const ca = await CertificateAuthority.open(dir, { passphrase });
  try {
    ca.store.checkIntegrity();
    t.equal(ca.store.countCertificates(), certificates, `${label}: every certificate in the store`);
    const audit = ca.store.readAudit();
    t.equal(audit[0]?.event, 'ca.init', `${label}: the audit log starts with ca.init`);
    verifyAuditChain(audit, ca.store.auditHead());
  } finally {
    ca.close();
  }
}
