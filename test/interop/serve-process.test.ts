/**
 * The `wardgate serve` process contract (issue 3 "Interface contract"): after `wardgate init` with
 * `--permit-ip 127.0.0.0/8`, `serve --data-dir DIR --listen 127.0.0.1:PORT --http01-port P --dns-resolver
 * 127.0.0.1:DNSPORT` serves ACME whose TLS chain verifies against DIR/ca/root.pem (checked with openssl
 * s_client and with lego issuing through it), stops cleanly on SIGTERM, and refuses with one clear line
 * to serve a name outside the CA's permits.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { CertificateAuthority } from '../../src/pki/ca.ts';
import { TEST_PASSPHRASE } from '../helpers/ca.ts';
import { wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { freePort, requirePeers, run, skipUnlessPeers, tail } from './fixtures/peers.ts';
import { spawnServe } from './fixtures/serve-process.ts';
import { startTestDns } from './fixtures/test-dns.ts';
import { assertIssued } from './fixtures/verify.ts';

const PEERS = ['lego', 'pebble-challtestsrv', 'openssl'];
const HOST = '127.31.6.1';
const DEVICE = '127.31.6.2';

t.test('wardgate serve as a process', { skip: skipUnlessPeers(...PEERS) }, async (t) => {
  if (!requirePeers(t, ...PEERS)) return;
  const work = tempDir(t, 'wardgate-serve-');
  const dir = join(work, 'data');
  const env = { WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE };
  const init = wardgate(['init', '-d', dir, '--name', 'Serve Contract', '--permit-dns', 'wardgate.test', '--permit-ip', '127.0.0.0/8',
    '--root-key-type', 'ecdsa-p384', '--rsa-key-type', 'rsa-2048'], env);
  t.equal(init.status, 0, `wardgate init: ${init.stderr}`);
  const dns = await startTestDns(t, { host: HOST, defaultIPv4: DEVICE });
  const port = await freePort(HOST);
  const http01Port = await freePort(DEVICE);
  const server = spawnServe(t, ['--data-dir', dir, '--listen', `${HOST}:${port}`, '--http01-port', String(http01Port), '--dns-resolver', dns.resolver]);
  const directoryUrl = await server.ready;
  t.equal(directoryUrl, `https://${HOST}:${port}/acme/directory`, 'prints the directory URL');
  const rootPem = join(dir, 'ca', 'root.pem');

  await t.test('the server TLS chain verifies against DIR/ca/root.pem', async (t) => {
    const r = spawnSync('openssl', ['s_client', '-connect', `${HOST}:${port}`, '-CAfile', rootPem, '-verify_return_error', '-verify_ip', HOST, '-brief'],
      { input: '', encoding: 'utf8', timeout: 10_000 });
    t.equal(r.status, 0, `openssl s_client: ${r.stderr}`);
    t.match(r.stderr, /Verification: OK/, 'chain and IP address verified');
    const res = await fetch(directoryUrl).catch((e: Error) => e);
    t.ok(res instanceof Error, 'a client without the root refuses the server (no public CA in the chain)');
  });

  await t.test('lego issues through the served directory', async (t) => {
    const r = await run('lego', ['--server', directoryUrl, '--email', 'serve@wardgate.test', '--accept-tos', '--path', join(work, 'lego'),
      '--domains', 'served.wardgate.test', '--http', '--http.port', `${DEVICE}:${http01Port}`, 'run'],
    { env: { ...process.env, LEGO_CA_CERTIFICATES: rootPem } });
    t.equal(r.code, 0, `lego run: ${tail(r)}`);
    const pem = readFileSync(join(work, 'lego', 'certificates', 'served.wardgate.test.crt'), 'utf8');
    const ca = await CertificateAuthority.open(dir, { passphrase: TEST_PASSPHRASE });
    t.teardown(() => ca.close());
    const info = assertIssued(t, { ca }, pem, ['served.wardgate.test'], 'certificate from the serve process');
    const list = wardgate(['list', '-d', dir, '--json'], env);
    t.ok((JSON.parse(list.stdout) as { serial: string }[]).some((c) => c.serial === info.serial), '`wardgate list --json` shows it');
  });

  await t.test('SIGTERM stops the server cleanly', async (t) => {
    server.child.kill('SIGTERM');
    const { code } = await server.exited;
    t.equal(code, 0, 'exit 0');
    const audit = wardgate(['audit', 'verify', '-d', dir], env);
    t.equal(audit.status, 0, `audit chain intact after shutdown: ${audit.stdout}${audit.stderr}`);
  });

  // After the first serve stopped: a data dir has one serve at a time (its lock refuses a second).
  await t.test('--distribution-rate limits the plain-HTTP listener per client address', async (t) => {
    const port2 = await freePort(HOST);
    const httpPort = await freePort(HOST);
    const limited = spawnServe(t, ['--data-dir', dir, '--listen', `${HOST}:${port2}`, '--http-listen', `${HOST}:${httpPort}`, '--distribution-rate', '2']);
    await limited.ready;
    const url = `http://${HOST}:${httpPort}/.well-known/est/cacerts`;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(url)).status);
    t.same(statuses, [200, 200, 429], 'two requests pass, the third is refused within the same second');
    limited.child.kill('SIGTERM');
    t.equal((await limited.exited).code, 0);
  });

  await t.test('a name outside the permits stops serve with one clear line', async (t) => {
    // Both refusals run side by side (each is a whole CLI start-up).
    const outside = spawnServe(t, ['--data-dir', dir, '--listen', `${HOST}:${port}`, '--name', 'acme.example.org']);
    const narrow = join(work, 'narrow');
    const init2 = wardgate(['init', '-d', narrow, '--name', 'Narrow', '--permit-ip', '10.20.0.0/16', '--root-key-type', 'ecdsa-p384', '--rsa-key-type', 'rsa-2048'], env);
    t.equal(init2.status, 0, `init with only 10.20.0.0/16: ${init2.stderr}`);
    const listen = spawnServe(t, ['--data-dir', narrow, '--listen', `${HOST}:${port}`]);
    const [r1, r2] = await Promise.all([outside.exited, listen.exited]);

    t.not(r1.code, 0, 'extra name outside --permit-dns: non-zero exit');
    const lines = outside.stderr().trim().split('\n');
    t.equal(lines.length, 1, `one line: ${outside.stderr()}`);
    t.match(lines[0], /NAME_NOT_PERMITTED.*outside the CA's permits.*acme\.example\.org/, 'names the problem and the name');
    t.not(r2.code, 0, 'listen address outside --permit-ip: non-zero exit');
    t.match(listen.stderr().trim(), new RegExp(`^wardgate: error \\[NAME_NOT_PERMITTED\\]: .*${HOST.replace(/\./g, '\\.')}.*10\\.20\\.0\\.0/16\\)$`), `one line naming the address and the permits: ${listen.stderr()}`);
  });
});
