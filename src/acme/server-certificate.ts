import type { SecureContextOptions } from 'node:tls';
import { generateDeviceKey } from '../pki/device-key.ts';
import type { CertificateAuthority } from '../pki/ca.ts';
import type { Identifier } from '../pki/names.ts';

export interface ServerCredentials { cert: string; key: string; notBefore: number; notAfter: number; serial: string }

/**
 * The ACME server's own HTTPS certificate, issued by its CA (clients trust the root, nothing else) for
 * the names it is reached by. Throws NAME_NOT_PERMITTED when a name is outside the CA's permits.
 */
export async function issueServerCertificate(ca: CertificateAuthority, names: Identifier[]): Promise<ServerCredentials> {
  const key = generateDeviceKey('ecdsa-p256');
  const { record, chainPem } = await ca.issue({ spki: key.spki, keyType: key.keyType, identifiers: names, profile: 'web-server', actor: 'serve' });
  return { cert: chainPem, key: key.privateKeyPem, notBefore: Date.parse(record.notBefore), notAfter: Date.parse(record.notAfter), serial: record.serial };
}

/**
 * Renews the server certificate when a third of its lifetime is left (the usual automatic-renewal point)
 * and hands the new one to `apply` (tls.Server#setSecureContext: open connections keep the old one).
 * Checks hourly, so long lifetimes never overflow a timer.
 */
export function keepServerCertificateFresh(
  ca: CertificateAuthority, names: Identifier[], current: ServerCredentials,
  apply: (ctx: SecureContextOptions, creds: ServerCredentials) => void, onError: (err: unknown) => void, checkEveryMs = 3_600_000,
): () => void {
  let creds = current;
  const timer = setInterval(async () => {
    const renewAt = creds.notAfter - (creds.notAfter - creds.notBefore) / 3;
    if (Date.now() < renewAt) return;
    try {
      creds = await issueServerCertificate(ca, names);
      apply({ cert: creds.cert, key: creds.key }, creds);
    } catch (err) {
      onError(err);
    }
  }, checkEveryMs);
  timer.unref();
  return () => clearInterval(timer);
}
