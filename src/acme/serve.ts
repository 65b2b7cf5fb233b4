import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { WardgateError, isWardgateError } from '../errors.ts';
import type { CertificateAuthority } from '../pki/ca.ts';
import { identifierFromText, type Identifier } from '../pki/names.ts';
import { hostForUrl, type ListenAddress } from '../config/listen-address.ts';
import { buildAcmeContext, buildAcmeServer, type AcmeServerOptions } from './server.ts';
import { issueServerCertificate, keepServerCertificateFresh } from './server-certificate.ts';
import { buildDistributionServer } from './distribution/index.ts';
import type { DistributionOptions } from './distribution/options.ts';
import type { AcmeContext } from './context.ts';

export interface ServeOptions {
  listen: ListenAddress;
  /** Plain-HTTP listener for CRL, OCSP and trust anchors; port 0 picks a free one. */
  httpListen: ListenAddress;
  /** Names (besides the listen address) the server certificate carries, e.g. the DNS name clients use. */
  extraNames?: string[];
  publicUrl?: string;
  acme: Omit<AcmeServerOptions, 'baseUrl'>;
  /** Limits and caches of the plain-HTTP listener (defaults: DISTRIBUTION_DEFAULTS). */
  distribution?: DistributionOptions;
}

export interface RunningServer {
  directoryUrl: string;
  distributionUrl: string;
  ctx: AcmeContext;
  acme: FastifyInstance;
  distribution: FastifyInstance;
  close(): Promise<void>;
}

/**
 * Starts what `wardgate serve` runs: ACME over HTTPS with a certificate from the CA itself (renewed
 * automatically), and the plain-HTTP distribution listener whose URLs go into issued certificates.
 */
export async function startServer(ca: CertificateAuthority, opts: ServeOptions): Promise<RunningServer> {
  const names: Identifier[] = [];
  const addName = (text: string) => {
    const id = identifierFromText(text);
    if (!names.some((n) => n.type === id.type && n.value === id.value)) names.push(id);
  };
  if (opts.listen.host !== '0.0.0.0' && opts.listen.host !== '::') addName(opts.listen.host);
  for (const n of opts.extraNames ?? []) addName(n);
  if (opts.publicUrl) addName(new URL(opts.publicUrl).hostname.replace(/^\[|\]$/g, ''));
  if (names.length === 0) throw new WardgateError('CLI_ARGUMENT', 'listening on a wildcard address: give --name with the DNS name or address clients use');

  let creds;
  try {
    creds = await issueServerCertificate(ca, names);
  } catch (err) {
    if (isWardgateError(err, 'NAME_NOT_PERMITTED')) {
      throw new WardgateError('NAME_NOT_PERMITTED', `the server's own name is outside the CA's permits, so clients could not verify it: ${err.message}`);
    }
    throw err;
  }

  const distribution = await buildDistributionServer(ca, opts.distribution);
  await distribution.listen({ host: opts.httpListen.host, port: opts.httpListen.port });
  const dport = (distribution.server.address() as AddressInfo).port;
  const distributionUrl = `http://${hostForUrl(opts.httpListen.host)}:${dport}`;
  ca.setDistributionBaseUrl(distributionUrl);

  const baseUrl = opts.publicUrl?.replace(/\/$/, '') ?? `https://${hostForUrl(opts.listen.host)}:${opts.listen.port}`;
  const ctx = buildAcmeContext(ca, { ...opts.acme, baseUrl });
  const acme = await buildAcmeServer(ctx, {
    https: { cert: creds.cert, key: creds.key, minVersion: 'TLSv1.2' },
    forceCloseConnections: true,
  });
  try {
    await acme.listen({ host: opts.listen.host, port: opts.listen.port });
  } catch (err) {
    await distribution.close();
    throw new WardgateError('CLI_ARGUMENT', `cannot listen on ${opts.listen.host}:${opts.listen.port}: ${(err as Error).message}`);
  }
  const stopRenewal = keepServerCertificateFresh(ca, names, creds,
    (secure) => (acme.server as unknown as import('node:tls').Server).setSecureContext({ ...secure, minVersion: 'TLSv1.2' }),
    (err) => process.stderr.write(`serve: renewing the server certificate failed: ${(err as Error).message}\n`));
  return {
    directoryUrl: `${baseUrl}/acme/directory`, distributionUrl, ctx, acme, distribution,
    async close() {
      stopRenewal();
      await acme.close();
      await distribution.close();
    },
  };
}
