import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { WardgateError } from '../errors.ts';
import { parseTarget, reportHtml, reportJson, runAcmeClient, runTlsNode, TLS_NODE_OPTIONS, type Report, type TlsNodeOption } from '../conformance/index.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { collect, fail } from './common.ts';

/** Exit status when the report was written but at least one SHALL requirement failed. */
export const EXIT_NONCONFORMANT = 3;

function readPem(file: string | undefined, flag: string): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new WardgateError('CLI_ARGUMENT', `cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
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
  process.stderr.write(`${report.kit} ${report.target}: ${s.pass} pass, ${s.fail} fail, ${s['not-applicable']} not applicable, ${s.inconclusive} inconclusive; ${report.manual.length} for manual assessment${out ? ` (report: ${out})` : ''}\n`);
  if (!report.conformant) process.exitCode = EXIT_NONCONFORMANT;
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
Exit status: 0 when no SHALL requirement failed, ${EXIT_NONCONFORMANT} when one did, 1 or 2 on errors.

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
    .description('run an ACME client against a test CA and judge enrollment, renewal and error handling (pending: needs the wardgate ACME server)')
    .argument('<command...>', 'the client command line, after --')
    .option('--claim <option>', 'an ICM option the client claims (repeatable): http-01, tls-alpn-01, dns-01, EAB, ARI, IP identifiers', collect, [])
    .addOption(formatOption())
    .option('--out <file>', 'write the report here instead of stdout')
    .option('--timeout <ms>', 'overall timeout for the client command', '300000')
    .action(async (command: string[], o) => {
      await runAcmeClient({ command, claims: o.claim, timeoutMs: positiveInt(o.timeout, '--timeout') });
    });
}
