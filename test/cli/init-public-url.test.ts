/**
 * `wardgate init --public-url URL` (its --help: "base URL of the plain-HTTP listener (CRL, OCSP, CA
 * certificates) written into issued certificates") must survive `wardgate serve`: serve used to replace
 * it with its own listener address, so certificates named an address devices may not reach (or 0.0.0.0).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { TEST_PASSPHRASE } from '../helpers/ca.ts';
import { wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { freePort } from '../interop/fixtures/peers.ts';
import { spawnServe } from '../interop/fixtures/serve-process.ts';

const HOST = '127.58.3.1';
const PUBLIC = 'http://pki.klinikum.internal:8080';
const env = { WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE };

t.test('issued certificates carry the URL given at init, after serve ran', async (t) => {
  const tmp = tempDir(t, 'wardgate-public-url-');
  const dir = join(tmp, 'data');
  const init = wardgate(['init', '-d', dir, '--name', 'Public URL', '--permit-dns', 'klinikum.internal', '--permit-ip', '127.58.0.0/16',
    '--public-url', PUBLIC, '--root-key-type', 'ecdsa-p256', '--rsa-key-type', 'rsa-2048'], env);
  t.equal(init.status, 0, init.stderr);

  const serve = spawnServe(t, ['-d', dir, '--listen', `${HOST}:${await freePort(HOST)}`]);
  await serve.ready;
  // The listener line prints just after the directory line.
  for (let i = 0; i < 50 && !/point to/.test(serve.stdout()); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(serve.stdout(), new RegExp(`CRL/OCSP/CA certificates: http://${HOST.replace(/\./g, '\\.')}:\\d+`), 'the listener itself runs where --listen says');
  t.match(serve.stdout(), `issued certificates point to: ${PUBLIC} (init --public-url)`);
  serve.child.kill('SIGTERM');
  await serve.exited;

  t.equal(JSON.parse(readFileSync(join(dir, 'ca', 'ca.json'), 'utf8')).distributionBaseUrl, PUBLIC, 'ca.json keeps the URL');
  const cert = join(tmp, 'ct1.pem');
  const issue = wardgate(['issue', '-d', dir, '--name', 'ct1.klinikum.internal', '--key-type', 'ecdsa-p256', '--key-out', join(tmp, 'ct1.key'), '--out', cert], env);
  t.equal(issue.status, 0, issue.stderr);
  const text = spawnSync('openssl', ['x509', '-in', cert, '-noout', '-ext', 'crlDistributionPoints,authorityInfoAccess'], { encoding: 'utf8' }).stdout;
  t.match(text, `URI:${PUBLIC}/crl/ecdsa-1.crl`);
  t.match(text, `OCSP - URI:${PUBLIC}/ocsp`);
  t.match(text, `CA Issuers - URI:${PUBLIC}/ca/ecdsa-1.der`);
  t.notMatch(text, HOST, 'not the listener address');
});
