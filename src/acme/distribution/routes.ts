import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify';
import type { CertificateAuthority } from '../../pki/ca.ts';
import { caCertRoutes } from './ca-certs.ts';
import { crlRoutes } from './crl.ts';
import { CrlCache } from './crl-cache.ts';
import { estCacertsRoutes } from './est-cacerts.ts';
import { addressLimitHook } from './address-limit.ts';
import { ocspRoutes } from './ocsp.ts';
import { DISTRIBUTION_DEFAULTS, type DistributionOptions } from './options.ts';

/**
 * Revocation status and trust anchors, for the plain-HTTP listener (an HTTPS distribution point would be
 * circular: checking its certificate needs the CRL it serves). Paths match `distributionUrls()` in
 * src/pki/ca.ts: /crl/<issuerId>.crl, /ocsp, /ca/<issuerId>.der; plus /ca/root.pem|der and
 * /.well-known/est/cacerts. Register without a prefix at the root of the listener whose URL is the
 * CA's `distributionBaseUrl` (a prefix would need the same path in that URL).
 */
export function distributionRoutes(ca: CertificateAuthority, opts: DistributionOptions = {}): FastifyPluginAsync {
  const now = opts.now ?? Date.now;
  const crlCacheMs = opts.crlCacheMs ?? DISTRIBUTION_DEFAULTS.crlCacheMs;
  const cache = new CrlCache(ca, opts.crlValidityHours ?? DISTRIBUTION_DEFAULTS.crlValidityHours, crlCacheMs, now);
  return async (app) => {
    // Unauthenticated by design, so limited per address (checked before any body is read or signed).
    app.addHook('onRequest', addressLimitHook(opts.requestsPerAddressPerSecond ?? DISTRIBUTION_DEFAULTS.requestsPerAddressPerSecond, now));
    await app.register(crlRoutes(ca, cache, crlCacheMs));
    await app.register(ocspRoutes(ca, {
      validityMs: opts.ocspValidityMs ?? DISTRIBUTION_DEFAULTS.ocspValidityMs,
      cacheEntries: opts.ocspCacheEntries ?? DISTRIBUTION_DEFAULTS.ocspCacheEntries,
      signaturesPerAddressPerSecond: opts.ocspSignaturesPerAddressPerSecond ?? DISTRIBUTION_DEFAULTS.ocspSignaturesPerAddressPerSecond,
      unknownSignaturesPerSecond: opts.ocspUnknownSignaturesPerSecond ?? DISTRIBUTION_DEFAULTS.ocspUnknownSignaturesPerSecond,
      unknownCacheEntries: DISTRIBUTION_DEFAULTS.ocspUnknownCacheEntries,
      now,
    }));
    await app.register(caCertRoutes(ca));
    await app.register(estCacertsRoutes(ca));
  };
}

/** A fastify instance serving only the distribution routes (call `.listen()` on it). */
export async function buildDistributionServer(ca: CertificateAuthority, opts: DistributionOptions & { fastify?: FastifyServerOptions } = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, ...opts.fastify });
  await app.register(distributionRoutes(ca, opts));
  return app;
}
