import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AcmeContext } from './context.ts';
import { verifyRequest, type VerifiedJws } from './jws.ts';
import { AcmeProblem } from './problems.ts';
import { rateLimitKey } from './rate-limit.ts';

export interface AcmeReply { status?: number; body?: unknown; location?: string; headers?: Record<string, string>; contentType?: string }
export type AcmeHandler = (req: VerifiedJws, params: Record<string, string>, request: FastifyRequest) => Promise<AcmeReply>;

/**
 * Full URL of a request as the client addressed it, query included (what the JWS "url" must equal, §6.4): a
 * client following the orders list's rel="next" link signs that URL, `?cursor=` and all.
 */
export function requestUrl(ctx: AcmeContext, request: FastifyRequest): string {
  return ctx.options.baseUrl + request.url;
}

/** Headers every ACME response carries: a fresh nonce (§6.5) and the directory link (§7.1). */
export function addAcmeHeaders(ctx: AcmeContext, reply: FastifyReply): void {
  reply.header('Replay-Nonce', ctx.nonces.issue());
  reply.header('Cache-Control', 'no-store');
  reply.header('Link', `<${ctx.urls.directory}>;rel="index"`);
}

/** Per-address request limit, checked before any JWS work. */
export function checkAddressLimit(ctx: AcmeContext, request: FastifyRequest): void {
  const key = rateLimitKey(request.ip);
  const wait = ctx.limits.requests.take(key);
  if (wait) throw new AcmeProblem('rateLimited', `too many requests from ${key}; retry after ${wait} s`, { retryAfterSeconds: wait });
}

/** Registers a JWS-authenticated POST resource: verification steps first, then the handler. */
export function acmePost(app: FastifyInstance, ctx: AcmeContext, path: string, mode: 'kid' | 'jwk', handler: AcmeHandler): void {
  app.post(path, async (request, reply) => {
    checkAddressLimit(ctx, request);
    const verified = await verifyRequest(request.body, requestUrl(ctx, request), mode, {
      nonces: ctx.nonces, store: ctx.store, accountUrlPrefix: ctx.urls.accountPrefix,
    });
    const out = await handler(verified, request.params as Record<string, string>, request);
    addAcmeHeaders(ctx, reply);
    if (out.location) reply.header('Location', out.location);
    for (const [k, v] of Object.entries(out.headers ?? {})) reply.header(k, v);
    reply.code(out.status ?? 200);
    if (out.contentType) reply.type(out.contentType);
    return reply.send(out.body ?? '');
  });
}

/** POST-as-GET (§6.3): reads have an empty payload. */
export function requirePostAsGet(req: VerifiedJws): void {
  if (req.payload !== undefined) throw new AcmeProblem('malformed', 'this resource is read with POST-as-GET: the JWS payload must be empty (RFC 8555 §6.3)');
}

/** The account signing the request must own the resource. */
export function requireOwner(req: VerifiedJws, ownerAccountId: string | undefined, what: string): void {
  if (!req.account || req.account.id !== ownerAccountId) throw new AcmeProblem('unauthorized', `${what} belongs to another account`);
}

export function payloadObject(req: VerifiedJws): Record<string, unknown> {
  if (typeof req.payload !== 'object' || req.payload === null || Array.isArray(req.payload)) throw new AcmeProblem('malformed', 'JWS payload must be a JSON object');
  return req.payload as Record<string, unknown>;
}
