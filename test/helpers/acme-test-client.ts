/**
 * A deliberately small ACME client of our own, for what no installable client does: ARI (RFC 9773),
 * profiles (draft-ietf-acme-profiles), and hand-made broken requests for the RFC 8555 error cases.
 * It talks to a fastify app through inject() or to a real server through httpsTransport().
 */
import { CompactSign, FlattenedSign, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, type CryptoKey } from 'jose';
import type { FastifyInstance } from 'fastify';
import https from 'node:https';

export interface Response { status: number; headers: Record<string, string>; body: any; text: string } // eslint-disable-line @typescript-eslint/no-explicit-any

export type Transport = (method: string, url: string, body?: string, contentType?: string) => Promise<Response>;

export function injectTransport(app: FastifyInstance, base: string): Transport {
  return async (method, url, body, contentType = 'application/jose+json') => {
    const res = await app.inject({ method: method as 'GET', url: url.slice(base.length), payload: body, headers: body !== undefined ? { 'content-type': contentType } : {} });
    const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
    let parsed: unknown = res.body;
    try { parsed = JSON.parse(res.body); } catch { /* PEM or empty */ }
    return { status: res.statusCode, headers, body: parsed, text: res.body };
  };
}

/** Requests to a real server over HTTPS (`wardgate serve`), trusting only the test CA's root. */
export function httpsTransport(rootPem: string): Transport {
  return (method, url, body, contentType = 'application/jose+json') => new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca: rootPem, headers: body !== undefined ? { 'content-type': contentType } : {}, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* PEM or empty */ }
        const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
        resolve({ status: res.statusCode ?? 0, headers, body: parsed, text });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface AccountKey { privateKey: CryptoKey; jwk: JWK; alg: string; thumbprint: string }

export async function newAccountKey(alg: 'ES256' | 'ES384' | 'RS256' | 'EdDSA' = 'ES256'): Promise<AccountKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, alg, thumbprint: await calculateJwkThumbprint(jwk, 'sha256') };
}

export class TestAcmeClient {
  directory!: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  kid?: string;
  private nonce?: string;

  constructor(readonly send: Transport, readonly directoryUrl: string, public key: AccountKey) {}

  async init(): Promise<this> {
    this.directory = (await this.send('GET', this.directoryUrl)).body;
    return this;
  }

  async freshNonce(): Promise<string> {
    const r = await this.send('HEAD', this.directory.newNonce);
    return r.headers['replay-nonce'];
  }

  /** Signs `payload` (undefined = POST-as-GET) with overridable header fields, for error-case tests. */
  async sign(url: string, payload: unknown, opts: { useJwk?: boolean; header?: Record<string, unknown>; key?: AccountKey; nonce?: string | null } = {}): Promise<string> {
    const key = opts.key ?? this.key;
    const nonce = opts.nonce === null ? undefined : opts.nonce ?? this.nonce ?? await this.freshNonce();
    this.nonce = undefined;
    const header: Record<string, unknown> = { alg: key.alg, url, ...(nonce ? { nonce } : {}) };
    if (opts.useJwk || !this.kid) header.jwk = key.jwk; else header.kid = this.kid;
    Object.assign(header, opts.header ?? {});
    for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
    const bytes = new TextEncoder().encode(payload === undefined ? '' : JSON.stringify(payload));
    const jws = await new FlattenedSign(bytes).setProtectedHeader(header as never).sign(key.privateKey);
    return JSON.stringify(jws);
  }

  async post(url: string, payload: unknown, opts: Parameters<TestAcmeClient['sign']>[2] = {}): Promise<Response> {
    const r = await this.send('POST', url, await this.sign(url, payload, opts));
    if (r.headers['replay-nonce']) this.nonce = r.headers['replay-nonce'];
    return r;
  }

  async register(extra: Record<string, unknown> = {}): Promise<Response> {
    const r = await this.post(this.directory.newAccount, { termsOfServiceAgreed: true, contact: ['mailto:admin@klinikum.internal'], ...extra }, { useJwk: true });
    if (r.status === 201 || r.status === 200) this.kid = r.headers.location;
    return r;
  }

  /** RFC 8555 §7.3.4 EAB inner JWS: HS256 over the account JWK, url = newAccount. */
  async eab(kid: string, hmacKeyB64: string): Promise<unknown> {
    return new FlattenedSign(new TextEncoder().encode(JSON.stringify(this.key.jwk)))
      .setProtectedHeader({ alg: 'HS256', kid, url: this.directory.newAccount })
      .sign(new Uint8Array(Buffer.from(hmacKeyB64, 'base64url')));
  }

  async keyAuthorization(token: string): Promise<string> {
    return `${token}.${this.key.thumbprint}`;
  }

  async order(identifiers: { type: string; value: string }[], extra: Record<string, unknown> = {}): Promise<Response> {
    return this.post(this.directory.newOrder, { identifiers, ...extra });
  }
}

export { CompactSign };
