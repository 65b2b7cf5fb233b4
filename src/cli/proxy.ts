/**
 * `wardgate proxy`: run the TLS gateway. One route from flags (inbound|outbound), or many from a
 * config file (--config). Parses arguments, builds the config, runs src/proxy's Gateway in the foreground.
 */
import { type Command, Option } from 'commander';
import { Gateway } from '../proxy/gateway.ts';
import { type AllowRule, type GatewayConfig, loadGatewayConfig, validateGatewayConfig } from '../proxy/route-config.ts';
import cluster from 'node:cluster';
import { startAcmeRoutes } from '../proxy/cert-manager/acme-routes.ts';
import { runWorker, startPrimary } from '../proxy/workers.ts';
import { collect, fail } from './common.ts';

interface RouteFlags {
  protocol: string;
  listen: string;
  upstream: string;
  cert: string[];
  key: string[];
  ca: string;
  crl?: string;
  clientAuth?: string;
  profile: string;
  routeName?: string;
  serverName?: string;
  allowCallingAe: string[];
  allowCalledAe: string[];
  allowPeer: string[];
  allowPeerAddress: string[];
  allowSendingApp: string[];
  allowSendingFacility: string[];
  allowMessageType: string[];
  hl7DefaultCharset?: string;
  acme?: string;
  name: string[];
  acmeCa?: string;
  acmeState?: string;
  acmeEmail?: string;
  http01Listen?: string;
  auditFile?: string;
  metrics?: string;
  metricsTokenFile?: string;
  workers?: string;
}

/** Build a one-route gateway config from the flags; the schema then checks it like a file would be. */
export function configFromFlags(direction: 'inbound' | 'outbound', o: RouteFlags): GatewayConfig {
  if (o.acme && o.cert.length > 0) fail('--acme and --cert are exclusive: the certificate comes from the ACME server');
  if (!o.acme && o.cert.length === 0) fail('give --cert PEM --key PEM (repeat the pair to present an ECDSA and an RSA certificate), or --acme URL --name DNS');
  if (o.acme && o.name.length === 0) fail('--acme needs at least one --name DNS');
  if (o.cert.length !== o.key.length) fail(`give one --key per --cert (${o.cert.length} --cert, ${o.key.length} --key)`);
  // The flags make one rule: every condition given must hold (the config file can list several rules).
  const conditions: Array<[keyof AllowRule, string[]]> = [
    ['peerSans', o.allowPeer], ['peerAddresses', o.allowPeerAddress], ['callingAeTitles', o.allowCallingAe], ['calledAeTitles', o.allowCalledAe],
    ['sendingApplications', o.allowSendingApp], ['sendingFacilities', o.allowSendingFacility], ['messageTypes', o.allowMessageType],
  ];
  const rule: AllowRule = Object.fromEntries(conditions.filter(([, values]) => values.length > 0));
  const allow = Object.keys(rule).length > 0 ? [rule] : [];
  const route = {
    name: o.routeName ?? `${direction}-${o.protocol}-${o.listen.replace(/[^A-Za-z0-9]+/g, '-')}`,
    direction,
    protocol: o.protocol,
    listen: o.listen,
    upstream: o.upstream,
    tls: {
      ...(o.cert.length > 0 ? { cert: o.cert, key: o.key } : {}),
      ca: o.ca,
      ...(o.crl ? { crl: o.crl } : {}),
      profile: o.profile,
      ...(o.clientAuth ? { clientAuth: o.clientAuth } : {}),
      ...(o.serverName ? { serverName: o.serverName } : {}),
      ...(o.acme ? { acme: { directory: o.acme, names: o.name, ...(o.acmeCa ? { directoryCa: o.acmeCa } : {}), ...(o.acmeState ? { stateDir: o.acmeState } : {}), ...(o.acmeEmail ? { email: o.acmeEmail } : {}), ...(o.http01Listen ? { http01Listen: o.http01Listen } : {}) } } : {}),
    },
    ...(allow.length > 0 ? { allow } : {}),
    ...(o.hl7DefaultCharset ? { hl7: { defaultCharset: o.hl7DefaultCharset } } : {}),
  };
  const config: Record<string, unknown> = { routes: [route] };
  if (o.auditFile) config.audit = { file: o.auditFile };
  if (o.metrics) config.metrics = { listen: o.metrics, ...(o.metricsTokenFile ? { tokenFile: o.metricsTokenFile } : {}) };
  return validateGatewayConfig(config, 'command line');
}

/**
 * Resolves on SIGINT/SIGTERM. SIGHUP (logrotate's postrotate convention) calls `onHangup` instead of
 * ending the process, Node's default for it.
 */
function waitForSignal(onHangup: () => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGHUP', onHangup);
      resolve();
    };
    process.on('SIGHUP', onHangup);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

function parseWorkers(text: string | undefined): number {
  if (text === undefined) return 1;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 64) fail(`--workers must be an integer in 1..64, got "${text}"`);
  return n;
}

/**
 * Run until SIGINT/SIGTERM; stops routes cleanly (Application Stop audit records) before exiting.
 * With workers > 1 this process becomes the primary of src/proxy/workers.ts; a forked worker re-enters
 * here (same argv) and takes its config from the primary instead.
 */
export async function runGateway(config: GatewayConfig, workers = 1): Promise<void> {
  if (cluster.isWorker && process.env.WARDGATE_WORKER) {
    // The primary handles signals and tells workers to stop (or reopen audit files); a lost primary
    // means stop too.
    process.on('SIGINT', () => undefined);
    process.on('SIGTERM', () => undefined);
    process.on('SIGHUP', () => undefined);
    process.once('disconnect', () => process.exit(0));
    await runWorker();
    process.disconnect?.();
    return;
  }
  if (workers > 1) {
    const primary = await startPrimary(config, workers, (m) => process.stderr.write(`${new Date().toISOString()} ${m}\n`));
    for (const line of primary.lines) process.stdout.write(`wardgate proxy: ${line} (${workers} workers)\n`);
    await waitForSignal(() => primary.reopenAuditFiles());
    await primary.stop();
    return;
  }
  const acme = await startAcmeRoutes(config, (m) => process.stderr.write(`${new Date().toISOString()} ${m}\n`));
  const gateway = new Gateway(config, { credentials: acme.credentials });
  try {
    await gateway.start();
  } catch (err) {
    await acme.stop();
    throw err;
  }
  acme.attach(gateway);
  for (const route of gateway.routes) {
    const at = route.address();
    process.stdout.write(`wardgate proxy: route ${route.config.name} ${route.config.direction} ${route.config.protocol} on ${at.host}:${at.port} -> ${route.config.upstream}\n`);
  }
  await waitForSignal(() => gateway.auditor.reopen());
  await acme.stop();
  await gateway.stop();
}

function routeCommand(proxy: Command, direction: 'inbound' | 'outbound'): void {
  const what = direction === 'inbound'
    ? 'TLS listener in front of a plaintext SCP/receiver (clients must present a certificate unless --client-auth says otherwise)'
    : 'plaintext listener for a legacy SCU/sender, connecting out with TLS (verifies the upstream, presents our certificate)';
  proxy.command(direction)
    .description(`run one ${direction} route: ${what}`)
    .addOption(new Option('--protocol <protocol>', 'application protocol on the route').choices(['dicom', 'hl7']).makeOptionMandatory())
    .requiredOption('--listen <addr:port>', 'address to listen on')
    .requiredOption('--upstream <addr:port>', 'address to forward to')
    .option('--cert <pem>', 'certificate chain (PEM); repeat with a second --key to present ECDSA and RSA side by side', collect, [])
    .option('--key <pem>', 'private key (PEM) of the preceding --cert', collect, [])
    .requiredOption('--ca <pem>', 'trust bundle (PEM) for peers')
    .option('--crl <file>', 'CRL (PEM or DER, e.g. fetched from the CA\'s /crl/<issuer>.crl) of revoked peer certificates (inbound: clients, outbound: the upstream)')
    .addOption(new Option('--client-auth <mode>', 'inbound: client certificate policy (default required)').choices(['required', 'optional', 'none']))
    .option('--profile <name>', 'TLS profile from profiles/tls', 'bcp195-non-downgrading')
    .option('--route-name <name>', 'route name used in logs, metrics and audit records')
    .option('--server-name <dns>', 'outbound: name to verify on the upstream certificate (default: the upstream host)')
    .option('--allow-calling-ae <ae>', 'DICOM: only these calling AE titles (repeatable)', collect, [])
    .option('--allow-called-ae <ae>', 'DICOM: only these called AE titles (repeatable)', collect, [])
    .option('--allow-peer <name>', 'inbound: only peers whose certificate has this DNS/IP subjectAltName (repeatable)', collect, [])
    .option('--allow-peer-address <ip>', 'only peers connecting from this IP address (repeatable; the way to restrict outbound routes\' plaintext clients)', collect, [])
    .option('--allow-sending-app <hd>', 'HL7: only this MSH-3 sending application, "LAB" or the whole HD "LAB^1.2.3^ISO" (repeatable)', collect, [])
    .option('--allow-sending-facility <hd>', 'HL7: only this MSH-4 sending facility (repeatable)', collect, [])
    .option('--allow-message-type <type>', 'HL7: only this MSH-9 message type, "ADT" or "ADT^A01" (repeatable)', collect, [])
    .option('--hl7-default-charset <charset>', 'HL7: character set the receiver reads when MSH-18 is empty ("UNICODE UTF-8", "8859/1", "shift_jis")')
    .option('--acme <directory-url>', 'get and renew the certificate from this ACME directory instead of --cert/--key')
    .option('--name <dns>', 'with --acme: DNS name or IP address to certify (repeatable)', collect, [])
    .option('--acme-ca <pem>', 'with --acme: trust bundle for the ACME server\'s HTTPS certificate (e.g. the wardgate root; without it only public roots are trusted)')
    .option('--acme-state <dir>', 'with --acme: where the account key and certificates are kept', 'wardgate-acme')
    .option('--acme-email <email>', 'with --acme: account contact')
    .option('--http01-listen <addr:port>', 'with --acme: where to answer http-01 challenges', '0.0.0.0:80')
    .option('--audit-file <file>', 'append ATNA audit records (RFC 5424) to this file; SIGHUP reopens it (logrotate postrotate)')
    .option('--metrics <addr:port>', 'serve Prometheus metrics on http://ADDR:PORT/metrics (a non-loopback address needs --metrics-token-file)')
    .option('--metrics-token-file <file>', 'bearer token scrapers must send (Authorization: Bearer ...), at least 16 characters')
    .option('--workers <n>', 'worker processes sharing the listener (one per core for throughput; limits apply per worker)')
    .addHelpText('after', `
Examples:
  wardgate proxy inbound --protocol dicom --listen 0.0.0.0:2762 --upstream 10.20.0.5:104 \\
    --cert gw-ec.pem --key gw-ec.key --cert gw-rsa.pem --key gw-rsa.key --ca hospital-ca.pem
  wardgate proxy outbound --protocol hl7 --listen 127.0.0.1:2575 --upstream lis.klinikum.internal:2576 \\
    --acme https://ca.klinikum.internal/acme/directory --acme-ca hospital-ca.pem --name gw1.klinikum.internal --ca hospital-ca.pem`)
    .action(async (o: RouteFlags, cmd: Command) => {
      // `proxy` declares --workers too, and commander gives an option both declare to the parent
      // wherever it appears: read it with the globals, or `proxy inbound ... --workers 2` runs one.
      const { workers } = cmd.optsWithGlobals<{ workers?: string }>();
      await runGateway(configFromFlags(direction, o), parseWorkers(workers));
    });
}

export function register(program: Command): void {
  const proxy = program.command('proxy')
    .description('TLS gateway for legacy DICOM and HL7 devices: one route from flags, or many with --config')
    .option('--config <file>', 'gateway config (JSON): routes, audit, metrics')
    .option('--workers <n>', 'worker processes sharing the listeners (limits apply per worker)')
    .action(async (o: { config?: string; workers?: string }) => {
      if (!o.config) fail('give --config FILE, or a route: wardgate proxy inbound|outbound --protocol ... (see --help)');
      await runGateway(loadGatewayConfig(o.config), parseWorkers(o.workers));
    });
  routeCommand(proxy, 'inbound');
  routeCommand(proxy, 'outbound');
}
