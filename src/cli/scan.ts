import { Option, type Command } from 'commander';
import { WardgateError } from '../errors.ts';
import { DEFAULT_PORTS, parsePorts } from '../scan/ports.ts';
import { FORMATS, type Format, runScan } from '../scan/run.ts';
import { DEFAULTS } from '../scan/scanner.ts';
import { DEFAULT_MAX_HOSTS, parseShard } from '../scan/targets.ts';
import { collect } from './common.ts';
import { progressBar } from './progress.ts';

function num(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new WardgateError('CLI_ARGUMENT', `${name} expects a number, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function register(program: Command): void {
  program.command('scan')
    .description('find plaintext DICOM/HL7 and bad certificates without disturbing devices, and say what to do')
    .argument('<target...>', 'address, CIDR (10.1.0.0/24), range (10.1.0.5-40), hostname, or a file (plain list, nmap -oG, masscan -oL/-oG; @file forces file)')
    .option('--ports <list>', `ports to probe (default: medical ports ${DEFAULT_PORTS.join(',')})`)
    .option('--exclude <target>', 'do-not-scan device, CIDR, range, hostname or file (repeatable)', collect, [])
    .addOption(new Option('--trust <pem>', 'trust anchor PEM file(s) for the issuer check (repeatable)').argParser(collect).default([], 'public roots only'))
    .option('--rate <n>', 'global limit of new connections per second', num('--rate'), DEFAULTS.ratePerSecond)
    .option('--per-host <n>', 'concurrent connections per host', num('--per-host'), DEFAULTS.perHost)
    .option('--timeout <ms>', 'timeout of every step (connect, handshake, answer)', num('--timeout'), DEFAULTS.timeoutMs)
    .option('--shard <I/N>', 'scan only the I-th of N equal slices of the targets (split a scan across machines)')
    .option('--max-hosts <n>', 'refuse to start when the targets hold more addresses (counted before --exclude; per shard with --shard)', num('--max-hosts'), DEFAULT_MAX_HOSTS)
    .addOption(new Option('--format <format>', 'report format').choices([...FORMATS]).default('text'))
    .option('--out <file>', 'write the report to a file (default stdout)')
    .option('--baseline <previous.json>', 'a previous JSON report: list new and fixed findings')
    .addOption(new Option('--lang <lang>', 'language of titles and recommendations').choices(['en', 'de']).default('en'))
    .option('--called-ae <title>', 'called AE title of the first association (the second uses a random title)', DEFAULTS.calledAe)
    .option('--gateway <addr>', 'address of the wardgate gateway, used in recommended commands')
    .option('--acme-url <url>', 'ACME directory of the wardgate CA, used in recommended commands')
    .addHelpText('after', `
Examples:
  wardgate scan 10.20.0.0/24 --exclude 10.20.0.17 --format html --out scan.html
  wardgate scan targets.gnmap --trust hospital-root.pem --format json --out week48.json --baseline week47.json
  wardgate scan 10.0.0.0/16 --shard 2/4 --format ndjson > shard2.ndjson`)
    .action(async (targets: string[], o) => {
      const bar = progressBar('scan', 0);
      // Ctrl-C: start no more hosts, let those in progress finish their probes (a PACS sees a released
      // association, not a cut connection) and write the report so far; a second Ctrl-C quits at once.
      const stop = new AbortController();
      const onInterrupt = () => {
        stop.abort();
        process.stderr.write('\nwardgate scan: stopping after the hosts in progress (Ctrl-C again to quit without a report)\n');
        process.once('SIGINT', () => process.exit(130));
      };
      process.once('SIGINT', onInterrupt);
      const result = await runScan({
        signal: stop.signal,
        targets,
        ports: o.ports ? parsePorts(o.ports) : [...DEFAULT_PORTS],
        exclude: o.exclude,
        shard: o.shard ? parseShard(o.shard) : undefined,
        maxHosts: o.maxHosts,
        trust: o.trust,
        rate: o.rate,
        perHost: o.perHost,
        timeoutMs: o.timeout,
        format: o.format as Format,
        out: o.out,
        baseline: o.baseline,
        lang: o.lang,
        calledAe: o.calledAe,
        gateway: o.gateway,
        acmeUrl: o.acmeUrl,
        onProgress: (done, total, services) => {
          bar.setTotal(total);
          bar.update(done, `${services} open`);
        },
      });
      process.removeListener('SIGINT', onInterrupt);
      bar.finish();
      if (result.scan.interrupted) {
        process.stderr.write(`wardgate scan: interrupted: ${result.scan.interrupted}\n`);
        process.exitCode = 130;
      }
      if (o.out) process.stderr.write(`wardgate scan: ${result.services.length} open ports, ${result.services.reduce((n, s) => n + s.findings.length, 0)} findings -> ${o.out}\n`);
    });
}
