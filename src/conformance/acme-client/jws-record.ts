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

/** A header field as evidence text: strings (cut to 64 characters) and other primitives as they are; objects and arrays by kind, never stringified (a deeply nested array would overflow the stack). */
function fieldText(v: unknown): string {
  if (typeof v === 'string') return v.slice(0, 64);
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? '(an array)' : '(an object)';
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
 * The largest payload the kit keeps, as JSON text, and its deepest nesting. RFC 8555 payloads are
 * small, shallow objects (a CSR, a few identifiers, an EAB JWS: a few KB, four levels); a client that
 * sends more gets it noted instead of kept, so a flood of large or deeply nested bodies (the server
 * accepts up to its bodyLimit) cannot grow the record without bound, nor overflow the stack when the
 * record is cloned or serialized.
 */
export const MAX_RECORDED_PAYLOAD = 16 * 1024;
export const MAX_RECORDED_DEPTH = 32;
/** Arrays, objects and list items: a 16 KB `[[],[],...]` would otherwise hold ~200 KB of heap per request. */
export const MAX_RECORDED_VALUES = 512;

/** Deepest [ / { nesting and number of containers and list items (commas) of JSON text, counted outside strings without parsing (no recursion). */
export function jsonShape(text: string): { depth: number; values: number } {
  let depth = 0;
  let max = 0;
  let values = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      max = Math.max(max, ++depth);
      values++;
    } else if (c === 0x5d || c === 0x7d) depth--;
    else if (c === 0x2c) values++;
  }
  return { depth: max, values };
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
  let payloadOmitted: string | undefined;
  if (payloadText === '') payload = '';
  else if (payloadText !== undefined && payloadText.length > MAX_RECORDED_PAYLOAD) {
    payloadOmitted = `${payloadText.length}-character payload not kept (the kit keeps up to ${MAX_RECORDED_PAYLOAD})`;
  } else if (payloadText !== undefined) {
    const shape = jsonShape(payloadText);
    if (shape.depth > MAX_RECORDED_DEPTH) payloadOmitted = `payload nested deeper than ${MAX_RECORDED_DEPTH} levels not kept`;
    else if (shape.values > MAX_RECORDED_VALUES) payloadOmitted = `payload with more than ${MAX_RECORDED_VALUES} arrays, objects and list items not kept`;
    else {
      try { payload = JSON.parse(payloadText); } catch { payload = undefined; }
    }
  }
  const out: RecordedJws = { alg: fieldText(header.alg), payload, ...(payloadOmitted ? { payloadOmitted } : {}) };
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
    out.eab = { alg: fieldText(inner?.alg), ...(typeof inner?.kid === 'string' ? { kid: inner.kid } : {}), ...(typeof inner?.url === 'string' ? { url: inner.url } : {}) };
  }
  return out;
}
