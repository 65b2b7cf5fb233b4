/**
 * fastify hooks that turn the wardgate ACME server into the kit's test CA without changing it: they
 * record every exchange (onRequest/onSend) and apply the fault plan (faults.ts) before a handler runs
 * (preHandler) and to successful answers (onSend).
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AcmeContext } from '../../acme/context.ts';
import { tcpSocketUnder } from '../../net/tcp-under-tls.ts';
import type { AcmeResource, RecordedRequest } from './exchange.ts';
import { faultOf, inject, rewrite } from './faults.ts';
import { recordJws } from './jws-record.ts';
import type { KitSession } from './session.ts';

const ROUTES: Record<string, AcmeResource> = {
  '/acme/directory': 'directory', '/acme/new-nonce': 'newNonce', '/acme/new-account': 'newAccount', '/acme/acct/:id': 'account',
  '/acme/acct/:id/orders': 'orders', '/acme/key-change': 'keyChange', '/acme/new-order': 'newOrder', '/acme/order/:id': 'order',
  '/acme/order/:id/finalize': 'finalize', '/acme/authz/:id': 'authorization', '/acme/chall/:id': 'challenge',
  '/acme/cert/:serial': 'certificate', '/acme/revoke-cert': 'revokeCert', '/acme/renewal-info/:certId': 'renewalInfo',
};

const PATTERNS = Object.entries(ROUTES).map(([route, resource]) => ({ re: new RegExp(`^${route.replace(/:[a-zA-Z]+/g, '([^/?]+)')}(?:\\?.*)?$`), resource }));

/**
 * The resource a request addressed: by its fastify route, or for a method the route does not serve
 * (a GET on an order, say) by the path, so misuse is still attributed. `path` is without the kit prefix.
 */
export function classify(routeUrl: string | undefined, path: string): { resource: AcmeResource; id?: string } {
  for (const p of PATTERNS) {
    const m = p.re.exec(path);
    if (m) return { resource: p.resource, ...(m[1] ? { id: m[1] } : {}) };
  }
  return { resource: ROUTES[routeUrl ?? ''] ?? 'unknown' };
}

function distributionResource(path: string): AcmeResource {
  if (path === '/.well-known/est/cacerts' || /^\/ca\/root\.(pem|der)$/.test(path)) return 'cacerts';
  if (path.startsWith('/crl/')) return 'crl';
  if (path.startsWith('/ocsp')) return 'ocsp';
  return 'unknown';
}

const arrivals = new WeakMap<FastifyRequest, number>();

function header(reply: FastifyReply, name: string): string | undefined {
  const v = reply.getHeader(name);
  return v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : String(v);
}

function parseJson(payload: unknown): Record<string, unknown> | undefined {
  if (typeof payload !== 'string' || !payload.startsWith('{')) return undefined;
  try { return JSON.parse(payload) as Record<string, unknown>; } catch { return undefined; }
}

function problemType(reply: FastifyReply, body: Record<string, unknown> | undefined): string | undefined {
  return /problem\+json/.test(header(reply, 'content-type') ?? '') && typeof body?.type === 'string' ? body.type : undefined;
}

/** Instruments the ACME listener (HTTPS). `origin` is scheme://host:port as clients address it. */
export function instrumentAcme(app: FastifyInstance, session: KitSession, ctx: AcmeContext, origin: string): void {
  app.addHook('onRequest', async (request) => { arrivals.set(request, session.now()); });
  app.addHook('preHandler', async (request) => {
    if (request.method === 'POST') inject(session, ctx, classify(request.routeOptions.url, request.url).resource, request);
  });
  app.addHook('onSend', async (request, reply, payload) => {
    const { resource, id } = classify(request.routeOptions.url, request.url);
    const group = resource === 'order' || resource === 'finalize' ? `order:${id}`
      : resource === 'authorization' ? `authz:${id}`
        : resource === 'challenge' && id ? `authz:${ctx.store.getChallenge(id)?.authzId ?? '?'}` : undefined;
    const url = `${origin}${request.originalUrl}`;
    const discovered = session.isDiscovered(url);
    let body = parseJson(payload);
    let out = payload;
    if (body && reply.statusCode < 300) {
      const changed = rewrite(session, ctx, resource, request, reply, body, url);
      if (changed) {
        body = changed;
        out = JSON.stringify(changed);
      }
    }
    const jws = request.method === 'POST' ? await recordJws(request.body) : undefined;
    const retryAfter = header(reply, 'retry-after');
    const location = header(reply, 'location');
    const entry: RecordedRequest = {
      seq: session.nextSeq(), phase: session.phase, invocation: session.invocation, at: arrivals.get(request) ?? session.now(), respondedAt: session.now(),
      listener: 'acme', method: request.method, url, resource, ...(group ? { group } : {}), discovered, ...(jws ? { jws } : {}),
      response: {
        status: reply.statusCode,
        ...(problemType(reply, body) ? { problem: problemType(reply, body) } : {}),
        ...(retryAfter !== undefined && Number.isFinite(Number(retryAfter)) ? { retryAfter: Number(retryAfter) } : {}),
        ...(header(reply, 'replay-nonce') ? { nonce: header(reply, 'replay-nonce') } : {}),
        ...(location ? { location } : {}),
        ...(typeof body?.status === 'string' && !problemType(reply, body) ? { resourceStatus: body.status } : {}),
      },
      ...(faultOf(request) ? { fault: faultOf(request) } : {}),
    };
    session.record(entry);
    if (resource === 'newOrder' && reply.statusCode === 201 && location) {
      const id = location.split('/').pop()!;
      session.orderIds.push(id);
      const ids = (jws?.payload as { identifiers?: Array<{ type: string; value: string }> } | undefined)?.identifiers;
      session.requestedIdentifiers.set(id, Array.isArray(ids) ? ids : []);
      session.orderAt.set(id, { at: entry.respondedAt, phase: session.phase });
    }
    session.reveal([typeof out === 'string' ? out : undefined, location, header(reply, 'link')], resource === 'directory' && typeof body?.renewalInfo === 'string' ? body.renewalInfo : undefined);
    return out;
  });
  app.server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    // The TLSSocket counts only application data; the TCP socket under it counts the handshake bytes,
    // which tell a hang-up after the server's certificate from one before it.
    const tcp = tcpSocketUnder(socket);
    const serverBytes = typeof tcp?.bytesWritten === 'number' ? { serverBytes: tcp.bytesWritten } : {};
    session.tlsFailure({ at: session.now(), phase: session.phase, detail: err.message, ...serverBytes });
  });
}

/** Instruments the plain-HTTP distribution listener (CRL, OCSP, trust anchors). */
export function instrumentDistribution(app: FastifyInstance, session: KitSession): void {
  app.addHook('onRequest', async (request) => { arrivals.set(request, session.now()); });
  app.addHook('onSend', async (request, reply, payload) => {
    const url = `http://${request.headers.host ?? ''}${request.originalUrl}`;
    session.record({
      seq: session.nextSeq(), phase: session.phase, invocation: session.invocation, at: arrivals.get(request) ?? session.now(), respondedAt: session.now(), listener: 'distribution',
      method: request.method, url, resource: distributionResource(request.url.split('?')[0]), discovered: session.isDiscovered(url), response: { status: reply.statusCode },
    });
    return payload;
  });
}
