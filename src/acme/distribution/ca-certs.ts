import type { FastifyPluginAsync } from 'fastify';
import type { CertificateAuthority } from '../../pki/ca.ts';
import { x509 } from '../../pki/x509.ts';
import { ISSUER_ID } from './options.ts';

/**
 * Trust anchors and issuers for download: GET /ca/root.pem, /ca/root.der and /ca/<issuerId>.der|.pem.
 * The .der form is the caIssuers URL of the AIA extension (RFC 5280 §4.2.2.1: a DER certificate served
 * as application/pkix-cert, RFC 2585 §4.1), so clients can fetch a missing intermediate.
 */
export function caCertRoutes(ca: CertificateAuthority): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Params: { file: string } }>('/ca/:file', async (req, reply) => {
      const m = /^(.+)\.(der|pem)$/.exec(req.params.file);
      const id = m?.[1];
      const known = id === 'root' || (id !== undefined && ISSUER_ID.test(id) && ca.meta.issuers.some((i) => i.id === id));
      if (!m || !known) {
        return reply.code(404).type('text/plain').send(`no certificate "${req.params.file}": try root.pem, root.der or ${ca.meta.issuers.map((i) => `${i.id}.der`).join(', ')}\n`);
      }
      const pem = id === 'root' ? ca.rootPem : ca.issuerPem(id!);
      reply.header('Cache-Control', 'public, max-age=3600');
      if (m[2] === 'pem') return reply.type('application/x-pem-file').send(pem);
      return reply.type('application/pkix-cert').send(Buffer.from(new x509.X509Certificate(pem).rawData));
    });
  };
}
