import type { FastifyInstance } from 'fastify';
import type { AcmeContext } from '../context.ts';
import { addAcmeHeaders, checkAddressLimit } from '../route.ts';

/** RFC 8555 §7.1.1 directory, with meta.profiles (draft-ietf-acme-profiles) and renewalInfo (RFC 9773 §4). */
export function directory(app: FastifyInstance, ctx: AcmeContext): void {
  app.get('/acme/directory', async (request, reply) => {
    checkAddressLimit(ctx, request);
    const { urls, options } = ctx;
    const profiles = Object.fromEntries(ctx.ca.profiles.all().map((p) => [p.name, p.description]));
    reply.header('Cache-Control', 'public, max-age=60');
    return {
      newNonce: urls.newNonce, newAccount: urls.newAccount, newOrder: urls.newOrder, revokeCert: urls.revokeCert,
      keyChange: urls.keyChange, renewalInfo: urls.renewalInfo,
      meta: {
        ...(options.termsOfService ? { termsOfService: options.termsOfService } : {}),
        ...(options.website ? { website: options.website } : {}),
        externalAccountRequired: options.externalAccountRequired,
        profiles,
      },
    };
  });
  // A nonce fetch must never be cached (§7.2); HEAD answers 200, GET 204.
  app.head('/acme/new-nonce', async (request, reply) => {
    checkAddressLimit(ctx, request);
    addAcmeHeaders(ctx, reply);
    return reply.code(200).send();
  });
  app.get('/acme/new-nonce', async (request, reply) => {
    checkAddressLimit(ctx, request);
    addAcmeHeaders(ctx, reply);
    return reply.code(204).send();
  });
}
