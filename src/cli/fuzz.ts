/**
 * `wardgate fuzz`: protocol-aware DICOM/HL7 fuzzing of a gateway route (with an instrumented backend)
 * or of any DICOM/HL7 peer; `wardgate fuzz replay FILE` reruns one finding. Exit codes: 0 no finding
 * (replay: not reproduced); 1 findings (replay: reproduced) or an error (one `error [CODE]` line on
 * stderr); 2 bad arguments.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { runCampaign } from '../fuzz/campaign.ts';
import { WardgateError } from '../errors.ts';
import { type Reproducer, readReproducer } from '../fuzz/findings.ts';
import { printable } from '../printable.ts';
import { replayReproducer } from '../fuzz/replay.ts';
import { type TargetFlags, parseDuration, parseSeed, prepareTarget } from '../fuzz/setup.ts';
import { progressBar } from './progress.ts';

interface FuzzFlags extends TargetFlags {
  duration: string;
  seed?: string;
  out: string;
  concurrency: string;
  hangTimeout: string;
  maxRss: string;
  minimize: boolean;
  gatewayThread?: boolean;
  verbose?: boolean;
}

function targetOptions(cmd: Command): Command {
  return cmd
    .option('--route <name>', 'fuzz this route of --config: runs the gateway route and an instrumented backend behind it')
    .option('--config <file>', 'gateway config (as for wardgate proxy --config)')
    .option('--target <addr:port>', 'fuzz any DICOM/HL7 peer at this address')
    .addOption(new Option('--protocol <protocol>', 'protocol of --target').choices(['dicom', 'hl7']))
    .option('--spawn <command>', 'with --target: start the target with this command and restart it after each crash (exits are then seen directly)')
    .option('--tls', 'with --target: connect with TLS')
    .option('--ca <pem>', 'trust bundle for the target (or the route) certificate')
    .option('--cert <pem>', 'client certificate (inbound routes, TLS targets); for outbound routes the backend\'s server certificate')
    .option('--key <pem>', 'key of --cert')
    .option('--lab', 'confirm that a target outside loopback is a lab system (fuzzing creates records in it)')
    .option('--plaintext', 'route targets: fuzz the route\'s DICOM/HL7 handling with TLS taken out (the gateway listens, or reaches the backend, in plaintext; inbound it takes the fuzzer for the names of --cert): about 2x the execs/s, no handshake, certificate or revocation checks exercised')
    .option('--hang-timeout <ms>', 'a target that does not answer a well-formed request within this is hung', '3000');
}

export function register(program: Command): void {
  const fuzz = targetOptions(program.command('fuzz'))
    .description('fuzz a gateway route or a DICOM/HL7 peer with structure-aware, stateful hostile input; writes DIR/findings.json and minimized reproducers')
    .option('--duration <time>', 'how long to fuzz (60s, 5m, 500ms)', '60s')
    .option('--seed <n>', 'PRNG seed: the same seed generates the same inputs (default: random, printed)')
    .option('--out <dir>', 'output directory for findings.json and reproducers/', 'fuzz-out')
    .addOption(new Option('--side <side>', 'route targets: attack as hostile client, hostile server behind the route, or both (default: outbound both, inbound client)').choices(['client', 'server', 'both']))
    .option('--concurrency <n>', 'connections in flight', '16')
    .option('--max-rss <mb>', 'memory oracle: target resident set bound in MiB', '512')
    .option('--no-minimize', 'keep reproducers as found')
    .option('--verbose', 'print the campaign\'s events on stderr: slow or missing answers to the liveness probe, triage of a crash or hang, findings, minimization')
    .option('--gateway-thread', 'route targets: run the gateway on a worker thread of the fuzzer instead of a child process: 1.1-2.2x the execs/s (bench/fuzz), but no resident-memory bound (the thread has no RSS of its own; memory per relayed byte is read from its heap) and a native crash ends the fuzzer')
    .addHelpText('after', `
Examples:
  wardgate fuzz --route ct-in --config gateway.json --cert fuzz.pem --key fuzz.key --ca hospital-ca.pem --duration 5m --seed 7 --out fuzz-ct
  wardgate fuzz --target 127.0.0.1:11112 --protocol dicom --spawn "./vendor-scp --port 11112" --duration 60s
  wardgate fuzz replay fuzz-ct/reproducers/exit-dicom-1a2b3c4d.json --route ct-in --config gateway.json --cert fuzz.pem --key fuzz.key --ca hospital-ca.pem`)
    .action(async (o: FuzzFlags) => {
      const seed = parseSeed(o.seed);
      const durationMs = parseDuration(o.duration);
      if (o.gatewayThread && !o.route) throw new WardgateError('CLI_ARGUMENT', '--gateway-thread applies to --route targets only');
      const prepared = prepareTarget(o.gatewayThread ? { ...o, inProcess: true, thread: true } : o);
      if (o.gatewayThread) process.stderr.write('wardgate fuzz: gateway on a worker thread: the resident-memory bound (--max-rss) is off; memory per relayed byte is read from the thread\'s heap\n');
      if (o.plaintext) process.stderr.write('wardgate fuzz: TLS-free harness (--plaintext): the route\'s TLS side runs in plaintext; handshakes, certificate and revocation checks are not exercised\n');
      const out = resolve(o.out);
      const seconds = Math.max(1, Math.round(durationMs / 1000));
      const bar = progressBar('fuzz', seconds);
      const started = Date.now();
      // Over the progress line on a terminal; what targets said (crash text) is made printable.
      const log = o.verbose ? (m: string) => process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}wardgate fuzz: ${((Date.now() - started) / 1000).toFixed(1)} s: ${printable(m)}\n`) : undefined;
      process.stderr.write(`wardgate fuzz: ${prepared.protocol} ${JSON.stringify(prepared.target.describe())} seed ${seed} for ${o.duration}\n`);
      await prepared.target.start();
      try {
        const result = await runCampaign({
          target: prepared.target, protocol: prepared.protocol, seed, durationMs, outDir: out, sides: prepared.sides, policy: prepared.policy,
          dicom: prepared.dicom, hl7: prepared.hl7, concurrency: Number(o.concurrency), hangTimeoutMs: Number(o.hangTimeout), maxRssMb: Number(o.maxRss),
          minimize: o.minimize ? undefined : false, log,
          onProgress: (p) => bar.update(Math.min(seconds, Math.floor(p.elapsedMs / 1000)), `${p.execs} execs ${p.execsPerSecond.toFixed(0)}/s ${p.findings} findings`),
        });
        bar.finish();
        process.stdout.write(`wardgate fuzz: ${result.execs} execs (${result.execsPerSecond}/s), seed ${seed}, ${result.findings.length} finding(s) -> ${out}/findings.json\n`);
        for (const r of result.reproducers) process.stdout.write(`  ${r.id}: ${r.oracle} at ${r.location}: ${r.detail} (${r.exchanges.reduce((n, e) => n + e.chunks.reduce((m, c) => m + c.length, 0), 0)} bytes, ${out}/reproducers/${r.id}.json)\n`);
        if (result.findings.length > 0) process.exitCode = 1;
      } finally {
        await (prepared.target.close?.() ?? prepared.target.stop());
      }
    });

  targetOptions(fuzz.command('replay'))
    .option('--no-tls', 'replay in plaintext although the reproducer was recorded against a TLS target')
    .argument('<file>', 'a reproducer written by wardgate fuzz (DIR/reproducers/ID.json)')
    .description('run one finding\'s reproducer again; exit 1 when it reproduces, 0 when it does not')
    .action(async (file: string, own: TargetFlags & { hangTimeout: string }, cmd: Command) => {
      // `fuzz replay F --cert C` and `fuzz --cert C replay F`: commander hands options after the
      // subcommand to `fuzz` when it knows them too, so both commands' values are merged.
      const o = { ...cmd.parent!.opts(), ...Object.fromEntries(Object.entries(own).filter(([k]) => cmd.getOptionValueSource(k) === 'cli')) } as TargetFlags & { hangTimeout: string };
      const r = readReproducer(file);
      const flags = replayFlags(file, r, o);
      const prepared = prepareTarget(flags);
      await prepared.target.start();
      try {
        const outcome = await replayReproducer(r, prepared.target, { hangTimeoutMs: Number(o.hangTimeout), policy: prepared.policy });
        if (outcome.reproduced) {
          process.stdout.write(`reproduced ${r.id}: ${r.oracle} at ${r.location}: ${outcome.verdict?.detail ?? ''}\n`);
          process.exitCode = 1;
        } else {
          process.stdout.write(`not reproduced ${r.id}: ${outcome.verdict ? `got ${outcome.verdict.oracle} at ${outcome.verdict.location}` : 'the target handled it'}\n`);
        }
      } finally {
        await (prepared.target.close?.() ?? prepared.target.stop());
      }
    });
}

/**
 * The target of a replay: what the user gave wins; the rest comes from the reproducer, which travels
 * between sites, so nothing in it is taken on its say-so: no command is run, a recorded config path is
 * used only when that file exists here (and named on stderr), and TLS is kept as recorded but needs the
 * user's own trust bundle.
 */
function replayFlags(file: string, r: Reproducer, given: TargetFlags): TargetFlags {
  const flags: TargetFlags = { ...given };
  if (!flags.route && !flags.target) {
    if (r.target.kind === 'route') {
      Object.assign(flags, { route: r.target.route, config: flags.config ?? recordedConfig(file, r) });
      if (r.target.plaintext === true) flags.plaintext ??= true;
    } else {
      // Reproducers travel between hospitals and vendors: a command inside one is never run on the
      // file's say-so (it would be code execution by a shared JSON file). The user starts the target,
      // or repeats the command with --spawn after reading it.
      if (r.target.command && !flags.spawn) {
        throw new WardgateError('CLI_ARGUMENT', `${file} was recorded against a target started with --spawn ${JSON.stringify(printable(r.target.command))}; `
          + 'wardgate does not run commands taken from a reproducer: start the target yourself and give --target ADDR:PORT, or give --spawn with the command after checking it');
      }
      Object.assign(flags, { target: r.target.address, protocol: r.protocol });
    }
  }
  flags.protocol ??= r.protocol;
  // The recorded bytes are what went inside the TLS session: sent in plaintext they test something else.
  if (!flags.route && r.target.kind !== 'route' && r.target.tls === true && flags.tls === undefined) {
    if (!flags.ca) throw new WardgateError('CLI_ARGUMENT', `${file} was recorded against a TLS target: add --ca FILE (the trust bundle for the target's certificate), or --no-tls to replay in plaintext`);
    flags.tls = true;
  }
  return flags;
}

function recordedConfig(file: string, r: Reproducer): string {
  const recorded = r.target.config;
  const isFile = recorded !== undefined && (statSync(recorded, { throwIfNoEntry: false })?.isFile() ?? false);
  if (!isFile) {
    const where = recorded === undefined ? 'names no config' : `names config ${printable(recorded)}, which does not exist here`;
    throw new WardgateError('CLI_ARGUMENT', `${file} ${where}: give --config FILE (the gateway config that defines route ${printable(r.target.route ?? '')})`);
  }
  process.stderr.write(`wardgate fuzz replay: using config ${printable(resolve(recorded))} recorded in the reproducer; give --config to choose another\n`);
  return recorded;
}
