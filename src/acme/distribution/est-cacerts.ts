import type { FastifyPluginAsync } from 'fastify';
import type { CertificateAuthority } from '../../pki/ca.ts';
import { certsOnlyCms } from '../../pki/certs-only-cms.ts';
import { splitPem } from '../../pki/pem.ts';
import { x509 } from '../../pki/x509.ts';

/** The root and every issuing intermediate that has not expired (old ones still chain older leaves). */
export function trustBundle(ca: CertificateAuthority, now = Date.now()): x509.X509Certificate[] {
  const certs = [ca.rootPem, ...ca.allIssuerPems()].flatMap((p) => splitPem(p)).map((p) => new x509.X509Certificate(p));
  return certs.filter((c) => c.notAfter.getTime() > now);
}

/**
 * RFC 7030 §4.1.3 /cacerts for devices that speak EST: a certs-only CMS SignedData, base64-encoded in the
 * body, `application/pkcs7-mime`, with the Content-Transfer-Encoding header §4.1.3 names (RFC 8951 §3.2
 * notes the header is informative; the base64 body is what clients decode). Plain HTTP is fine here: the
 * device must check the bundle against a root fingerprint it got out of band (RFC 7030 §4.1.1).
 */
export function estCacertsRoutes(ca: CertificateAuthority): FastifyPluginAsync {
  return async (app) => {
    app.get('/.well-known/est/cacerts', async (_req, reply) => {
      const der = certsOnlyCms(trustBundle(ca).map((c) => new Uint8Array(c.rawData)));
      const body = `${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n`;
      return reply
        .type('application/pkcs7-mime; smime-type=certs-only')
        .header('Content-Transfer-Encoding', 'base64')
        .header('Cache-Control', 'public, max-age=3600')
        .send(body);
    });
  };
}
