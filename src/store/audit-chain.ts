import { createHash } from 'node:crypto';
import { WardgateError } from '../errors.ts';
import type { AuditEntry } from './types.ts';

/** Hash of the empty chain: what the first entry's `prevHash` holds. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * SHA-256 over a canonical encoding of the entry (everything but `hash`). JSON with sorted keys, so the
 * same entry always hashes the same whichever backend stored it.
 */
export function hashAuditEntry(entry: Omit<AuditEntry, 'hash'>): string {
  const canonical = canonicalJson({
    seq: entry.seq, at: entry.at, event: entry.event, actor: entry.actor, data: entry.data, prevHash: entry.prevHash,
  });
  return createHash('sha256').update(canonical).digest('hex');
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value as object).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

export interface ChainVerdict {
  entries: number;
  headHash: string;
}

/**
 * Walks the chain in order. An edited entry breaks its own hash; a deleted or inserted one breaks the
 * sequence or the next entry's `prevHash`; a deleted tail disagrees with the separately kept head.
 */
export function verifyAuditChain(entries: Iterable<AuditEntry>, head: { seq: number; hash: string }): ChainVerdict {
  let prevHash = GENESIS_HASH;
  let expectedSeq = 1;
  let count = 0;
  for (const e of entries) {
    if (e.seq !== expectedSeq) {
      throw new WardgateError('AUDIT_CHAIN_BROKEN', `audit entry ${expectedSeq} is missing (next entry found is ${e.seq})`);
    }
    if (e.prevHash !== prevHash) {
      throw new WardgateError('AUDIT_CHAIN_BROKEN', `audit entry ${e.seq} does not link to entry ${e.seq - 1} (prevHash differs)`);
    }
    if (hashAuditEntry(e) !== e.hash) {
      throw new WardgateError('AUDIT_CHAIN_BROKEN', `audit entry ${e.seq} (${e.event}) was modified: its hash does not match its content`);
    }
    prevHash = e.hash;
    expectedSeq++;
    count++;
  }
  if (head.seq !== count || head.hash !== prevHash) {
    throw new WardgateError('AUDIT_CHAIN_BROKEN',
      `audit log ends at entry ${count} but the recorded head is entry ${head.seq}: entries were deleted or appended outside the store`);
  }
  return { entries: count, headHash: prevHash };
}
