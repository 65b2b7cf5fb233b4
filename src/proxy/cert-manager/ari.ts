/**
 * ACME Renewal Information (RFC 9773): the CA tells the client when to renew each certificate.
 * The directory's `renewalInfo` URL plus the certificate's CertID (§4.1) is fetched unauthenticated.
 */
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import { x509 } from '../../pki/x509.ts';
import type { Window } from './renewal.ts';

/**
 * RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(DER serial number content octets).
 * Node's X509Certificate gives the serial as hex without the DER sign octet, so it is taken from the
 * parsed certificate instead.
 */
export function ariCertId(certPem: string): string {
  const cert = new x509.X509Certificate(certPem);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (!aki?.keyId) throw new Error('certificate has no Authority Key Identifier: ARI cannot name it');
  const serialHex = cert.serialNumber;
  let serial = Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, 'hex');
  // DER INTEGER content: a leading 0x00 when the high bit is set (RFC 9773 §4.1 uses the DER octets).
  if (serial[0] & 0x80) serial = Buffer.concat([Buffer.from([0]), serial]);
  return `${Buffer.from(aki.keyId, 'hex').toString('base64url')}.${serial.toString('base64url')}`;
}

export function ariCertIdFromParts(akiKeyIdHex: string, serialDerHex: string): string {
  return `${Buffer.from(akiKeyIdHex, 'hex').toString('base64url')}.${Buffer.from(serialDerHex, 'hex').toString('base64url')}`;
}

/** ARI and directory objects are a few hundred bytes; more is a broken or hostile CA. */
const MAX_BODY_BYTES = 64 * 1024;

/** `timeoutMs` bounds the whole exchange: a socket idle timeout alone lets a CA drip bytes forever. */
export function getJson(url: string, ca: string | undefined, timeoutMs: number): Promise<{ status: number; body: unknown; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_BODY_BYTES) req.destroy(new Error(`answer from ${url} is larger than ${MAX_BODY_BYTES} bytes`));
        else chunks.push(d);
      });
      res.on('error', reject);
      res.on('end', () => {
        try {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined, retryAfter: res.headers['retry-after'] });
        } catch (err) {
          reject(err);
        }
      });
    });
    const deadline = setTimeout(() => req.destroy(new Error(`no complete answer from ${url} within ${timeoutMs} ms`)), timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export interface RenewalInfo {
  /** The suggested window; undefined when the CA has no ARI, does not answer, or answers nonsense. */
  window?: Window;
  /** The CA's Retry-After (RFC 9773 §4.3): when to ask again. */
  retryAfterMs?: number;
}

/** Retry-After as delta-seconds or an HTTP-date (RFC 9110 §10.2.3), in milliseconds from now. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The certificate's renewal information from the CA (fall back to 1/3 lifetime when there is no window). */
export async function fetchRenewalInfo(directoryUrl: string, certPem: string, ca?: string, timeoutMs = 10_000): Promise<RenewalInfo> {
  try {
    const dir = await getJson(directoryUrl, ca, timeoutMs);
    const base = (dir.body as { renewalInfo?: string } | undefined)?.renewalInfo;
    if (!base) return {};
    const info = await getJson(`${base.replace(/\/$/, '')}/${ariCertId(certPem)}`, ca, timeoutMs);
    const retryAfterMs = parseRetryAfter(info.retryAfter);
    const w = (info.body as { suggestedWindow?: { start?: string; end?: string } } | undefined)?.suggestedWindow;
    if (info.status !== 200 || !w?.start || !w.end) return { retryAfterMs };
    const start = new Date(w.start);
    const end = new Date(w.end);
    return Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) ? { retryAfterMs } : { window: { start, end }, retryAfterMs };
  } catch {
    return {};
  }
}

export function certValidity(certPem: string): { notBefore: Date; notAfter: Date; serial: string } {
  const c = new X509Certificate(certPem);
  return { notBefore: new Date(c.validFrom), notAfter: new Date(c.validTo), serial: c.serialNumber };
}
