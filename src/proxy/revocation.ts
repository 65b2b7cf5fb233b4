import { readFileSync, statSync } from 'node:fs';
import { WardgateError } from '../errors.ts';
import { splitPem } from '../pki/pem.ts';
import { normalizeSerial } from '../pki/serial.ts';
import { x509 } from '../pki/x509.ts';

/**
 * Client-certificate revocation for inbound routes, from CRL files (RFC 5280 §6.3). Checked after the
 * handshake against the leaf only: OpenSSL's own CRL checking (Node's `crl` option) demands a CRL for
 * every CA in the chain, and an offline root publishes none. The file is re-read when it changes, so a
 * cron job that fetches the CA's CRL (`/crl/<issuer>.crl`) is enough to keep it current.
 */
export class RevocationList {
  private revoked = new Set<string>();
  private mtimeMs = 0;
  private checkedAt = 0;

  constructor(private readonly file: string, private readonly recheckMs = 30_000) {
    this.load();
  }

  private load(): void {
    let text: string;
    try {
      const st = statSync(this.file);
      if (st.mtimeMs === this.mtimeMs) return;
      this.mtimeMs = st.mtimeMs;
      text = readFileSync(this.file, 'latin1');
    } catch (err) {
      throw new WardgateError('TLS_CREDENTIALS_INVALID', `CRL file ${this.file} cannot be read: ${(err as Error).message}`);
    }
    const blocks = text.includes('-----BEGIN') ? splitPem(text) : [Buffer.from(text, 'latin1')];
    const next = new Set<string>();
    for (const block of blocks) {
      let crl: x509.X509Crl;
      try {
        crl = new x509.X509Crl(typeof block === 'string' ? block : new Uint8Array(block) as Uint8Array<ArrayBuffer>);
      } catch (err) {
        throw new WardgateError('TLS_CREDENTIALS_INVALID', `${this.file} holds something that is not a CRL: ${(err as Error).message}`);
      }
      for (const entry of crl.entries) next.add(`${crl.issuer}|${normalizeSerial(entry.serialNumber)}`);
    }
    this.revoked = next;
  }

  /** True when the certificate (DER) is listed by a CRL of its issuer. */
  isRevoked(certDer: Uint8Array, now = Date.now()): boolean {
    if (now - this.checkedAt > this.recheckMs) {
      this.checkedAt = now;
      try { this.load(); } catch { /* keep the last good list; the file may be mid-rewrite */ }
    }
    const cert = new x509.X509Certificate(certDer as Uint8Array<ArrayBuffer>);
    return this.revoked.has(`${cert.issuer}|${normalizeSerial(cert.serialNumber)}`);
  }
}
