import { StringDecoder } from 'node:string_decoder';
import { Option, type Command } from 'commander';
import { printable, printableJson, printableLines } from '../printable.ts';
import { ACME_CLIENT_OPTIONS, parseTarget, PHASES, reportHtml, reportJson, runAcmeClient, runTlsNode, TLS_NODE_OPTIONS, type Phase, type Report, type TlsNodeOption } from '../conformance/index.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { collect, fail, readArgumentFile } from './common.ts';

/** Exit status when the report was written but at least one SHALL requirement failed. */
export const EXIT_NONCONFORMANT = 3;
/** Exit status when the report was written, no SHALL requirement failed, but the run was incomplete. */
export const EXIT_INCOMPLETE = 4;

function readPem(file: string | undefined, flag: string): string | undefined {
  return file === undefined ? undefined : readArgumentFile(flag, file);
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) fail(`${flag} must be a whole number of milliseconds`);
  return n;
}

function emit(report: Report, format: string, out: string | undefined): void {
  const text = format === 'html' ? reportHtml(report) : reportJson(report);
  if (out) writeFileAtomic(out, text);
  else process.stdout.write(text);
  const s = report.summary;
  process.stderr.write(`${report.kit} ${printable(report.target)}: ${s.pass} pass, ${s.fail} fail, ${s['not-applicable']} not applicable, ${s.inconclusive} inconclusive; ${report.manual.length} for manual assessment${out ? ` (report: ${out})` : ''}\n`);
  if (report.incomplete) process.stderr.write(`incomplete run: ${printable(report.incomplete)}\n`);
  // A failed SHALL is a verdict the rest of the run cannot undo, so it outranks an incomplete run: 3
  // wins over 4, also when the failure rests on partial evidence from a run cut short.
  if (!report.conformant) process.exitCode = EXIT_NONCONFORMANT;
  else if (report.incomplete) process.exitCode = EXIT_INCOMPLETE;
}

function formatOption(): Option {
  return new Option('--format <format>', 'report format').choices(['json', 'html']).default('json');
}

export function register(program: Command): void {
  const conformance = program.command('conformance')
    .description('check a product against the draft IHE Intranet Certificate Management profile (docs/ihe-profile/)');

  conformance.command('tls-node')
    .description('probe a device TLS endpoint: versions and cipher suites (BCP 195), chain to the CA, client certificate policy')
    .argument('<target>', 'ADDR:PORT of the endpoint ([ADDR]:PORT for IPv6)')
    .option('--ca <pem>', 'trust anchor(s) the endpoint certificate must chain to; give the root only, so a missing intermediate shows')
    .option('--name <name>', 'DNS name peers use for the endpoint (SNI and the certificate name check); default: the address')
    .option('--client-cert <pem>', 'a client certificate chain the endpoint should accept')
    .option('--client-key <pem>', 'the key of --client-cert')
    .option('--client-ca-cert <pem>', 'a CA the endpoint trusts for clients; with --client-ca-key the kit mints valid and expired client certificates')
    .option('--client-ca-key <pem>', 'the key of --client-ca-cert')
    .option('--revoked-cert <pem>', 'a client certificate its CA has revoked (ICM-CHK-001)')
    .option('--revoked-key <pem>', 'the key of --revoked-cert')
    .option('--claim <option>', `an ICM option the product claims (repeatable): ${TLS_NODE_OPTIONS.join(', ')}`, collect, [])
    .addOption(formatOption())
    .option('--out <file>', 'write the report here instead of stdout')
    .option('--timeout <ms>', 'per-probe timeout', '5000')
    .option('--settle <ms>', 'how long an accepted handshake is kept open to see a late refusal (TLS 1.3 client auth)', '800')
    .addHelpText('after', `
Exit status: 0 when no SHALL requirement failed, ${EXIT_NONCONFORMANT} when one did, ${EXIT_INCOMPLETE} when none did but the
endpoint stopped answering mid-run (the report is written; checks it could not finish are inconclusive,
or fail on partial evidence when what it answered before the stop proves the violation), 1 or 2 on
errors. A SHALL failure proven before the stop gives ${EXIT_NONCONFORMANT}, not ${EXIT_INCOMPLETE}: the rest of the run could not undo it.

Examples:
  wardgate conformance tls-node 10.20.4.17:2762 --ca root.pem --client-cert pacs.pem --client-key pacs.key
  wardgate conformance tls-node 127.0.0.1:11112 --ca root.pem --client-ca-cert test-ca.pem --client-ca-key test-ca.key \\
      --claim rsa-baseline --format html --out report.html`)
    .action(async (targetText: string, o) => {
      for (const claim of o.claim as string[]) {
        if (!(TLS_NODE_OPTIONS as readonly string[]).includes(claim)) fail(`unknown --claim "${claim}" for tls-node (expected ${TLS_NODE_OPTIONS.join(', ')})`);
      }
      if (Boolean(o.clientCert) !== Boolean(o.clientKey)) fail('--client-cert and --client-key go together');
      if (Boolean(o.clientCaCert) !== Boolean(o.clientCaKey)) fail('--client-ca-cert and --client-ca-key go together');
      if (Boolean(o.revokedCert) !== Boolean(o.revokedKey)) fail('--revoked-cert and --revoked-key go together');
      const { report } = await runTlsNode({
        endpoint: parseTarget(targetText, o.name),
        caPem: readPem(o.ca, '--ca'),
        clientCertPem: readPem(o.clientCert, '--client-cert'),
        clientKeyPem: readPem(o.clientKey, '--client-key'),
        clientCaCertPem: readPem(o.clientCaCert, '--client-ca-cert'),
        clientCaKeyPem: readPem(o.clientCaKey, '--client-ca-key'),
        revokedCertPem: readPem(o.revokedCert, '--revoked-cert'),
        revokedKeyPem: readPem(o.revokedKey, '--revoked-key'),
        options: o.claim as TlsNodeOption[],
        timeoutMs: positiveInt(o.timeout, '--timeout'),
        settleMs: positiveInt(o.settle, '--settle'),
        progress: process.stderr.isTTY ? (step) => process.stderr.write(`  probing ${step}...\n`) : undefined,
      });
      emit(report, o.format, o.out);
    });

  conformance.command('acme-client')
    .description('run an ACME client against an instrumented test CA through enroll, renew and error phases, and judge it from the recorded exchange')
    .argument('<command...>', 'the client command line, after --; {placeholders} are substituted (see below)')
    .option('--renew-command <args>', 'a different command for the renewal phases (words split on spaces; same placeholders); default: the enroll command')
    .option('--claim <option>', `an ICM option the client claims (repeatable): ${ACME_CLIENT_OPTIONS.join(', ')}`, collect, [])
    .option('--phases <list>', `comma-separated phases to run (${PHASES.join(', ')})`, PHASES.join(','))
    .option('--server-address <addr>', 'loopback address of the test CA', '127.60.0.1')
    .option('--device-address <addr>', 'loopback address the client answers challenges on; every test DNS name resolves to it', '127.60.0.2')
    .option('--http01-port <port>', 'port the CA validates http-01 on (default: a free port)')
    .option('--tlsalpn01-port <port>', 'port the CA validates tls-alpn-01 on (default: a free port)')
    .option('--record <file>', 'also write the recorded exchange (JSON) here')
    .option('--verbose', 'show the client output and the kit progress on stderr')
    .addOption(formatOption())
    .option('--out <file>', 'write the report here instead of stdout')
    .option('--timeout <ms>', 'timeout for each run of the client command', '120000')
    .addHelpText('after', `
The kit starts a fresh CA, the wardgate ACME server over HTTPS on --server-address and, when
pebble-challtestsrv is installed, a DNS server that resolves every name to --device-address. It runs the
command once to enroll (injecting badNonce, a pending authorization and a processing order with
Retry-After), re-runs the renewal command as a scheduler would until it renews (the first certificate's
ARI window starts in the future and is pulled forward), once with orderNotReady on finalize, and once
against a server certificate from a foreign CA. Kit certificates live one minute, so renewal is due.

Placeholders and environment variables given to the command:
  {directory}   WARDGATE_ACME_DIRECTORY   directory URL (the only URL a client needs)
  {root}        WARDGATE_CA_ROOT          root certificate PEM (also SSL_CERT_FILE, REQUESTS_CA_BUNDLE,
                                          LEGO_CA_CERTIFICATES, NODE_EXTRA_CA_CERTS, CURL_CA_BUNDLE)
  {cacerts}     WARDGATE_CACERTS_URL      RFC 7030 cacerts URL (plain HTTP)
  {name}        WARDGATE_DEVICE_NAME      a DNS name for the device (needs pebble-challtestsrv)
  {deviceIp}    WARDGATE_DEVICE_IP        the device address (for IP identifiers and listeners)
  {http01Port}  WARDGATE_HTTP01_PORT      {tlsAlpn01Port} WARDGATE_TLSALPN01_PORT
  {dnsResolver} WARDGATE_DNS_RESOLVER     {dnsManagement} WARDGATE_DNS_MANAGEMENT (pebble-challtestsrv API, for dns-01 hooks)
  {eabKid} {eabHmac}  WARDGATE_EAB_KID / WARDGATE_EAB_HMAC (with --claim EAB)
  {stateDir}    WARDGATE_STATE_DIR        a directory kept across phases (also the working directory)
  {phase}       WARDGATE_CONFORMANCE_PHASE  enroll, renew, order-not-ready or untrusted-server

Exit status: 0 when no SHALL requirement failed, ${EXIT_NONCONFORMANT} when one did, ${EXIT_INCOMPLETE} when none did but the
run was incomplete (a run of the client hung and was killed at --timeout, or died of a signal, or a
phase could not run; the report is written and says why), 1 or 2 on errors.

Examples:
  wardgate conformance acme-client --claim http-01 \\
      --renew-command 'lego --server {directory} --email a@b.test --accept-tos --path {stateDir} -d {name} --http --http.port {deviceIp}:{http01Port} renew' \\
      -- lego --server {directory} --email a@b.test --accept-tos --path {stateDir} -d {name} --http --http.port {deviceIp}:{http01Port} run
  wardgate conformance acme-client --claim http-01 --format html --out certbot.html -- certbot certonly --standalone \\
      --http-01-address {deviceIp} --http-01-port {http01Port} --server {directory} -d {name} --agree-tos -m a@b.test \\
      --config-dir {stateDir}/c --work-dir {stateDir}/w --logs-dir {stateDir}/l --non-interactive`)
    .action(async (command: string[], o) => {
      const port = (v: string | undefined, flag: string) => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 65535) fail(`${flag} must be a TCP port (1-65535)`);
        return n;
      };
      const verbose = Boolean(o.verbose);
      // The client's output is the product's text: shown with its controls escaped (printable.ts), decoded
      // across chunk boundaries so a UTF-8 sequence split between two reads is not mangled.
      const decoder = new StringDecoder('utf8');
      const { report, record } = await runAcmeClient({
        command, renewCommand: o.renewCommand ? String(o.renewCommand).split(/\s+/).filter(Boolean) : undefined,
        claims: o.claim, timeoutMs: positiveInt(o.timeout, '--timeout'),
        phases: String(o.phases).split(',').map((p) => p.trim()).filter(Boolean) as Phase[],
        serverAddress: o.serverAddress, deviceAddress: o.deviceAddress,
        http01Port: port(o.http01Port, '--http01-port'), tlsAlpn01Port: port(o.tlsalpn01Port, '--tlsalpn01-port'),
        progress: verbose || process.stderr.isTTY ? (line) => process.stderr.write(`  ${printable(line)}\n`) : undefined,
        echo: verbose ? (chunk) => process.stderr.write(printableLines(decoder.write(chunk))) : undefined,
      });
      if (o.record) writeFileAtomic(o.record, `${printableJson(JSON.stringify(record, null, 2))}\n`);
      emit(report, o.format, o.out);
    });
}
