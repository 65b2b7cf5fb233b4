import type { FastifyInstance } from 'fastify';
import type { AcmeContext } from '../context.ts';
import { certIdMatches, parseCertId, suggestedWindow } from '../ari.ts';
import { AcmeProblem } from '../problems.ts';
import { checkAddressLimit } from '../route.ts';

/**
 * RFC 9773 §4.2 renewalInfo: an unauthenticated GET (the one read that is not POST-as-GET), answered
 * with the suggested window and Retry-After telling the client when to ask again.
 */
export function renewalInfo(app: FastifyInstance, ctx: AcmeContext): void {
  app.get('/acme/renewal-info/:certId', async (request, reply) => {
    checkAddressLimit(ctx, request);
    const { certId } = request.params as { certId: string };
    const id = parseCertId(certId);
    const record = ctx.ca.store.getCertificate(id.serial);
    if (!record || !certIdMatches(id, record, ctx.ca.issuerKeyIdHex(record.issuerId))) throw new AcmeProblem('malformed', `no certificate with ARI certID ${certId}`, { status: 404 });
    const w = suggestedWindow(record, ctx.now());
    reply.header('Retry-After', String(ctx.options.ariRetryAfterSeconds));
    return { suggestedWindow: { start: w.start, end: w.end } };
  });
}
