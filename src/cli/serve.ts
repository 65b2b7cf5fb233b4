import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { parseListenAddress, type ListenAddress } from '../config/listen-address.ts';
import { LISTENER_LIMITS, startServer, type RunningServer } from '../acme/serve.ts';
import { DEFAULT_ALLOWED_NETWORKS, type ValidationOptions } from '../acme/challenges/index.ts';
import { DISTRIBUTION_DEFAULTS } from '../acme/distribution/options.ts';
import { DEFAULT_ACME_OPTIONS } from '../acme/options.ts';
import { parseCidr } from '../pki/ip.ts';
import type { CertificateAuthority } from '../pki/ca.ts';
import { DataDirLock } from '../store/data-dir-lock.ts';
import { collect, fail, openCa, withDataDir } from './common.ts';

export interface ServeCliOptions {
  listen: string; httpListen?: string; name: string[]; publicUrl?: string;
  http01Port: string; tlsalpn01Port: string; dnsResolver: string[]; validationAllow: string[];
  validationTimeout: string; eabRequired?: boolean; defaultProfile: string; tos?: string; website?: string;
  orderRetention: string;
  processingWait: string; rateOrders: string; rateRequests: string; maxValidations: string; validationQueue: string; validationsPerClient: string; distributionRate: string; ocspSignatureRate: string;
  maxConnections: string; maxConnectionsPerClient: string;
}

function port(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) fail(`${option} "${text}" is not a port number (1-65535)`);
  return n;
}

function positive(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) fail(`${option} "${text}" is not a non-negative number`);
  return n;
}

/** A token-bucket rate: 0 would refuse every request (Retry-After: Infinity), so it is not accepted. */
function rate(text: string, option: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) fail(`${option} "${text}" is not a number above 0 (a rate of 0 would refuse every request)`);
  return n;
}

function wholeNumber(text: string, option: string, min: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) fail(`${option} "${text}" is not a whole number >= ${min}`);
  return n;
}

/** Adds the serve options to a command (`serve` and `dev` share them). */
export function withServeOptions(cmd: Command, defaults: { listen: string; http01Port?: string }): Command {
  return cmd
    .option('--listen <addr:port>', 'HTTPS address of the ACME server', defaults.listen)
    .option('--http-listen <addr:port>', 'plain-HTTP address for CRL, OCSP and CA certificates (default: same address, ACME port + 1)')
    .option('--name <name>', 'extra DNS name or address for the server certificate (repeatable)', collect, [])
    .option('--public-url <url>', 'base URL clients use, when it differs from https://LISTEN (reverse proxy, DNS name)')
    .option('--http01-port <port>', 'port http-01 validation connects to', defaults.http01Port ?? '80')
    .option('--tlsalpn01-port <port>', 'port tls-alpn-01 validation connects to', '443')
    .option('--dns-resolver <addr:port>', 'DNS server for validation lookups and dns-01 (repeatable; hospital DNS, split horizon)', collect, [])
    .addOption(new Option('--validation-allow <cidr>', 'network validation may connect to (repeatable)').argParser(collect).default([], DEFAULT_ALLOWED_NETWORKS.join(', ')))
    .option('--validation-timeout <ms>', 'time budget of one validation attempt', '10000')
    .option('--eab-required', 'require External Account Binding for new accounts (keys from `wardgate eab create`)')
    .option('--default-profile <name>', 'certificate profile for orders that name none', 'dicom-node')
    .option('--tos <url>', 'terms of service URL announced in the directory')
    .option('--website <url>', 'website URL announced in the directory')
    .option('--processing-wait <ms>', 'how long finalize and challenge requests wait for background work before answering "processing"', '2000')
    .option('--order-retention <days>', 'days an order that never became valid is kept after it expires, then deleted with its authorizations', String(DEFAULT_ACME_OPTIONS.orderRetentionMs / 86_400_000))
    .option('--rate-orders <n>', 'new orders per account per minute', '3000')
    .option('--rate-requests <n>', 'requests per client address per second', '500')
    .option('--max-validations <n>', 'challenge validations connecting out at once; later ones wait in turn (still "processing")', String(DEFAULT_ACME_OPTIONS.maxConcurrentValidations))
    .option('--validation-queue <n>', 'validations that may wait for --max-validations; beyond that a challenge POST gets rateLimited and stays pending', String(DEFAULT_ACME_OPTIONS.maxQueuedValidations))
    .option('--validations-per-client <n>', 'validations one account or one client address may have running or waiting; beyond that its challenge POSTs get rateLimited (0: no cap)', String(DEFAULT_ACME_OPTIONS.maxValidationsPerOwner))
    .option('--distribution-rate <n>', 'requests per client address per second on the plain-HTTP CRL/OCSP/trust-anchor listener; over it 429, or OCSP tryLater (0: no limit; raise it for many devices behind one NAT address)', String(DISTRIBUTION_DEFAULTS.requestsPerAddressPerSecond))
    .option('--ocsp-signature-rate <n>', 'freshly signed OCSP answers (nonce requests, cache misses) per client address per second (0: no limit)', String(DISTRIBUTION_DEFAULTS.ocspSignaturesPerAddressPerSecond))
    .option('--max-connections <n>', 'open connections each listener (HTTPS, plain HTTP) accepts; more are closed unread', String(LISTENER_LIMITS.maxConnections))
    .option('--max-connections-per-client <n>', 'open connections one client address (IPv6: its /64) may hold on each listener; raise it for many devices behind one NAT address', String(LISTENER_LIMITS.maxConnectionsPerAddress));
}

/** Starts the server for parsed options; shared by `serve` and `dev`. */
export async function serveWith(ca: CertificateAuthority, o: ServeCliOptions, validation: Partial<ValidationOptions> = {}): Promise<RunningServer> {
  const listen = parseListenAddress(o.listen, '--listen');
  const httpListen: ListenAddress = o.httpListen ? parseListenAddress(o.httpListen, '--http-listen') : { host: listen.host, port: listen.port === 65535 ? 0 : listen.port + 1 };
  for (const c of o.validationAllow) {
    try { parseCidr(c); } catch { fail(`--validation-allow "${c}" is not a CIDR`); }
  }
  return startServer(ca, {
    listen, httpListen, extraNames: o.name, publicUrl: o.publicUrl,
    limits: { maxConnections: wholeNumber(o.maxConnections, '--max-connections', 1), maxConnectionsPerAddress: wholeNumber(o.maxConnectionsPerClient, '--max-connections-per-client', 1) },
    distribution: {
      requestsPerAddressPerSecond: wholeNumber(o.distributionRate, '--distribution-rate', 0),
      ocspSignaturesPerAddressPerSecond: wholeNumber(o.ocspSignatureRate, '--ocsp-signature-rate', 0),
    },
    acme: {
      externalAccountRequired: Boolean(o.eabRequired), defaultProfile: o.defaultProfile, termsOfService: o.tos, website: o.website,
      processingWaitMs: positive(o.processingWait, '--processing-wait'),
      orderRetentionMs: positive(o.orderRetention, '--order-retention') * 86_400_000,
      maxConcurrentValidations: wholeNumber(o.maxValidations, '--max-validations', 1), maxQueuedValidations: wholeNumber(o.validationQueue, '--validation-queue', 0),
      maxValidationsPerOwner: wholeNumber(o.validationsPerClient, '--validations-per-client', 0),
      rateLimits: { ordersPerAccountPerMinute: rate(o.rateOrders, '--rate-orders'), requestsPerAddressPerSecond: rate(o.rateRequests, '--rate-requests'), newAccountsPerAddressPerHour: 1000 },
      validation: {
        http01Port: port(o.http01Port, '--http01-port'), tlsAlpn01Port: port(o.tlsalpn01Port, '--tlsalpn01-port'),
        dnsResolvers: o.dnsResolver, timeoutMs: positive(o.validationTimeout, '--validation-timeout'),
        ...(o.validationAllow.length ? { allowedNetworks: o.validationAllow } : {}),
        ...validation,
      },
    },
  });
}

/** Keeps the process alive until SIGINT/SIGTERM, then closes listeners and the store cleanly and frees the data dir. */
export function closeOnSignal(server: RunningServer, ca: CertificateAuthority, lock: DataDirLock): void {
  const stop = async () => {
    await server.close();
    ca.close();
    lock.release();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

export function register(program: Command): void {
  withServeOptions(withDataDir(program.command('serve')), { listen: '127.0.0.1:14000' })
    .description('run the ACME server (HTTPS) and the CRL/OCSP/trust-anchor listener (plain HTTP)')
    .addHelpText('after', `
The server's own TLS certificate comes from the CA and is renewed automatically; clients trust
DIR/ca/root.pem. Its listen address (and --name/--public-url names) must lie inside the CA's permits.

Example:
  wardgate serve -d /var/lib/wardgate --listen 10.20.0.2:443 --name acme.klinikum.internal \\
    --dns-resolver 10.20.0.53:53 --eab-required`)
    .action(async (o) => {
      // Held for the server's lifetime: no second serve, and no init/restore/rollover under it.
      const lock = DataDirLock.acquire(resolve(o.dataDir), 'wardgate serve');
      let ca: CertificateAuthority | undefined;
      let server: RunningServer;
      try {
        ca = await openCa(o.dataDir);
        server = await serveWith(ca, o);
      } catch (err) {
        ca?.close();
        lock.release();
        throw err;
      }
      console.log(`ACME directory: ${server.directoryUrl}`);
      console.log(`CRL/OCSP/CA certificates: ${server.distributionUrl}`);
      if (ca.meta.distributionBaseUrlPinned) console.log(`issued certificates point to: ${ca.meta.distributionBaseUrl} (init --public-url)`);
      console.log(`trust anchor (root): ${ca.layout.rootCert}`);
      closeOnSignal(server, ca, lock);
    });
}
