import type { FastifyPluginAsync } from 'fastify';
import type { CertificateAuthority } from '../../pki/ca.ts';
import { CrlCache } from './crl-cache.ts';
import { ISSUER_ID } from './options.ts';

/**
 * GET /crl/<issuerId>.crl — the issuer's complete CRL in DER (RFC 5280 §5; RFC 2585 §4.2 media type), the
 * URL every leaf carries in its CRL Distribution Points (`CertificateAuthority.distributionUrls`).
 */
export function crlRoutes(ca: CertificateAuthority, cache: CrlCache, cacheMs: number): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Params: { file: string } }>('/crl/:file', async (req, reply) => {
      const m = /^(.+)\.crl$/.exec(req.params.file);
      const id = m?.[1];
      if (!id || !ISSUER_ID.test(id) || !ca.meta.issuers.some((i) => i.id === id)) {
        return reply.code(404).type('text/plain').send(`no CRL "${req.params.file}": issuers are ${ca.meta.issuers.map((i) => `${i.id}.crl`).join(', ')}\n`);
      }
      const crl = await cache.get(id);
      return reply
        .type('application/pkix-crl')
        .header('Last-Modified', crl.thisUpdate.toUTCString())
        .header('Expires', crl.nextUpdate.toUTCString())
        // must-revalidate: past max-age a cache must not serve this CRL without asking (RFC 9111 §5.2.2.2),
        // not even while wardgate is unreachable, so a revocation reaches relying parties within max-age.
        .header('Cache-Control', `public, max-age=${Math.floor(cacheMs / 1000)}, no-transform, must-revalidate`)
        .send(Buffer.from(crl.der));
    });
  };
}
