/**
 * The ACME server's own TLS certificate carries the CRL and OCSP URLs of the distribution listener like
 * every other certificate, also on a fresh CA's first start (found by running the docs: it was issued
 * before the listener's URL was known, so the first one had none).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { TEST_PASSPHRASE } from '../helpers/ca.ts';
import { wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { freePort } from '../interop/fixtures/peers.ts';
import { spawnServe } from '../interop/fixtures/serve-process.ts';

const HOST = '127.31.7.20';

t.test("a fresh CA's first serve: the server certificate points to the distribution listener", async (t) => {
  const dir = join(tempDir(t, 'wardgate-serve-own-'), 'data');
  const init = wardgate(['init', '-d', dir, '--name', 'Own Cert', '--permit-ip', '127.0.0.0/8', '--root-key-type', 'ecdsa-p256', '--rsa-key-type', 'rsa-2048'], { WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE });
  t.equal(init.status, 0, init.stderr);
  const port = await freePort(HOST);
  const httpPort = await freePort(HOST);
  const server = spawnServe(t, ['--data-dir', dir, '--listen', `${HOST}:${port}`, '--http-listen', `${HOST}:${httpPort}`]);
  await server.ready;
  const der = await new Promise<Buffer>((resolve, reject) => {
    const s = tls.connect({ host: HOST, port, ca: readFileSync(join(dir, 'ca', 'root.pem')), checkServerIdentity: () => undefined }, () => {
      resolve(s.getPeerCertificate().raw);
      s.destroy();
    });
    s.once('error', reject);
  });
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
  const text = spawnSync('openssl', ['x509', '-noout', '-ext', 'crlDistributionPoints,authorityInfoAccess'], { input: pem, encoding: 'utf8' }).stdout;
  t.match(text, `URI:http://${HOST}:${httpPort}/crl/`, 'CRL distribution point on the plain-HTTP listener');
  t.match(text, `OCSP - URI:http://${HOST}:${httpPort}/ocsp`, 'OCSP responder URL');
  server.child.kill('SIGTERM');
  await server.exited;
});
