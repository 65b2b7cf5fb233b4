import { constants } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
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
import { type ConnectionCaps, capConnections } from '../net/connection-caps.ts';
import { refusalLog } from '../net/refusal-log.ts';
import { rotateTicketKeys } from '../net/ticket-keys.ts';
import { getTlsProfile, toTlsOptions } from '../proxy/tls-profile.ts';
import { rateLimitKey } from './rate-limit.ts';

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
  /** Connection limits of both listeners (defaults: LISTENER_LIMITS). */
  limits?: Partial<ListenerLimits>;
  /** Operator messages: refused connections (rate-limited), renewal failures. Default: stderr. */
  log?: (message: string) => void;
}

export interface ListenerLimits extends ConnectionCaps {
  /** The whole TLS handshake, however slowly its bytes arrive. */
  handshakeTimeoutMs: number;
  /** No bytes either way: closed (before the first request too, which headersTimeout does not cover). */
  idleTimeoutMs: number;
}

/**
 * Without these, Node's defaults held a connection for 120 s before its handshake finished and forever
 * after it until a request came, with no cap: one host could use up the CA's file descriptors.
 * Per address (IPv6: per /64, like the rate limits), so one client cannot take every slot.
 */
export const LISTENER_LIMITS: ListenerLimits = { maxConnections: 1000, maxConnectionsPerAddress: 100, handshakeTimeoutMs: 10_000, idleTimeoutMs: 30_000 };

/**
 * The HTTPS listener's TLS: the gateway's default profile (BCP 195, TLS 1.2+, AEAD suites only; Node's
 * defaults also offered CBC with SHA-1 and CCM_8), no renegotiation. The same for every renewed
 * certificate: setSecureContext replaces the whole context, so whatever is left out here is lost then.
 */
export function acmeTlsOptions(cert: string, key: string): tls.SecureContextOptions {
  return { ...toTlsOptions(getTlsProfile()), secureOptions: constants.SSL_OP_NO_RENEGOTIATION, cert, key };
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

  // The distribution listener first: its URL goes into every certificate issued from here on, the
  // server's own included (issued before it, a fresh CA's first server certificate had no CRL or OCSP URL).
  const limits = { ...LISTENER_LIMITS, ...opts.limits };
  const log = opts.log ?? ((m: string) => process.stderr.write(`serve: ${m}\n`));
  const distribution = await buildDistributionServer(ca, opts.distribution);
  distribution.server.setTimeout(limits.idleTimeoutMs);
  capConnections(distribution.server, limits, { key: rateLimitKey, onRefused: refusalLog(log, () => `distribution listener ${opts.httpListen.host}:${(distribution.server.address() as AddressInfo | null)?.port ?? opts.httpListen.port}`) });
  await distribution.listen({ host: opts.httpListen.host, port: opts.httpListen.port });
  const dport = (distribution.server.address() as AddressInfo).port;
  const distributionUrl = `http://${hostForUrl(opts.httpListen.host)}:${dport}`;
  ca.setDistributionBaseUrl(distributionUrl);

  let creds;
  try {
    creds = await issueServerCertificate(ca, names);
  } catch (err) {
    await distribution.close();
    if (isWardgateError(err, 'NAME_NOT_PERMITTED')) {
      throw new WardgateError('NAME_NOT_PERMITTED', `the server's own name is outside the CA's permits, so clients could not verify it: ${err.message}`);
    }
    throw err;
  }

  const baseUrl = opts.publicUrl?.replace(/\/$/, '') ?? `https://${hostForUrl(opts.listen.host)}:${opts.listen.port}`;
  const ctx = buildAcmeContext(ca, { ...opts.acme, baseUrl });
  const acme = await buildAcmeServer(ctx, {
    https: { ...acmeTlsOptions(creds.cert, creds.key), handshakeTimeout: limits.handshakeTimeoutMs },
    connectionTimeout: limits.idleTimeoutMs,
    forceCloseConnections: true,
  });
  const https = acme.server as unknown as tls.Server;
  capConnections(https, limits, { key: rateLimitKey, onRefused: refusalLog(log, `ACME listener ${opts.listen.host}:${opts.listen.port}`) });
  const stopTicketRotation = rotateTicketKeys(https);
  try {
    await acme.listen({ host: opts.listen.host, port: opts.listen.port });
  } catch (err) {
    stopTicketRotation();
    await distribution.close();
    throw new WardgateError('CLI_ARGUMENT', `cannot listen on ${opts.listen.host}:${opts.listen.port}: ${(err as Error).message}`);
  }
  const stopRenewal = keepServerCertificateFresh(ca, names, creds,
    (_secure, renewed) => https.setSecureContext(acmeTlsOptions(renewed.cert, renewed.key)),
    (err) => log(`renewing the server certificate failed: ${(err as Error).message}`));
  return {
    directoryUrl: `${baseUrl}/acme/directory`, distributionUrl, ctx, acme, distribution,
    async close() {
      stopRenewal();
      stopTicketRotation();
      await acme.close();
      await distribution.close();
    },
  };
}
