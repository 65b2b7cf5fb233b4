import { createHmac, scryptSync } from 'node:crypto';

const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

/** Version 1 used the scrypt output as the AES key only. */
export function deriveKeyV1(passphrase: string, salt: Buffer): Buffer {
  return scryptSync(passphrase, salt, 32, SCRYPT);
}

/**
 * Versions 2 and 3 derive two keys: one for AES-256-GCM, one (`mac`) for a key check value that tells a
 * wrong passphrase apart from a damaged archive (a GCM tag alone fails the same way for both) and, in
 * version 3, for the tag over the header's length field.
 */
export function deriveKeys(passphrase: string, salt: Buffer): { enc: Buffer; mac: Buffer; check: Buffer } {
  const k = scryptSync(passphrase, salt, 64, SCRYPT);
  const mac = k.subarray(32);
  return { enc: k.subarray(0, 32), mac, check: createHmac('sha256', mac).update('wardgate backup key check').digest().subarray(0, 16) };
}
