import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, flattenedVerify, type JWK } from 'jose';
import type { FastifyInstance } from 'fastify';
import type { AcmeContext } from '../context.ts';
import { isWardgateError } from '../../errors.ts';
import { payloadJwkThumbprint } from '../jws.ts';
import { AcmeProblem } from '../problems.ts';
import { rateLimitKey } from '../rate-limit.ts';
import { accountJson } from '../resources.ts';
import { acmePost, payloadObject } from '../route.ts';
import type { EabKey } from '../../store/acme-types.ts';

const EAB_ALGS = ['HS256', 'HS384', 'HS512'];

/** RFC 8555 §7.3: only mailto: contacts, each one address. */
export function checkContacts(contact: unknown): string[] {
  if (contact === undefined) return [];
  if (!Array.isArray(contact)) throw new AcmeProblem('malformed', '"contact" must be an array of URLs');
  return contact.map((c) => {
    if (typeof c !== 'string') throw new AcmeProblem('malformed', '"contact" entries must be strings');
    if (!c.startsWith('mailto:')) throw new AcmeProblem('unsupportedContact', `contact ${c} is not supported: only mailto: URLs`);
    const addr = c.slice('mailto:'.length);
    if (!/^[^@\s,?]+@[^@\s,?]+\.[^@\s,?]+$/.test(addr)) throw new AcmeProblem('invalidContact', `contact ${c} is not a single valid e-mail address`);
    return c;
  });
}

/**
 * RFC 8555 §7.3.4 External Account Binding: an inner JWS, MAC'd with the EAB key (the one place a MAC
 * algorithm is allowed), whose payload is the account key and whose "url" is newAccount.
 */
async function verifyEab(ctx: AcmeContext, eab: unknown, accountJwk: JWK): Promise<EabKey> {
  if (typeof eab !== 'object' || eab === null) throw new AcmeProblem('malformed', '"externalAccountBinding" must be a JWS object');
  const jws = eab as { protected?: string; payload?: string; signature?: string };
  if (typeof jws.protected !== 'string' || typeof jws.payload !== 'string' || typeof jws.signature !== 'string') {
    throw new AcmeProblem('malformed', '"externalAccountBinding" must be a flattened JWS');
  }
  let header: { alg?: string; kid?: string; url?: string; nonce?: string };
  try {
    header = JSON.parse(Buffer.from(jws.protected, 'base64url').toString('utf8'));
  } catch {
    throw new AcmeProblem('malformed', 'externalAccountBinding protected header is not base64url JSON');
  }
  if (!header.alg || !EAB_ALGS.includes(header.alg)) throw new AcmeProblem('badSignatureAlgorithm', `externalAccountBinding "alg" must be a MAC algorithm (${EAB_ALGS.join(', ')})`, { algorithms: EAB_ALGS });
  if (header.nonce !== undefined) throw new AcmeProblem('malformed', 'externalAccountBinding must not contain a "nonce" (RFC 8555 §7.3.4)');
  if (header.url !== ctx.urls.newAccount) throw new AcmeProblem('unauthorized', 'externalAccountBinding "url" must be the newAccount URL');
  const key = typeof header.kid === 'string' ? ctx.store.getEabKey(header.kid) : undefined;
  if (!key) throw new AcmeProblem('unauthorized', `externalAccountBinding key id ${JSON.stringify(header.kid)} is unknown`);
  if (key.accountId) throw new AcmeProblem('unauthorized', `externalAccountBinding key ${key.kid} is already bound to an account`);
  let payload: Uint8Array;
  try {
    ({ payload } = await flattenedVerify(jws as { protected: string; payload: string; signature: string }, new Uint8Array(Buffer.from(key.hmacKey, 'base64url')), { algorithms: EAB_ALGS }));
  } catch {
    throw new AcmeProblem('unauthorized', 'externalAccountBinding MAC does not verify with that key');
  }
  let inner: JWK;
  try {
    inner = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    throw new AcmeProblem('malformed', 'externalAccountBinding payload is not a JWK');
  }
  if (await payloadJwkThumbprint(inner, 'externalAccountBinding payload') !== await calculateJwkThumbprint(accountJwk, 'sha256')) {
    throw new AcmeProblem('unauthorized', 'externalAccountBinding payload is not the account key of this request');
  }
  return key;
}

/** RFC 8555 §7.3 newAccount, including onlyReturnExisting (§7.3.1) and EAB (§7.3.4). */
export function newAccount(app: FastifyInstance, ctx: AcmeContext): void {
  acmePost(app, ctx, '/acme/new-account', 'jwk', async (req, _params, request) => {
    const p = payloadObject(req);
    const existing = ctx.store.getAccountByThumbprint(req.thumbprint);
    if (existing) {
      if (existing.status !== 'valid') throw new AcmeProblem('unauthorized', `the account of this key is ${existing.status}`);
      return { status: 200, location: ctx.urls.account(existing.id), body: accountJson(existing, ctx.urls) };
    }
    if (p.onlyReturnExisting === true) throw new AcmeProblem('accountDoesNotExist', 'no account exists for this key');
    const contact = checkContacts(p.contact);
    let eabKey: EabKey | undefined;
    if (p.externalAccountBinding !== undefined) eabKey = await verifyEab(ctx, p.externalAccountBinding, req.jwk!);
    else if (ctx.options.externalAccountRequired) {
      throw new AcmeProblem('externalAccountRequired', 'this CA requires External Account Binding: ask the CA admin for a key (`wardgate eab create`)');
    }
    const client = rateLimitKey(request.ip);
    const wait = ctx.limits.newAccounts.take(client);
    if (wait) throw new AcmeProblem('rateLimited', `too many new accounts from ${client}; retry after ${wait} s`, { retryAfterSeconds: wait });
    const account = {
      id: randomBytes(12).toString('base64url'), thumbprint: req.thumbprint, jwk: req.jwk as Record<string, unknown>,
      status: 'valid' as const, contact, eabKid: eabKey?.kid, createdAt: new Date().toISOString(),
    };
    try {
      ctx.store.insertAccount(account, eabKey?.kid);
    } catch (err) {
      if ((err as { code?: string }).code === 'EAB_BOUND') throw new AcmeProblem('unauthorized', `externalAccountBinding key ${eabKey?.kid} is already bound to an account`);
      if (isWardgateError(err, 'STORE_DUPLICATE')) {
        const raced = ctx.store.getAccountByThumbprint(req.thumbprint)!;
        return { status: 200, location: ctx.urls.account(raced.id), body: accountJson(raced, ctx.urls) };
      }
      throw err;
    }
    return { status: 201, location: ctx.urls.account(account.id), body: accountJson(account, ctx.urls) };
  });
}
