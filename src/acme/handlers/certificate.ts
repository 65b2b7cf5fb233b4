import type { FastifyInstance } from 'fastify';
import type { AcmeContext } from '../context.ts';
import { AcmeProblem } from '../problems.ts';
import { acmePost, requireOwner, requirePostAsGet } from '../route.ts';

/** RFC 8555 §7.4.2 certificate download: application/pem-certificate-chain, leaf first. */
export function certificate(app: FastifyInstance, ctx: AcmeContext): void {
  acmePost(app, ctx, '/acme/cert/:serial', 'kid', async (req, params) => {
    requirePostAsGet(req);
    const record = ctx.ca.store.getCertificate(params.serial);
    if (!record) throw new AcmeProblem('malformed', `no certificate ${params.serial}`, { status: 404 });
    requireOwner(req, record.accountId, 'this certificate');
    return { body: ctx.ca.chainPemFor(record), contentType: 'application/pem-certificate-chain' };
  });
}
