/**
 * CI fuzz of the real gateway: one route of each type (DICOM inbound/outbound, HL7 inbound/outbound)
 * fuzzed through `wardgate fuzz --route NAME --config FILE` for a bounded time each (30 s, or
 * WARDGATE_FUZZ_ROUTE_DURATION), with the instrumented backend behind the route. Inbound routes are
 * attacked by a hostile client over mTLS; outbound routes by a hostile client on the plaintext side
 * and a hostile server behind the route. Any finding (gateway exit, hang, memory growth, policy
 * bypass or altered bytes) fails the test and prints the reproducer.
 * The four routes run side by side to keep the CI wall time near 30 s.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { InputGenerator } from '../../src/fuzz/generate.ts';
import { REPRODUCER_FORMAT, writeReproducer } from '../../src/fuzz/findings.ts';
import { tempDir } from '../helpers/tmp.ts';
import { runCli } from './fixtures/run.ts';
import { routeFixture } from './fixtures/routes.ts';

const DURATION = process.env.WARDGATE_FUZZ_ROUTE_DURATION ?? '30s';

/**
 * Fuzzes every route of the fixture side by side through the CLI (`extra` flags added) and fails on
 * anything but a clean run: no findings.json, a finding (printed with its reproducer and the campaign's
 * events, from --verbose), or a non-zero exit.
 */
async function fuzzEachRoute(t: Test, host: string, firstSeed: number, extra: string[]): Promise<Array<{ route: string; stderr: string }>> {
  const f = await routeFixture(t, host);
  const work = tempDir(t);
  const what = extra.length ? ` (${extra.join(' ')})` : '';
  const runs = f.routes.map(async (route, i) => {
    const out = join(work, route);
    const res = await runCli(['fuzz', '--route', route, '--config', f.config, '--cert', f.cert, '--key', f.key, '--ca', f.ca, ...extra, '--duration', DURATION, '--seed', String(firstSeed + i), '--out', out, '--concurrency', '16', '--verbose'], 300_000);
    return { route, out, res };
  });
  const done = await Promise.all(runs);
  for (const { route, out, res } of done) {
    t.comment(`${route}${what}: ${res.stdout.trim().split('\n')[0]}`);
    let findings: { execs: number; findings: Array<{ id: string; reproducer: string }> };
    try {
      findings = JSON.parse(readFileSync(join(out, 'findings.json'), 'utf8'));
    } catch {
      t.fail(`${route}${what}: no findings.json (exit ${res.code}): ${res.stderr.slice(-2000)}`);
      continue;
    }
    t.ok(findings.execs > 0, `${route}${what}: ${findings.execs} execs`);
    for (const finding of findings.findings) {
      t.fail(`${route}${what}: gateway finding ${finding.id}: ${readFileSync(join(out, finding.reproducer), 'utf8')}\ncampaign events:\n${res.stderr.slice(-4000)}`);
    }
    t.equal(res.code, 0, `${route}${what}: wardgate fuzz exits 0 (no finding)`);
  }
  return done.map(({ route, res }) => ({ route, stderr: res.stderr }));
}

t.test(`each route type survives a ${DURATION} fuzz with no finding`, async (t) => {
  await fuzzEachRoute(t, '127.41.0.1', 4100, []);
});

t.test(`each route type survives a ${DURATION} fuzz in the TLS-free harness (--plaintext) with no finding`, async (t) => {
  // The same routes with their TLS side in plaintext: about twice the execs in the same time, all of
  // them on the DICOM/HL7 handling (framing, parsing, policy, relaying) instead of handshakes.
  for (const { route, stderr } of await fuzzEachRoute(t, '127.41.0.3', 4200, ['--plaintext'])) t.match(stderr, /TLS-free harness/, `${route}: the harness is announced`);
});

t.test('fuzz replay runs a reproducer against a route (here: a hostile answer the gateway survives)', async (t) => {
  const f = await routeFixture(t, '127.41.0.2');
  const work = tempDir(t);
  const input = new InputGenerator({ protocol: 'dicom', seed: 5, sides: ['server'] }).generate(0);
  const file = join(work, 'repro.json');
  writeReproducer(file, {
    format: REPRODUCER_FORMAT, id: 'exit-dicom-00000000', oracle: 'exit', protocol: 'dicom', location: 'nowhere (x.ts:1)', detail: 'synthetic', seed: 5, exec: 0,
    target: { kind: 'route', protocol: 'dicom', route: 'dicom-out', config: f.config }, minimized: false, exchanges: [input.client, input.server!],
  });
  const res = await runCli(['fuzz', 'replay', file, '--cert', f.cert, '--key', f.key, '--ca', f.ca]);
  t.equal(res.code, 0, `not reproduced: exit 0 (${res.stdout.trim()}${res.stderr.trim()})`);
  t.match(res.stdout, /^not reproduced exit-dicom-00000000: the target handled it/m);
});

t.test('a reproducer found in the TLS-free harness replays in it (recorded "plaintext": no client key needed inbound)', async (t) => {
  const f = await routeFixture(t, '127.41.0.4');
  const work = tempDir(t);
  const input = new InputGenerator({ protocol: 'hl7', seed: 6, sides: ['client'] }).generate(0);
  const file = join(work, 'repro.json');
  const reproducer = {
    format: REPRODUCER_FORMAT as typeof REPRODUCER_FORMAT, id: 'exit-hl7-00000000', oracle: 'exit' as const, protocol: 'hl7' as const, location: 'nowhere (x.ts:1)', detail: 'synthetic', seed: 6, exec: 0,
    target: { kind: 'route' as const, protocol: 'hl7' as const, route: 'hl7-in', config: f.config, tls: false, plaintext: true }, minimized: false, exchanges: [input.client],
  };
  writeReproducer(file, reproducer);
  // Over TLS the inbound route would need --key (its client certificate is required); the harness takes --cert's names only.
  const res = await runCli(['fuzz', 'replay', file, '--cert', f.cert]);
  t.equal(res.code, 0, `not reproduced: exit 0 (${res.stdout.trim()}${res.stderr.trim()})`);
  t.match(res.stdout, /^not reproduced exit-hl7-00000000: the target handled it/m);
  const tlsFile = join(work, 'repro-tls.json');
  writeReproducer(tlsFile, { ...reproducer, target: { kind: 'route', protocol: 'hl7', route: 'hl7-in', config: f.config, tls: true } });
  const overTls = await runCli(['fuzz', 'replay', tlsFile, '--cert', f.cert]);
  t.equal(overTls.code, 2, 'the same reproducer recorded over TLS needs the key');
  t.match(overTls.stderr, /requires a client certificate: give --cert and --key/);
  const badFile = join(work, 'repro-bad.json');
  writeFileSync(badFile, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), target: { ...reproducer.target, plaintext: 'yes' } }));
  const bad = await runCli(['fuzz', 'replay', badFile, '--cert', f.cert]);
  t.match(bad.stderr, /FUZZ_REPRODUCER_INVALID.*target\.plaintext/, 'a "plaintext" that is not a boolean is refused');
});
