import { createHash, createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { RecordedJws } from './exchange.ts';

function b64json(text: unknown): unknown {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** SHA-256 (hex) of a public key's SubjectPublicKeyInfo DER, the identity checks compare keys by. */
export function spkiSha256(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest('hex');
}

const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/** "RSA 2048", "EC P-256", "Ed25519": the form the key checks compare against. */
export function keyDescription(type: string | undefined, details: { modulusLength?: number; namedCurve?: string }): string {
  if (type === 'rsa') return `RSA ${details.modulusLength}`;
  if (type === 'ec') return `EC ${CURVES[details.namedCurve ?? ''] ?? details.namedCurve}`;
  if (type === 'ed25519') return 'Ed25519';
  return type ?? 'unknown';
}

/** SPKI hash and a description (see keyDescription) of a public JWK; undefined if unusable. */
export function describeJwk(jwk: unknown): { spkiSha256: string; description: string } | undefined {
  try {
    const key = createPublicKey({ key: jwk as never, format: 'jwk' });
    const der = key.export({ format: 'der', type: 'spki' });
    return { spkiSha256: spkiSha256(der), description: keyDescription(key.asymmetricKeyType, key.asymmetricKeyDetails ?? {}) };
  } catch {
    return undefined;
  }
}

/**
 * What the kit keeps of a request body: the flattened JWS's protected header and payload (RFC 8555
 * §6.2), decoded without verifying (the ACME server verifies; the kit only observes). Undefined when the
 * body is not a JWS at all.
 */
export async function recordJws(body: unknown): Promise<RecordedJws | undefined> {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  const header = b64json(b.protected) as Record<string, unknown> | undefined;
  if (!header || typeof header !== 'object') return undefined;
  const payloadText = typeof b.payload === 'string' ? Buffer.from(b.payload, 'base64url').toString('utf8') : undefined;
  let payload: unknown;
  if (payloadText === '') payload = '';
  else if (payloadText !== undefined) {
    try { payload = JSON.parse(payloadText); } catch { payload = undefined; }
  }
  const out: RecordedJws = { alg: String(header.alg), payload };
  if (typeof header.kid === 'string') out.kid = header.kid;
  if (typeof header.nonce === 'string') out.nonce = header.nonce;
  if (typeof header.url === 'string') out.url = header.url;
  if (header.jwk && typeof header.jwk === 'object') {
    try { out.jwkThumbprint = await calculateJwkThumbprint(header.jwk as JWK, 'sha256'); } catch { /* judged as a bad key */ }
    const d = describeJwk(header.jwk);
    if (d) {
      out.jwkSpkiSha256 = d.spkiSha256;
      out.keyDescription = d.description;
    }
  }
  const eab = (payload as { externalAccountBinding?: { protected?: unknown } } | undefined)?.externalAccountBinding;
  if (eab && typeof eab === 'object') {
    const inner = b64json(eab.protected) as Record<string, unknown> | undefined;
    out.eab = { alg: String(inner?.alg), ...(typeof inner?.kid === 'string' ? { kid: inner.kid } : {}), ...(typeof inner?.url === 'string' ? { url: inner.url } : {}) };
  }
  return out;
}
