import { calculateJwkThumbprint, flattenedVerify, importJWK, type FlattenedJWSInput, type JWK } from 'jose';
import { createPublicKey } from 'node:crypto';
import type { AcmeAccount } from '../store/acme-types.ts';
import type { AcmeStore } from '../store/acme-store.ts';
import { AcmeProblem } from './problems.ts';
import type { NonceStore } from './nonces.ts';

/** RFC 8555 §6.2: asymmetric algorithms only; never `none`, never a MAC on the outer JWS. */
export const ALLOWED_ALGS = ['ES256', 'ES384', 'RS256', 'EdDSA'] as const;

export interface ProtectedHeader {
  alg: string;
  nonce?: string;
  url?: string;
  jwk?: JWK;
  kid?: string;
}

export interface VerifiedJws {
  header: ProtectedHeader;
  /** undefined for POST-as-GET (empty payload, §6.3). */
  payload: unknown;
  /** Set when the request was signed with `kid`. */
  account?: AcmeAccount;
  /** Set when the request carried `jwk`. */
  jwk?: JWK;
  thumbprint: string;
}

export interface JwsContext {
  nonces: NonceStore;
  store: AcmeStore;
  /** The account URL prefix, e.g. https://host/acme/acct/ (kid must be prefix + id). */
  accountUrlPrefix: string;
}

type KeyMode = 'kid' | 'jwk';

/** Step 1: a flattened JSON JWS (§6.2), nothing else. */
export function parseFlattened(body: unknown): FlattenedJWSInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new AcmeProblem('malformed', 'request body is not a JWS object');
  const b = body as Record<string, unknown>;
  if ('signatures' in b) throw new AcmeProblem('malformed', 'JWS General JSON Serialization is not allowed: use the Flattened JSON Serialization (RFC 8555 §6.2)');
  if ('header' in b) throw new AcmeProblem('malformed', 'JWS unprotected "header" is not allowed (RFC 8555 §6.2)');
  for (const f of ['protected', 'payload', 'signature'] as const) {
    if (typeof b[f] !== 'string') throw new AcmeProblem('malformed', `JWS member "${f}" is missing or not a string`);
  }
  return { protected: b.protected as string, payload: b.payload as string, signature: b.signature as string };
}

/** Step 2: decode the protected header. */
export function decodeHeader(jws: FlattenedJWSInput): ProtectedHeader {
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(jws.protected!, 'base64url').toString('utf8'));
  } catch {
    throw new AcmeProblem('malformed', 'JWS protected header is not base64url-encoded JSON');
  }
  if (typeof header !== 'object' || header === null) throw new AcmeProblem('malformed', 'JWS protected header is not a JSON object');
  return header as ProtectedHeader;
}

/** Step 3: the algorithm allow-list (§6.2). */
export function checkAlg(header: ProtectedHeader): void {
  if (!(ALLOWED_ALGS as readonly string[]).includes(header.alg)) {
    throw new AcmeProblem('badSignatureAlgorithm', `JWS "alg" ${JSON.stringify(header.alg)} is not accepted; use one of ${ALLOWED_ALGS.join(', ')}`, { algorithms: [...ALLOWED_ALGS] });
  }
}

/** Step 4: single-use nonce (§6.5). */
export function checkNonce(header: ProtectedHeader, nonces: NonceStore): void {
  if (typeof header.nonce !== 'string' || header.nonce === '') throw new AcmeProblem('badNonce', 'JWS protected header has no "nonce"');
  if (!nonces.consume(header.nonce)) throw new AcmeProblem('badNonce', 'JWS "nonce" is unknown, expired or already used; get a fresh one from the Replay-Nonce header');
}

/** Step 5: the signed "url" must be the URL the request was sent to (§6.4). */
export function checkUrl(header: ProtectedHeader, requestUrl: string): void {
  if (typeof header.url !== 'string') throw new AcmeProblem('malformed', 'JWS protected header has no "url"');
  if (header.url !== requestUrl) throw new AcmeProblem('unauthorized', `JWS "url" ${header.url} does not match the request URL ${requestUrl}`);
}

/** Step 6: exactly one of jwk and kid, and the one this resource wants (§6.2). */
export function checkKeyMode(header: ProtectedHeader, mode: KeyMode): void {
  const hasJwk = header.jwk !== undefined;
  const hasKid = header.kid !== undefined;
  if (hasJwk === hasKid) throw new AcmeProblem('malformed', 'JWS protected header must contain exactly one of "jwk" and "kid"');
  if (mode === 'jwk' && !hasJwk) throw new AcmeProblem('malformed', 'this resource must be signed with "jwk" (the account key itself), not "kid"');
  if (mode === 'kid' && !hasKid) throw new AcmeProblem('malformed', 'this resource must be signed with "kid" (the account URL), not "jwk"');
}

/** RSA account keys: what every ACME client makes, and nothing costlier to verify. */
const RSA_MIN_BITS = 2048;
const RSA_MAX_BITS = 4096;
const RSA_EXPONENT = 65537n;

/**
 * The signature of a "jwk" request is checked before any account exists, so its cost must not be the
 * sender's choice: verifying grows with the modulus and with the exponent's length (RSA-16384, or a
 * 3071-bit e on RSA-3072, cost 10-15 times an RSA-2048 check). Like Boulder's key policy: 2048-4096
 * bits, e = 65537.
 */
function checkRsaJwk(jwk: JWK): void {
  let details;
  try {
    details = createPublicKey({ key: jwk as never, format: 'jwk' }).asymmetricKeyDetails;
  } catch {
    throw new AcmeProblem('badPublicKey', 'JWS "jwk" is not a valid RSA public key');
  }
  const bits = details?.modulusLength ?? 0;
  if (bits < RSA_MIN_BITS) throw new AcmeProblem('badPublicKey', `account key RSA-${bits} is too small (at least ${RSA_MIN_BITS} bits)`);
  if (bits > RSA_MAX_BITS) throw new AcmeProblem('badPublicKey', `account key RSA-${bits} is too large (at most ${RSA_MAX_BITS} bits)`);
  const e = details?.publicExponent ?? 0n;
  if (e !== RSA_EXPONENT) {
    // A hostile exponent can be thousands of digits long: name its size, not its value.
    const got = e < 1n << 32n ? String(e) : `a ${e.toString(2).length}-bit exponent`;
    throw new AcmeProblem('badPublicKey', `account key RSA public exponent must be ${RSA_EXPONENT} (got ${got})`);
  }
}

/** Rejects private or weak keys before any verification. */
export function checkPublicJwk(jwk: JWK): void {
  if (typeof jwk !== 'object' || jwk === null) throw new AcmeProblem('malformed', 'JWS "jwk" is not a JSON object');
  if ('d' in jwk || 'p' in jwk || 'k' in jwk) throw new AcmeProblem('badPublicKey', 'JWS "jwk" must be a public key (it contains private or symmetric key material)');
  if (jwk.kty === 'RSA') {
    checkRsaJwk(jwk);
  } else if (jwk.kty === 'EC') {
    if (jwk.crv !== 'P-256' && jwk.crv !== 'P-384') throw new AcmeProblem('badPublicKey', `account key curve ${String(jwk.crv)} is not accepted (P-256 or P-384)`);
  } else if (jwk.kty === 'OKP') {
    if (jwk.crv !== 'Ed25519') throw new AcmeProblem('badPublicKey', `account key curve ${String(jwk.crv)} is not accepted (Ed25519)`);
  } else {
    throw new AcmeProblem('badPublicKey', `account key type ${String(jwk.kty)} is not accepted`);
  }
}

/**
 * Imported account keys, by key and algorithm: importing costs more than verifying, and an account
 * signs every request of an issuance with the same key. Bounded; oldest entries go first.
 */
const keyCache = new Map<string, Awaited<ReturnType<typeof importJWK>>>();
const KEY_CACHE_MAX = 10_000;

/**
 * The members that make the key (RFC 7638 §3.2), nothing else. Keyed by the whole "jwk", the cache
 * let anyone with a nonce park 64 KiB of extra members per entry before any signature was checked
 * (10,000 entries: 640 MB); the import sees only these members too, so what else a "jwk" carries
 * ("key_ops", "alg", ...) can neither change the key nor which cache entry it hits. Accounts store
 * these members too.
 */
export function keyMembers(jwk: JWK): JWK {
  if (jwk.kty === 'RSA') return { kty: jwk.kty, n: jwk.n, e: jwk.e };
  if (jwk.kty === 'EC') return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
}

async function importAccountKey(jwk: JWK, alg: string): Promise<Awaited<ReturnType<typeof importJWK>>> {
  const key = keyMembers(jwk);
  const id = `${alg} ${JSON.stringify(key)}`;
  const hit = keyCache.get(id);
  if (hit) return hit;
  let imported;
  try {
    imported = await importJWK(key, alg);
  } catch (err) {
    throw new AcmeProblem('badPublicKey', `JWS key cannot be used with ${alg}: ${(err as Error).message}`);
  }
  keyCache.set(id, imported);
  if (keyCache.size > KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value!);
  return imported;
}

/**
 * RFC 7638 thumbprint of a JWK carried in a payload (keyChange "oldKey", the EAB payload), which no JWS step
 * has vetted: one jose cannot hash (not an object, a key type without its members) is the client's error,
 * answered malformed, never an unmapped 500.
 */
export async function payloadJwkThumbprint(jwk: unknown, what: string): Promise<string> {
  try {
    return await calculateJwkThumbprint(jwk as JWK, 'sha256');
  } catch {
    throw new AcmeProblem('malformed', `${what} is not a JSON Web Key (RFC 7517)`);
  }
}

/** Characters held by the account-key cache's ids (a regression test bounds it). */
export function accountKeyCacheChars(): number {
  let n = 0;
  for (const id of keyCache.keys()) n += id.length;
  return n;
}

/** Step 8: verify the signature with jose and decode the payload (§6.3: "" means POST-as-GET). */
export async function verifySignature(jws: FlattenedJWSInput, jwk: JWK, alg: string): Promise<unknown> {
  const key = await importAccountKey(jwk, alg);
  let result;
  try {
    result = await flattenedVerify(jws, key, { algorithms: [...ALLOWED_ALGS] });
  } catch (err) {
    throw new AcmeProblem('malformed', `JWS signature does not verify: ${(err as Error).message}`);
  }
  const text = Buffer.from(result.payload).toString('utf8');
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new AcmeProblem('malformed', 'JWS payload is not JSON');
  }
}

/**
 * Every step of RFC 8555 §6.2-6.5 in order; each failure is a precise problem document.
 * `mode` says whether the resource is signed with the account URL (kid) or the key itself (jwk).
 */
export async function verifyRequest(body: unknown, requestUrl: string, mode: KeyMode, ctx: JwsContext): Promise<VerifiedJws> {
  const jws = parseFlattened(body);
  const header = decodeHeader(jws);
  checkAlg(header);
  checkNonce(header, ctx.nonces);
  checkUrl(header, requestUrl);
  checkKeyMode(header, mode);
  if (header.jwk) {
    checkPublicJwk(header.jwk);
    const payload = await verifySignature(jws, header.jwk, header.alg);
    return { header, payload, jwk: keyMembers(header.jwk), thumbprint: await calculateJwkThumbprint(header.jwk, 'sha256') };
  }
  const kid = String(header.kid);
  const id = kid.startsWith(ctx.accountUrlPrefix) ? kid.slice(ctx.accountUrlPrefix.length) : undefined;
  const account = id ? ctx.store.getAccount(id) : undefined;
  if (!account) throw new AcmeProblem('accountDoesNotExist', `no account at ${kid}`);
  if (account.status !== 'valid') throw new AcmeProblem('unauthorized', `account ${kid} is ${account.status}`);
  const payload = await verifySignature(jws, account.jwk as JWK, header.alg);
  return { header, payload, account, thumbprint: account.thumbprint };
}
