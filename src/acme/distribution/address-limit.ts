import type { FastifyReply, FastifyRequest } from 'fastify';
import { ocspErrorResponse } from '../../pki/ocsp.ts';
import { RateLimiter, rateLimitKey } from '../rate-limit.ts';

/** A per-address token bucket (IPv6 per /64, `rateLimitKey`); `perSecond` 0 admits everything. */
export function addressBudget(perSecond: number, now: () => number): (ip: string) => number {
  if (perSecond <= 0) return () => 0;
  const limiter = new RateLimiter(perSecond, 1_000);
  return (ip) => limiter.take(rateLimitKey(ip), now());
}

/** One token bucket shared by every client (`perSecond` 0 admits everything): for work no address may take alone. */
export function sharedBudget(perSecond: number, now: () => number): () => number {
  if (perSecond <= 0) return () => 0;
  const limiter = new RateLimiter(perSecond, 1_000);
  return () => limiter.take('all', now());
}

/** The answer once an address is over its budget: an OCSP `tryLater` for OCSP paths, else 429. */
export function sendOverLimit(req: FastifyRequest, reply: FastifyReply, retryAfterSeconds: number): FastifyReply {
  reply.header('Retry-After', String(retryAfterSeconds)).header('Cache-Control', 'no-store');
  // RFC 6960 §2.3 tryLater, unsigned and with HTTP 200 like every other OCSP error of this listener:
  // OCSP clients read the response status (openssl prints "Responder Error: trylater (3)"), while a
  // 429 would only tell them the HTTP exchange failed.
  if (req.routeOptions.url?.startsWith('/ocsp')) {
    return reply.code(200).type('application/ocsp-response').send(Buffer.from(ocspErrorResponse('tryLater')));
  }
  return reply.code(429).type('text/plain').send(`too many requests from ${rateLimitKey(req.ip)}; retry after ${retryAfterSeconds} s\n`);
}

/**
 * onRequest hook for the unauthenticated plain-HTTP listener: one address looping requests must not
 * take the event loop the ACME server shares. Runs before any body is read.
 */
export function addressLimitHook(perSecond: number, now: () => number) {
  const take = addressBudget(perSecond, now);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const wait = take(req.ip);
    if (wait) return sendOverLimit(req, reply, wait);
  };
}
