import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { CertificateAuthority } from '../../pki/ca.ts';
import { ocspCertState, ocspErrorResponse, OcspResponder, type OcspAnswer, type OcspQuery } from '../../pki/ocsp.ts';
import { addressBudget, sharedBudget } from './address-limit.ts';
import { OcspCache } from './ocsp-cache.ts';

/** RFC 6960 Appendix A: requests are small; 10 KiB leaves room for many CertIDs and extensions. */
export const OCSP_MAX_REQUEST = 10 * 1024;

/**
 * How long an HTTP cache in front of the listener may serve a GET answer before asking again. RFC 5019
 * §6.2 only asks for less than nextUpdate; up to nextUpdate (1 hour) a cache would keep serving `good`
 * for up to an hour after a revocation the responder already answers `revoked`. 5 minutes, like a
 * CRL's max-age, bounds that (docs/acme.md, "Revocation freshness"); a cache asking again costs a
 * store read, not a signature (OcspCache).
 */
export const OCSP_HTTP_MAX_AGE_SECONDS = 300;

function send(reply: FastifyReply, answer: OcspAnswer, cacheable: boolean, now: number): FastifyReply {
  reply.type('application/ocsp-response');
  // RFC 5019 §6.2: GET answers may be cached by HTTP caches (never past nextUpdate); a nonce makes one unique.
  if (cacheable && answer.status === 'successful' && !answer.nonce && answer.nextUpdate && answer.thisUpdate) {
    const maxAge = Math.min(OCSP_HTTP_MAX_AGE_SECONDS, Math.max(0, Math.floor((answer.nextUpdate.getTime() - now) / 1000)));
    reply.header('Cache-Control', `public, max-age=${maxAge}, no-transform, must-revalidate`)
      .header('Last-Modified', answer.thisUpdate.toUTCString())
      .header('Expires', answer.nextUpdate.toUTCString());
  } else {
    reply.header('Cache-Control', 'no-store');
  }
  return reply.send(Buffer.from(answer.der));
}

/** Base64 of the DER request, URL-encoded (RFC 6960 Appendix A.1); base64url is accepted too. */
function decodeGetPath(raw: string): Uint8Array | undefined {
  let text = raw;
  try {
    if (text.includes('%')) text = decodeURIComponent(text);
  } catch {
    return undefined;
  }
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return undefined;
  return new Uint8Array(Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
}

export interface OcspRouteOptions {
  validityMs: number;
  cacheEntries: number;
  /** Signatures per client address per second (0: unlimited). */
  signaturesPerAddressPerSecond: number;
  /** Signatures per second, all addresses together, for queries naming a serial never issued (0: unlimited). */
  unknownSignaturesPerSecond: number;
  /** Signed answers kept for such queries, apart from `cacheEntries`. */
  unknownCacheEntries: number;
  now: () => number;
}

/**
 * RFC 6960 OCSP over HTTP: POST /ocsp (application/ocsp-request) and GET /ocsp/<base64 request>.
 * Every answer is an OCSPResponse with HTTP 200, errors included (malformedRequest, unauthorized ...),
 * because OCSP clients read the response status, not the HTTP status.
 *
 * Signing is what costs (RSA-2048: 1-2 ms), so answers come from `OcspCache` where the protocol allows.
 * A request with a nonce (RFC 8954; `openssl ocsp` sends one unless given -no_nonce) gets its own
 * signature with the nonce echoed while its address has signing budget left. Past the budget the nonce
 * is ignored and the cached answer served: RFC 6960 §4.4 makes support for any extension optional and
 * §2.5 allows pre-produced answers, which cannot carry one (RFC 8954 §2.1 asks a responder that does
 * echo nonces to accept 16..32 octets: we do, within the budget). openssl then prints "WARNING: no nonce
 * in response" and still verifies the answer (exit 0); a client that insists on the nonce would have
 * failed on `tryLater` anyway. A query that needs a signature when none is left gets `tryLater` (§2.3)
 * with Retry-After.
 *
 * A query naming a serial the issuer never issued is answered from a cache of its own, signed from one
 * budget shared by all clients, and never with a nonce: its answer must echo that CertID (RFC 6960
 * §4.2.1), so random serials would otherwise cost a signature each from any number of addresses, and
 * their answers would push those of real certificates out of `OcspCache`. Over the budget the answer is
 * the unsigned `unauthorized` that RFC 5019 §2.2.3 prescribes where a responder has no authoritative
 * record (RFC 6960 §2.3 adopts that meaning); within it, `unknown` as RFC 6960 §2.2 defines it.
 */
export function ocspRoutes(ca: CertificateAuthority, opts: OcspRouteOptions): FastifyPluginAsync {
  const responder = new OcspResponder(ca, { validityMs: opts.validityMs, now: opts.now });
  const cache = new OcspCache(responder, ca.store, opts.cacheEntries, opts.now);
  /** Seconds until this address may have another answer signed for it (0: now; it takes one). */
  const signatureWait = addressBudget(opts.signaturesPerAddressPerSecond, opts.now);
  const unknownCache = new OcspCache(responder, ca.store, opts.unknownCacheEntries, opts.now);
  const unknownWait = sharedBudget(opts.unknownSignaturesPerSecond, opts.now);

  const neverIssued = (query: OcspQuery) => query.serials.some((s) => ocspCertState(ca.store.getCertificate(s), query.issuerId).status === 'unknown');
  const answerNeverIssued = async (query: OcspQuery): Promise<OcspAnswer & { cached?: boolean }> => {
    const hit = unknownCache.lookup(query);
    if (hit) return { ...(await hit), cached: true };
    if (unknownWait()) return { der: ocspErrorResponse('unauthorized'), status: 'unauthorized', certificates: [], nonce: false, reason: 'a serial never issued, and the shared signing budget for those is spent' };
    return unknownCache.fill(query);
  };

  const respond = async (der: Uint8Array, ip: string): Promise<OcspAnswer & { retryAfter?: number; cached?: boolean }> => {
    const parsed = await responder.parse(der);
    if ('error' in parsed) return parsed.error;
    const query = parsed.query;
    if (neverIssued(query)) return answerNeverIssued(query);
    if (query.nonce && signatureWait(ip) === 0) return responder.sign(query);
    const hit = cache.lookup(query);
    if (hit) return { ...(await hit), cached: true };
    const wait = signatureWait(ip);
    if (wait) return { der: ocspErrorResponse('tryLater'), status: 'tryLater', certificates: [], nonce: false, reason: 'signing budget of this address spent', retryAfter: wait };
    return cache.fill(query);
  };

  return async (app) => {
    // fastify's own JSON and text parsers would read up to 1 MiB per request on this unauthenticated
    // listener; RFC 6960 A.1 requests are application/ocsp-request, so that is the only body read (in
    // this plugin's scope: the other distribution routes take no body anyway).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/ocsp-request', { parseAs: 'buffer', bodyLimit: OCSP_MAX_REQUEST }, (_req, body, done) => done(null, body));

    const answer = async (der: Uint8Array | undefined, reply: FastifyReply, cacheable: boolean) => {
      if (!der || der.length === 0) return send(reply, { der: ocspErrorResponse('malformedRequest'), status: 'malformedRequest', certificates: [], nonce: false }, false, opts.now());
      const result = await respond(der, reply.request.ip);
      reply.request.log.info({ ocsp: result.status, certificates: result.certificates, reason: result.reason, cached: result.cached }, 'ocsp');
      if (result.retryAfter) reply.header('Retry-After', String(result.retryAfter));
      return send(reply, result, cacheable, opts.now());
    };

    app.post('/ocsp', async (req, reply) => answer(Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : undefined, reply, false));
    app.get<{ Params: { '*': string } }>('/ocsp/*', async (req, reply) => {
      const raw = req.params['*'] ?? '';
      return answer(raw.length > OCSP_MAX_REQUEST * 2 ? undefined : decodeGetPath(raw), reply, true);
    });
  };
}
