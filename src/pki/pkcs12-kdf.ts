import { createHash } from 'node:crypto';

/** RFC 7292 Appendix B.1: the password as a BMPString, big-endian UTF-16 with a two-byte NUL terminator. */
export function bmpPassword(password: string): Buffer {
  const le = Buffer.from(`${password}\0`, 'utf16le');
  return le.swap16();
}

/** Purpose byte ("ID") of RFC 7292 Appendix B.3: what the derived bytes are used for. */
export const KDF_ID = { key: 1, iv: 2, mac: 3 } as const;

/**
 * RFC 7292 Appendix B.2: the PKCS#12 key derivation. Used for the MacData key (ID 3) and for the
 * pbeWithSHAAnd3-KeyTripleDES-CBC key and IV (IDs 1 and 2); PBES2 uses PBKDF2 instead. Both hashes
 * used here (SHA-1, SHA-256) have a 64-byte block, which is `v`.
 */
export function pkcs12Kdf(hash: 'sha1' | 'sha256', password: string, salt: Uint8Array, id: number, iterations: number, length: number): Buffer {
  const v = 64;
  const u = hash === 'sha1' ? 20 : 32;
  const fill = (src: Uint8Array): Buffer => {
    const out = Buffer.alloc(src.length === 0 ? 0 : v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length];
    return out;
  };
  const d = Buffer.alloc(v, id);
  const i = Buffer.concat([fill(salt), fill(bmpPassword(password))]);
  const blocks: Buffer[] = [];
  for (let c = Math.ceil(length / u); c > 0; c--) {
    let a = createHash(hash).update(d).update(i).digest();
    for (let r = 1; r < iterations; r++) a = createHash(hash).update(a).digest();
    blocks.push(a);
    // I_j = (I_j + B + 1) mod 2^(8v), B being A repeated to v bytes.
    const b = fill(a);
    for (let j = 0; j < i.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = i[j + k] + b[k] + carry;
        i[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, length);
}
