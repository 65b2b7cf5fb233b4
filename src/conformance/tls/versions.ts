/** TLS protocol version code points as they appear in ClientHello/ServerHello (RFC 5246 §6.2.1, RFC 8446 §4.2.1). */
export const TLS_VERSIONS = {
  'SSLv3': 0x0300,
  'TLSv1': 0x0301,
  'TLSv1.1': 0x0302,
  'TLSv1.2': 0x0303,
  'TLSv1.3': 0x0304,
} as const;

export type TlsVersionName = keyof typeof TLS_VERSIONS;

export function versionName(code: number): string {
  for (const [name, value] of Object.entries(TLS_VERSIONS)) if (value === code) return name;
  return `0x${code.toString(16).padStart(4, '0')}`;
}
