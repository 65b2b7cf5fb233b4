/**
 * TLS 1.0–1.2 cipher suites the kit offers when it enumerates what an endpoint accepts, with their
 * IANA code points, and the BCP 195 class each falls in. TLS 1.3 suites are not listed: all five are
 * AEAD with forward secrecy (RFC 8446 §B.4) and are judged by the version checks instead.
 */
export type CipherClass = 'recommended' | 'acceptable' | 'discouraged' | 'forbidden';

export interface CipherSuite {
  code: number;
  name: string;
  cls: CipherClass;
}

/** RFC 9325 §4.2: the four TLS 1.2 suites BCP 195 recommends. */
export const RECOMMENDED_TLS12 = [0xc02b, 0xc02f, 0xc02c, 0xc030] as const;

const NAMES: Array<[number, string]> = [
  [0xc02b, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'], [0xc02f, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
  [0xc02c, 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'], [0xc030, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'],
  [0xcca9, 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'], [0xcca8, 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
  [0xc0ac, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM'], [0xc0ad, 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM'],
  [0x009e, 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256'], [0x009f, 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384'],
  [0xccaa, 'TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256'], [0xc09e, 'TLS_DHE_RSA_WITH_AES_128_CCM'],
  [0xc09f, 'TLS_DHE_RSA_WITH_AES_256_CCM'],
  [0xc023, 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256'], [0xc024, 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384'],
  [0xc027, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256'], [0xc028, 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384'],
  [0xc009, 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA'], [0xc00a, 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA'],
  [0xc013, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA'], [0xc014, 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA'],
  [0x0067, 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA256'], [0x006b, 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA256'],
  [0x0033, 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA'], [0x0039, 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA'],
  [0x0045, 'TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA'], [0x0088, 'TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA'],
  [0x009c, 'TLS_RSA_WITH_AES_128_GCM_SHA256'], [0x009d, 'TLS_RSA_WITH_AES_256_GCM_SHA384'],
  [0x003c, 'TLS_RSA_WITH_AES_128_CBC_SHA256'], [0x003d, 'TLS_RSA_WITH_AES_256_CBC_SHA256'],
  [0x002f, 'TLS_RSA_WITH_AES_128_CBC_SHA'], [0x0035, 'TLS_RSA_WITH_AES_256_CBC_SHA'],
  [0x0041, 'TLS_RSA_WITH_CAMELLIA_128_CBC_SHA'], [0x0084, 'TLS_RSA_WITH_CAMELLIA_256_CBC_SHA'],
  [0x0096, 'TLS_RSA_WITH_SEED_CBC_SHA'], [0xc09c, 'TLS_RSA_WITH_AES_128_CCM'], [0xc09d, 'TLS_RSA_WITH_AES_256_CCM'],
  [0x000a, 'TLS_RSA_WITH_3DES_EDE_CBC_SHA'], [0x0016, 'TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA'],
  [0xc012, 'TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA'], [0xc008, 'TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA'],
  [0x0009, 'TLS_RSA_WITH_DES_CBC_SHA'], [0x0015, 'TLS_DHE_RSA_WITH_DES_CBC_SHA'],
  [0x0005, 'TLS_RSA_WITH_RC4_128_SHA'], [0x0004, 'TLS_RSA_WITH_RC4_128_MD5'],
  [0xc011, 'TLS_ECDHE_RSA_WITH_RC4_128_SHA'], [0xc007, 'TLS_ECDHE_ECDSA_WITH_RC4_128_SHA'],
  [0x0003, 'TLS_RSA_EXPORT_WITH_RC4_40_MD5'], [0x0006, 'TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5'],
  [0x0008, 'TLS_RSA_EXPORT_WITH_DES40_CBC_SHA'], [0x0014, 'TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA'],
  [0x0062, 'TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA'], [0x0064, 'TLS_RSA_EXPORT1024_WITH_RC4_56_SHA'],
  [0x0001, 'TLS_RSA_WITH_NULL_MD5'], [0x0002, 'TLS_RSA_WITH_NULL_SHA'], [0x003b, 'TLS_RSA_WITH_NULL_SHA256'],
  [0xc006, 'TLS_ECDHE_ECDSA_WITH_NULL_SHA'], [0xc010, 'TLS_ECDHE_RSA_WITH_NULL_SHA'],
  [0x0018, 'TLS_DH_anon_WITH_RC4_128_MD5'], [0x001b, 'TLS_DH_anon_WITH_3DES_EDE_CBC_SHA'],
  [0x0034, 'TLS_DH_anon_WITH_AES_128_CBC_SHA'], [0x003a, 'TLS_DH_anon_WITH_AES_256_CBC_SHA'],
  [0x006c, 'TLS_DH_anon_WITH_AES_128_CBC_SHA256'], [0x006d, 'TLS_DH_anon_WITH_AES_256_CBC_SHA256'],
  [0x00a6, 'TLS_DH_anon_WITH_AES_128_GCM_SHA256'], [0x00a7, 'TLS_DH_anon_WITH_AES_256_GCM_SHA384'],
  [0xc018, 'TLS_ECDH_anon_WITH_AES_128_CBC_SHA'], [0xc019, 'TLS_ECDH_anon_WITH_AES_256_CBC_SHA'],
  [0xc016, 'TLS_ECDH_anon_WITH_RC4_128_SHA'], [0xc017, 'TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA'],
  [0xc015, 'TLS_ECDH_anon_WITH_NULL_SHA'],
];

/**
 * The class follows from the name, so the rule can be read and audited in one place:
 * - forbidden (ICM-TLS-004; RFC 9325 §4.1, RFC 7465 for RC4): NULL encryption, anonymous key
 *   exchange, export grade, RC4, single DES and 3DES (64-bit blocks, Sweet32);
 * - recommended (ICM-TLS-005): RFC 9325 §4.2;
 * - discouraged (ICM-TLS-006; RFC 9325 §4.1): RSA key transport (no forward secrecy), finite-field
 *   DHE, and CBC (MAC-then-encrypt) modes;
 * - acceptable: the remaining ECDHE + AEAD suites (ChaCha20-Poly1305, AES-CCM).
 */
export function classify(name: string, code: number): CipherClass {
  if (/NULL|_anon_|EXPORT|RC4|_DES_|DES40|3DES/.test(name)) return 'forbidden';
  if ((RECOMMENDED_TLS12 as readonly number[]).includes(code)) return 'recommended';
  if (/^TLS_RSA_|^TLS_DHE_|_CBC_/.test(name)) return 'discouraged';
  return 'acceptable';
}

export const CIPHER_SUITES: readonly CipherSuite[] = NAMES.map(([code, name]) => ({ code, name, cls: classify(name, code) }));

const BY_CODE = new Map(CIPHER_SUITES.map((s) => [s.code, s]));

/** Looks up a code point; suites outside the table are reported by number and judged discouraged. */
export function suiteByCode(code: number): CipherSuite {
  return BY_CODE.get(code) ?? { code, name: `0x${code.toString(16).padStart(4, '0')}`, cls: 'discouraged' };
}
