import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { CertificateAuthority } from '../pki/ca.ts';
import type { AcmeContext } from './context.ts';
import { account } from './handlers/account.ts';
import { authorization } from './handlers/authorization.ts';
import { certificate } from './handlers/certificate.ts';
import { challenge } from './handlers/challenge.ts';
import { directory } from './handlers/directory.ts';
import { finalize } from './handlers/finalize.ts';
import { keyChange } from './handlers/key-change.ts';
import { newAccount } from './handlers/new-account.ts';
import { newOrder } from './handlers/new-order.ts';
import { order } from './handlers/order.ts';
import { renewalInfo } from './handlers/renewal-info.ts';
import { revokeCert } from './handlers/revoke-cert.ts';
import { startHousekeeping } from './housekeeping.ts';
import { resumeProcessingOrders } from './issuance.ts';
import { resumeProcessingChallenges } from './validation.ts';
import { NonceStore } from './nonces.ts';
import { DEFAULT_ACME_OPTIONS, type AcmeOptions } from './options.ts';
import { AcmeProblem, problemDocument } from './problems.ts';
import { RateLimiter } from './rate-limit.ts';
import { AcmeUrls } from './urls.ts';
import { WorkQueue } from './work-queue.ts';
import { ValidationSlots } from './validation-slots.ts';
import { DEFAULT_VALIDATION_OPTIONS } from './challenges/index.ts';

export type AcmeServerOptions = Partial<Omit<AcmeOptions, 'validation'>> & {
  baseUrl: string;
  validation?: Partial<AcmeOptions['validation']>;
  /** AcmeContext.now; Date.now unless a test winds its own clock. */
  now?: () => number;
};

export function buildAcmeContext(ca: CertificateAuthority, opts: AcmeServerOptions): AcmeContext {
  const { now = Date.now, ...tunables } = opts;
  const options: AcmeOptions = {
    ...DEFAULT_ACME_OPTIONS, ...tunables,
    rateLimits: { ...DEFAULT_ACME_OPTIONS.rateLimits, ...opts.rateLimits },
    validation: { ...DEFAULT_VALIDATION_OPTIONS, ...opts.validation },
    baseUrl: opts.baseUrl.replace(/\/$/, ''),
  };
  return {
    ca, store: ca.store.acme, nonces: new NonceStore(), urls: new AcmeUrls(options.baseUrl), options, work: new WorkQueue(), now,
    validations: new ValidationSlots(options.maxConcurrentValidations, options.maxQueuedValidations, options.maxValidationsPerOwner),
    limits: {
      orders: new RateLimiter(options.rateLimits.ordersPerAccountPerMinute, 60_000),
      requests: new RateLimiter(options.rateLimits.requestsPerAddressPerSecond, 1_000),
      newAccounts: new RateLimiter(options.rateLimits.newAccountsPerAddressPerHour, 3_600_000),
    },
  };
}

/**
 * The ACME front end as a fastify app (not listening): tests use inject() or listen on 127.x, `wardgate
 * serve` adds HTTPS. Orders a crash left `processing` are completed before the first request is served;
 * challenges it left `processing` are validated again in the background.
 */
export async function buildAcmeServer(ctx: AcmeContext, fastifyOptions: FastifyServerOptions & Record<string, unknown> = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: ctx.options.bodyLimit, ...fastifyOptions });
  // §6.2: JWS bodies come as application/jose+json; anything else is refused below with 415.
  app.addContentTypeParser('application/jose+json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(new AcmeProblem('malformed', 'request body is not valid JSON'), undefined);
    }
  });
  app.removeContentTypeParser(['application/json', 'text/plain']);

  app.setErrorHandler((err: FastifyError | AcmeProblem, _request, reply) => {
    let body: ReturnType<typeof problemDocument>;
    let status: number;
    if (err instanceof AcmeProblem) {
      body = err.toJSON();
      status = err.status;
      if (err.extra.retryAfterSeconds) reply.header('Retry-After', String(err.extra.retryAfterSeconds));
      const location = (err as AcmeProblem & { location?: string }).location;
      if (location) reply.header('Location', location);
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.statusCode === 415) {
      status = 415;
      body = problemDocument('malformed', 'Content-Type must be application/jose+json (RFC 8555 §6.2)', 415);
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413) {
      status = 413;
      body = problemDocument('malformed', `request body exceeds ${ctx.options.bodyLimit} bytes`, 413);
    } else if (err.statusCode && err.statusCode < 500) {
      status = err.statusCode;
      body = problemDocument('malformed', err.message, status);
    } else {
      status = 500;
      body = problemDocument('serverInternal', 'internal server error', 500);
      process.stderr.write(`acme: internal error: ${err.stack ?? err.message}\n`);
    }
    // Every error carries a fresh nonce so clients can retry at once (§6.5).
    reply.header('Replay-Nonce', ctx.nonces.issue());
    reply.header('Link', `<${ctx.urls.directory}>;rel="index"`);
    reply.header('Cache-Control', 'no-store');
    return reply.code(status).type('application/problem+json').send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.header('Replay-Nonce', ctx.nonces.issue());
    return reply.code(404).type('application/problem+json').send(problemDocument('malformed', `no ACME resource at ${request.method} ${request.url}`, 404));
  });

  for (const register of [directory, newAccount, account, keyChange, newOrder, order, authorization, challenge, finalize, certificate, revokeCert, renewalInfo]) {
    register(app, ctx);
  }
  await resumeProcessingOrders(ctx);
  resumeProcessingChallenges(ctx);
  // Orders that never became valid are deleted a retention period after they expire (housekeeping.ts).
  const housekeeping = startHousekeeping(ctx.store, {
    retentionMs: ctx.options.orderRetentionMs, intervalMs: ctx.options.housekeepingIntervalMs, now: ctx.now,
    // `wardgate serve` runs fastify without a logger: an admin still sees what was deleted, on stderr.
    log: fastifyOptions.logger || fastifyOptions.loggerInstance ? app.log : { info: (obj, msg) => process.stderr.write(`${new Date().toISOString()} ${msg} ${JSON.stringify(obj)}\n`) },
    onError: (err) => process.stderr.write(`acme: housekeeping failed: ${(err as Error).message}\n`),
  });
  app.addHook('onClose', async () => { await housekeeping.stop(); });
  // Waiting validations are abandoned and running ones aborted, so close() does not wait on slow peers;
  // their challenges stay `processing` and resumeProcessingChallenges validates them at the next start.
  app.addHook('onClose', async () => { ctx.validations.close(); await ctx.work.drain(); });
  return app;
}
