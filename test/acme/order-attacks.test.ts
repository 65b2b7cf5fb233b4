// An attacker with an ACME account on the LAN: the leaf must carry exactly the names the account proved,
// inside the CA's policy, whatever the CSR, the identifiers' spelling or other accounts' objects say.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPairSync, sign } from 'node:crypto';
import { acmeFixture } from '../helpers/acme-fixture.ts';
import { openssl } from '../helpers/openssl.ts';
import { derSequence, derTlv } from '../../src/pki/der.ts';
import { parseCsr } from '../../src/pki/csr.ts';
import { certIdOf } from '../../src/acme/ari.ts';

type Tap = { teardown: (fn: () => unknown) => void };
const P = 'urn:ietf:params:acme:error:';
const DNS = 'kiosk1.klinikum.internal';
const IP = '127.52.0.1';

/** base64url DER of a CSR made by openssl with a fresh P-256 key. */
function csrWith(dir: string, name: string, subj: string, addext: string[]): string {
  const out = join(dir, `${name}.csr`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-utf8', '-keyout', join(dir, `${name}.key`), '-out', out, '-outform', 'DER',
    '-subj', subj, ...addext.flatMap((e) => ['-addext', e])]);
  return readFileSync(out).toString('base64url');
}

/** An order for one IP and one DNS name, ready; the DNS name answers http-01 on the IP's device. */
async function readyOrder(t: Tap) {
  const f = await acmeFixture(t, { validation: { staticHosts: { [DNS]: [IP] } } as never });
  const c = await f.client();
  await c.register();
  const order = await f.authorize(c, [{ type: 'ip', value: IP }, { type: 'dns', value: DNS }]);
  const status = (await c.post(order.headers.location, undefined)).body.status;
  if (status !== 'ready') throw new Error(`order is ${status}, not ready`);
  return { f, c, order };
}

function leafText(dir: string, pem: string): string {
  const file = join(dir, 'leaf.pem');
  writeFileSync(file, pem.split(/(?<=-----END CERTIFICATE-----\n)/)[0]);
  return openssl(['x509', '-in', file, '-noout', '-text']);
}

t.test('finalize: a CSR naming anything but exactly the order\'s identifiers is badCSR', async (t) => {
  const { f, c, order } = await readyOrder(t);
  const both = `DNS:${DNS},IP:${IP}`;
  const refused: [string, string, string[]][] = [
    ['an extra DNS name', '/O=device', [`subjectAltName=${both},DNS:pacs.klinikum.internal`]],
    ['one identifier missing', '/O=device', [`subjectAltName=DNS:${DNS}`]],
    ['a CN not among the SANs', '/CN=pacs.klinikum.internal', [`subjectAltName=${both}`]],
    ['the IPv4 identifier as an IPv4-mapped IPv6 SAN', '/O=device', [`subjectAltName=DNS:${DNS},IP:::ffff:${IP}`]],
    ['the IP as a dNSName', '/O=device', [`subjectAltName=DNS:${DNS},DNS:${IP}`]],
    ['an email SAN', '/O=device', [`subjectAltName=${both},email:pacs@klinikum.internal`]],
    ['a URI SAN', '/O=device', [`subjectAltName=${both},URI:https://pacs.klinikum.internal/`]],
    ['an otherName SAN', '/O=device', [`subjectAltName=${both},otherName:1.3.6.1.4.1.311.20.2.3;UTF8:admin@klinikum.internal`]],
    ['a registeredID SAN', '/O=device', [`subjectAltName=${both},RID:1.2.3.4`]],
    ['a second CN beside one among the SANs', `/CN=${DNS}/CN=pacs.klinikum.internal`, [`subjectAltName=${both}`]],
    ['a Unicode CN that lower-cases to the order\'s name (KELVIN SIGN)', `/CN=\u212A${DNS.slice(1)}`, [`subjectAltName=${both}`]],
  ];
  for (const [what, subj, ext] of refused) {
    const csr = csrWith(f.work, what.replace(/\W+/g, '-'), subj, ext);
    const r = await c.post(order.body.finalize, { csr });
    t.equal(r.body.type, `${P}badCSR`, `${what}: ${r.text}`);
  }
  t.equal((await c.post(order.headers.location, undefined)).body.status, 'ready', 'a refused CSR leaves the order ready');

  // Case, a trailing dot and a duplicate are the same names; the leaf carries the order's spelling only.
  const ok = await c.post(order.body.finalize, { csr: csrWith(f.work, 'ok', '/CN=KIOSK1.Klinikum.Internal.', [`subjectAltName=DNS:Kiosk1.klinikum.INTERNAL.,IP:${IP},DNS:${DNS}`]) });
  t.equal(ok.body.status, 'valid', ok.text);
  const text = leafText(f.work, (await c.post(ok.body.certificate, undefined)).text);
  t.equal(/Subject Alternative Name:.*\n\s*(.*)\n/.exec(text)?.[1], `IP Address:${IP}, DNS:${DNS}`, 'the SANs are the order\'s names, once each, as the order spells them');
  t.equal(/Subject: (.*)/.exec(text)?.[1], `CN = ${DNS}`, 'and so is the CN');
});

t.test('finalize: the CSR\'s requested extensions are ignored; the profile alone shapes the leaf', async (t) => {
  const { f, c, order } = await readyOrder(t);
  const csr = csrWith(f.work, 'greedy', `/CN=${DNS}`, [
    `subjectAltName=DNS:${DNS},IP:${IP}`,
    'basicConstraints=critical,CA:TRUE,pathlen:0',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    'extendedKeyUsage=codeSigning,OCSPSigning,emailProtection,timeStamping',
    'nameConstraints=critical,permitted;DNS:evil.example',
    '1.3.6.1.4.1.55555.1=critical,DER:05:00',
    'tlsfeature=status_request',
    'subjectKeyIdentifier=01:02:03:04',
  ]);
  const fin = await c.post(order.body.finalize, { csr });
  t.equal(fin.body.status, 'valid', fin.text);
  const text = leafText(f.work, (await c.post(fin.body.certificate, undefined)).text);
  t.notMatch(text, /CA:TRUE/, 'no CA:TRUE');
  t.notMatch(text, /Certificate Sign|CRL Sign/, 'no keyCertSign / cRLSign');
  t.notMatch(text, /Code Signing|OCSP Signing|E-mail Protection|Time Stamping/, 'no EKU the CSR asked for');
  t.notMatch(text, /Name Constraints|evil\.example/, 'no name constraints');
  t.notMatch(text, /1\.3\.6\.1\.4\.1\.55555|TLS Feature|status_request/, 'no unknown or must-staple extension');
  t.notMatch(text, /01:02:03:04/, 'not the CSR\'s key identifier');
  t.match(text, /TLS Web Server Authentication/, 'the profile\'s EKU');
});

t.test('a SAN hidden after the GeneralNames inside the extension value is refused, not dropped', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const oid = (hex: string) => derTlv(0x06, Buffer.from(hex, 'hex'));
  const ascii = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
  const generalNames = (name: string) => derSequence([derTlv(0x82, ascii(name))]);
  const csrDer = (extnValue: Uint8Array) => {
    const san = derSequence([oid('551d11'), derTlv(0x04, extnValue)]);
    const extReq = derSequence([oid('2a864886f70d01090e'), derTlv(0x31, derSequence([san]))]);
    const info = derSequence([derTlv(0x02, Uint8Array.of(0)), derSequence([]), spki, derTlv(0xa0, extReq)]);
    const sig = sign('sha256', info, privateKey);
    return derSequence([info, derSequence([oid('2a8648ce3d040302')]), derTlv(0x03, Buffer.concat([Buffer.of(0), sig]))]);
  };
  const plain = await parseCsr(csrDer(generalNames(DNS)));
  t.same(plain.identifiers, [{ type: 'dns', value: DNS }], 'the hand-made CSR parses');
  const smuggled = csrDer(Buffer.concat([generalNames(DNS), generalNames('pacs.klinikum.internal')]));
  await t.rejects(parseCsr(smuggled), { code: 'CSR_INVALID' });
});

t.test('authorizations and orders belong to one account', async (t) => {
  const { f, c, order } = await readyOrder(t);
  const authzUrl = order.body.authorizations[0];
  const authz = await c.post(authzUrl, undefined);
  const other = await f.client();
  await other.register();
  t.equal((await other.post(authzUrl, undefined)).body.type, `${P}unauthorized`, 'another account cannot read the authorization');
  t.equal((await other.post(authz.body.challenges[0].url, {})).body.type, `${P}unauthorized`, 'nor answer its challenge');
  t.equal((await other.post(authzUrl, { status: 'deactivated' })).body.type, `${P}unauthorized`, 'nor deactivate it');
  const csr = csrWith(f.work, 'steal', '/O=device', [`subjectAltName=DNS:${DNS},IP:${IP}`]);
  t.equal((await other.post(order.body.finalize, { csr })).body.type, `${P}unauthorized`, 'nor finalize the order');
  const own = await other.order([{ type: 'ip', value: IP }]);
  t.equal(own.status, 201);
  t.equal((await other.post(own.body.authorizations[0], undefined)).body.status, 'pending', 'the same identifier starts unproven for another account');
  t.equal(own.body.status, 'pending');

  // A ready order whose authorization is deactivated cannot be finalized (§7.5.2).
  t.equal((await c.post(authzUrl, { status: 'deactivated' })).body.status, 'deactivated');
  const fin = await c.post(order.body.finalize, { csr });
  t.equal(fin.status, 403);
  t.equal(fin.body.type, `${P}orderNotReady`);
  t.equal((await c.post(order.headers.location, undefined)).body.status, 'invalid');
  t.equal(f.ca.store.listCertificates().length, 0, 'nothing issued');
});

t.test('newOrder: identifiers are ASCII; a Unicode spelling is not folded into another name', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  await c.register();
  const r = await c.order([{ type: 'dns', value: `\u212A${DNS.slice(1)}` }]);
  t.equal(r.body.type, `${P}rejectedIdentifier`, r.text);
  const nbsp = await c.order([{ type: 'dns', value: `${DNS}\u00a0` }]);
  t.equal(nbsp.body.type, `${P}rejectedIdentifier`, nbsp.text);
  const punycode = await c.order([{ type: 'dns', value: 'xn--bcher-kva.klinikum.internal' }]);
  t.equal(punycode.status, 201, 'an A-label is an ASCII name like any other');
  const mapped = await c.order([{ type: 'ip', value: `::ffff:${IP}` }]);
  t.equal(mapped.body.type, `${P}rejectedIdentifier`, 'an IPv4-mapped IPv6 address is not the IPv4 address the policy permits');
});

t.test('replaces: only a certificate of this account that shares a name', async (t) => {
  const { f, c, order } = await readyOrder(t);
  const fin = await c.post(order.body.finalize, { csr: csrWith(f.work, 'first', '/O=device', [`subjectAltName=DNS:${DNS},IP:${IP}`]) });
  t.equal(fin.body.status, 'valid', fin.text);
  const pem = (await c.post(fin.body.certificate, undefined)).text.split(/(?<=-----END CERTIFICATE-----\n)/)[0];
  const certId = certIdOf(pem);
  const unrelated = await c.order([{ type: 'ip', value: '127.52.0.2' }], { replaces: certId });
  t.equal(unrelated.body.type, `${P}malformed`, 'no shared identifier');
  const other = await f.client();
  await other.register();
  t.equal((await other.order([{ type: 'ip', value: IP }], { replaces: certId })).body.type, `${P}unauthorized`, "another account's certificate");
  // RFC 9773 §4.2: a revoked certificate's window is in the past, so its renewal names it: allowed.
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64url');
  t.equal((await c.post(c.directory.revokeCert, { certificate: der, reason: 1 })).status, 200);
  t.equal((await c.order([{ type: 'ip', value: IP }], { replaces: certId })).status, 201, 'a revoked certificate of this account may be replaced');
});
