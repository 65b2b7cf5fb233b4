import { webcrypto } from 'node:crypto';
import t from 'tap';
import { keyAuthorizationDigest, resolveValidationOptions, validateChallenge } from '../../../src/acme/challenges/index.ts';
import { x509 } from '../../../src/pki/x509.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { acmeTlsCert, tlsDevice } from './fixtures/device.ts';

// Addresses of this file: 127.46.2.0/24.
// Certificates a hostile device could present for tls-alpn-01: RFC 8737 §3 asks for a subjectAltName with the
// identifier "and no other entries" and one critical acmeIdentifier; anything else is a wrong answer
// (incorrectResponse), never accepted and never a serverInternal error of the CA.
const TOKEN = 'tok-hostile-0123456789';
const KEYAUTH = `${TOKEN}.thumbprint-hostile`;
const DIGEST = keyAuthorizationDigest(KEYAUTH);
const acmeIdExt = `1.3.6.1.5.5.7.1.31=critical,DER:0420${DIGEST.toString('hex')}`;

/** openssl cannot write an extension twice; @peculiar/x509 can, and Node's TLS serves such a certificate. */
async function duplicateExtensionCert(ip: string, twice: 'san' | 'acmeIdentifier'): Promise<{ key: string; cert: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as CryptoKeyPair;
  const acmeId = () => new x509.Extension('1.3.6.1.5.5.7.1.31', true, Buffer.concat([Buffer.from([0x04, 0x20]), DIGEST]));
  const san = new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: ip }]);
  const extensions = twice === 'san'
    ? [san, new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'other.klinikum.internal' }]), acmeId()]
    : [san, acmeId(), acmeId()];
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=acme-tls-alpn-01', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: alg, keys, extensions,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  return { key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`, cert: cert.toString('pem') };
}

t.test('tls-alpn-01 refuses hostile certificates from a real TLS device', async (t) => {
  const dir = tempDir(t);
  const base = resolveValidationOptions({ dnsResolvers: ['127.46.2.250:9'], timeoutMs: 2000, attempts: 1 });
  const run = async (ip: string, creds: { key: string; cert: string }) => {
    const dev = await tlsDevice(t, ip, creds);
    return validateChallenge('tls-alpn-01', { type: 'ip', value: ip }, TOKEN, KEYAUTH, { ...base, tlsAlpn01Port: dev.port });
  };

  t.test('an extra otherName next to the identifier is another entry', async (t) => {
    const r = await run('127.46.2.10', acmeTlsCert(dir, 'othername', ['subjectAltName=otherName:1.2.3.4;UTF8:extra,IP:127.46.2.10', acmeIdExt]));
    t.match(r, { ok: false, problem: { type: 'incorrectResponse', detail: /subjectAltName is \[otherName, ip:127\.46\.2\.10\]; RFC 8737 §3 requires exactly one iPAddress/ } });
  });

  t.test('a second subjectAltName extension is refused, not ignored', async (t) => {
    const r = await run('127.46.2.11', await duplicateExtensionCert('127.46.2.11', 'san'));
    t.match(r, { ok: false, problem: { type: 'incorrectResponse', detail: /2 subjectAltName extensions/ } });
  });

  t.test('a second acmeIdentifier extension is refused, not ignored', async (t) => {
    const r = await run('127.46.2.12', await duplicateExtensionCert('127.46.2.12', 'acmeIdentifier'));
    t.match(r, { ok: false, problem: { type: 'incorrectResponse', detail: /2 acmeIdentifier extensions/ } });
  });

  const undecodable: Array<[string, string]> = [
    ['not a SEQUENCE', '0500'],
    ['an x400Address', '3004a3020500'],
    ['an ediPartyName', '3004a5020500'],
  ];
  for (const [name, der] of undecodable) {
    t.test(`a subjectAltName holding ${name} is the device's wrong answer, not a CA error`, async (t) => {
      const ip = `127.46.2.${20 + undecodable.findIndex(([n]) => n === name)}`;
      const r = await run(ip, acmeTlsCert(dir, `undecodable-${der}`, [`2.5.29.17=DER:${der}`, acmeIdExt]));
      t.match(r, { ok: false, problem: { type: 'incorrectResponse', detail: /subjectAltName extension is not a valid GeneralNames sequence/ } });
    });
  }

  t.test('well-formed answers still validate; dNSName compared case-insensitively (RFC 8737 §3)', async (t) => {
    const dev = await tlsDevice(t, '127.46.2.30', acmeTlsCert(dir, 'upper', ['subjectAltName=DNS:CT.Klinikum.Internal', acmeIdExt]));
    const opts = { ...base, tlsAlpn01Port: dev.port, staticHosts: { 'ct.klinikum.internal': ['127.46.2.30'] } };
    t.same(await validateChallenge('tls-alpn-01', { type: 'dns', value: 'ct.klinikum.internal' }, TOKEN, KEYAUTH, opts), { ok: true, addressUsed: '127.46.2.30' });
    const ok = await tlsDevice(t, '127.46.2.31', acmeTlsCert(dir, 'ok', ['subjectAltName=IP:127.46.2.31', acmeIdExt]));
    t.same(await validateChallenge('tls-alpn-01', { type: 'ip', value: '127.46.2.31' }, TOKEN, KEYAUTH, { ...base, tlsAlpn01Port: ok.port }), { ok: true, addressUsed: '127.46.2.31' });
  });
});
