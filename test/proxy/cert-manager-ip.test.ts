/**
 * A gateway certificate for an IP address (peers that reach a device by address need an iPAddress
 * SAN): the manager orders an RFC 8738 `ip` identifier, answers http-01 on that address, and gets a leaf
 * for it, from a real wardgate ACME server over HTTPS. acme-client's `auto`, used before, ordered `dns`
 * identifiers only, so the CA refused an address ("is not a valid DNS name").
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startServer } from '../../src/acme/serve.ts';
import { CertificateAuthority } from '../../src/pki/ca.ts';
import { Http01Responder } from '../../src/proxy/cert-manager/http01.ts';
import { CertManager } from '../../src/proxy/cert-manager/manager.ts';
import { TEST_PASSPHRASE } from '../helpers/ca.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort } from './fixtures/peers.ts';

const SERVER = '127.45.1.1';
const DEVICE = '127.45.1.2';

t.test('an IP address and a DNS name in one gateway certificate', async (t) => {
  const work = tempDir(t);
  const ca = await CertificateAuthority.init(join(work, 'data'), {
    name: 'Wardgate IP test', policy: { permitDns: ['wardgate.test'], permitIp: ['127.0.0.0/8'] }, rootKeyType: 'ecdsa-p256', rsaKeyType: 'rsa-2048', passphrase: TEST_PASSPHRASE,
  });
  t.teardown(() => ca.close());
  const http01Port = await freeLoopbackPort();
  const server = await startServer(ca, {
    listen: { host: SERVER, port: await freeLoopbackPort() }, httpListen: { host: SERVER, port: 0 },
    acme: { validation: { http01Port, staticHosts: { 'gw.wardgate.test': [DEVICE] }, timeoutMs: 5000 } },
  });
  t.teardown(() => server.close());
  const http01 = new Http01Responder({ host: DEVICE, port: http01Port });
  t.teardown(() => http01.stop());
  const manager = new CertManager({
    directoryUrl: server.directoryUrl, names: [DEVICE, 'gw.wardgate.test'], stateDir: join(work, 'acme'), http01,
    directoryCa: readFileSync(ca.layout.rootCert, 'utf8'), keyTypes: ['ecdsa', 'rsa'],
  });
  t.teardown(() => manager.stop());
  const creds = await withTimeout(manager.start(), 60_000, 'enrollment');
  t.equal(creds.pairs.length, 2, 'ECDSA and RSA');
  for (const pair of creds.pairs) {
    const leaf = new X509Certificate(pair.cert);
    t.match(leaf.subjectAltName, `IP Address:${DEVICE}`, 'the address as an iPAddress SAN');
    t.match(leaf.subjectAltName, 'DNS:gw.wardgate.test', 'and the name');
    t.ok(leaf.checkIP(DEVICE), 'a client connecting by address accepts it');
  }
});
