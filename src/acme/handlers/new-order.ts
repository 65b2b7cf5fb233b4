import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { isWardgateError } from '../../errors.ts';
import { assertPermitted, dnsWithin } from '../../pki/name-constraints.ts';
import { cidrContains, parseCidr } from '../../pki/ip.ts';
import { normalizeIdentifier } from '../../pki/names.ts';
import type { AcmeAuthz, AcmeChallenge, AcmeIdentifier, AcmeOrder, EabKey } from '../../store/acme-types.ts';
import { canonicalCertId, certIdMatches, parseCertId } from '../ari.ts';
import { challengeTypesFor } from '../challenges/index.ts';
import type { AcmeContext } from '../context.ts';
import { AcmeProblem, type Subproblem } from '../problems.ts';
import { orderJson } from '../resources.ts';
import { acmePost, payloadObject } from '../route.ts';

const newId = () => randomBytes(12).toString('base64url');

/** Syntax of one identifier (§7.1.4, RFC 8738 §3); no wildcards at this CA. */
function parseIdentifier(raw: unknown): AcmeIdentifier {
  if (typeof raw !== 'object' || raw === null) throw new AcmeProblem('malformed', 'each identifier must be an object {type, value}');
  const { type, value } = raw as { type?: unknown; value?: unknown };
  if (type !== 'dns' && type !== 'ip') throw new AcmeProblem('unsupportedIdentifier', `identifier type ${JSON.stringify(type)} is not supported (dns, ip)`);
  if (typeof value !== 'string') throw new AcmeProblem('malformed', 'identifier "value" must be a string');
  if (type === 'dns' && value.startsWith('*.')) throw new AcmeProblem('rejectedIdentifier', `wildcard ${value} is not issued by this CA: name each device`);
  try {
    return normalizeIdentifier({ type, value });
  } catch (err) {
    throw new AcmeProblem(type === 'ip' ? 'malformed' : 'rejectedIdentifier', isWardgateError(err) ? err.message : `invalid ${type} identifier ${value}`);
  }
}

/** An account bound to an EAB key with allow-lists may order only those names (flat hospital LANs). */
function boundTo(key: EabKey, id: AcmeIdentifier): boolean {
  if (id.type === 'dns') {
    if (key.allowDns.length === 0) return key.allowIp.length === 0;
    return key.allowDns.some((a) => (a.startsWith('.') ? dnsWithin(id.value, a.slice(1)) && id.value !== a.slice(1) : id.value === a));
  }
  if (key.allowIp.length === 0) return key.allowDns.length === 0;
  return key.allowIp.some((c) => cidrContains(parseCidr(c), id.value));
}

/** RFC 8555 §7.4 newOrder, with `profile` (draft-ietf-acme-profiles) and `replaces` (RFC 9773 §5). */
export function newOrder(app: FastifyInstance, ctx: AcmeContext): void {
  acmePost(app, ctx, '/acme/new-order', 'kid', async (req) => {
    const acct = req.account!;
    const wait = ctx.limits.orders.take(acct.id);
    if (wait) throw new AcmeProblem('rateLimited', `account ${acct.id} created too many orders; retry after ${wait} s`, { retryAfterSeconds: wait });
    const p = payloadObject(req);
    if (!Array.isArray(p.identifiers) || p.identifiers.length === 0) throw new AcmeProblem('malformed', '"identifiers" must be a non-empty array');
    if (p.notBefore !== undefined || p.notAfter !== undefined) {
      throw new AcmeProblem('malformed', 'notBefore/notAfter are not supported: the certificate profile sets the validity period');
    }
    const profileName = p.profile === undefined ? ctx.options.defaultProfile : p.profile;
    if (typeof profileName !== 'string' || !ctx.ca.profiles.names().includes(profileName)) {
      throw new AcmeProblem('invalidProfile', `unknown profile ${JSON.stringify(profileName)} (offered: ${ctx.ca.profiles.names().join(', ')})`);
    }
    const profile = ctx.ca.profiles.get(profileName);

    const identifiers: AcmeIdentifier[] = [];
    for (const raw of p.identifiers) {
      const id = parseIdentifier(raw);
      if (!identifiers.some((i) => i.type === id.type && i.value === id.value)) identifiers.push(id);
    }
    if (identifiers.length > profile.maxNames) throw new AcmeProblem('rejectedIdentifier', `profile ${profile.name} allows at most ${profile.maxNames} identifiers`);
    const eab = acct.eabKid ? ctx.store.getEabKey(acct.eabKid) : undefined;
    const refused: Subproblem[] = [];
    for (const id of identifiers) {
      try {
        if (!profile.identifierTypes.includes(id.type)) throw new AcmeProblem('rejectedIdentifier', `profile ${profile.name} does not certify ${id.type} identifiers`);
        assertPermitted(id, ctx.ca.meta.policy);
        if (eab && !boundTo(eab, id)) throw new AcmeProblem('rejectedIdentifier', `${id.value} is not among the names bound to this account's key ${eab.kid}`);
      } catch (err) {
        refused.push({ type: 'rejectedIdentifier', detail: (err as Error).message, identifier: id });
      }
    }
    if (refused.length) {
      throw new AcmeProblem('rejectedIdentifier', refused.length === 1 ? refused[0].detail : `${refused.length} identifiers are refused by this CA's policy`, { subproblems: refused });
    }

    let replaces: string | undefined;
    if (p.replaces !== undefined) {
      if (typeof p.replaces !== 'string') throw new AcmeProblem('malformed', '"replaces" must be an ARI certID string');
      const replaced = parseCertId(p.replaces);
      const old = ctx.ca.store.getCertificate(replaced.serial);
      if (!old || !certIdMatches(replaced, old, ctx.ca.issuerKeyIdHex(old.issuerId))) throw new AcmeProblem('malformed', `"replaces" names no certificate issued by this CA (${p.replaces})`);
      if (old.accountId !== acct.id) throw new AcmeProblem('unauthorized', '"replaces" names a certificate of another account');
      if (!identifiers.some((i) => old.names.includes(i.value))) throw new AcmeProblem('malformed', '"replaces" names a certificate that shares no identifier with this order (RFC 9773 §5)');
      // RFC 9773 §5 "already replaced" is a unique index on this string: store the one spelling of the certID.
      replaces = canonicalCertId(replaced);
    }

    const now = new Date(ctx.now());
    const expires = new Date(now.getTime() + ctx.options.orderLifetimeMs).toISOString();
    const orderId = newId();
    const authzs: AcmeAuthz[] = [];
    const challenges: AcmeChallenge[] = [];
    for (const identifier of identifiers) {
      const authz: AcmeAuthz = { id: newId(), accountId: acct.id, orderId, identifier, status: 'pending', expires };
      authzs.push(authz);
      for (const type of challengeTypesFor(identifier)) {
        challenges.push({ id: newId(), authzId: authz.id, type, token: randomBytes(32).toString('base64url'), status: 'pending' });
      }
    }
    const order: AcmeOrder = {
      id: orderId, accountId: acct.id, status: 'pending', identifiers, profile: profile.name, authzIds: authzs.map((a) => a.id),
      expires, replaces, createdAt: now.toISOString(), updatedAt: now.toISOString(),
    };
    try {
      // RFC 9773 §5: refused when the certificate "has already been marked as replaced by a different Order
      // that is not invalid": a live (pending, ready, processing) or valid one. One that expired unfinished is
      // invalid (RFC 8555 §7.1.6) and no longer holds the certificate (AcmeStore.insertOrder).
      ctx.store.insertOrder(order, authzs, challenges);
    } catch (err) {
      if (isWardgateError(err, 'STORE_DUPLICATE') && replaces) {
        throw new AcmeProblem('alreadyReplaced', `the certificate ${replaces} is already being replaced by another order`);
      }
      throw err;
    }
    return { status: 201, location: ctx.urls.order(orderId), body: orderJson(order, ctx.urls) };
  });
}
