import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCsr } from '../../src/pki/csr.ts';
import { rejectsWithCode } from '../helpers/errors.ts';
import { testCa } from '../helpers/ca.ts';
import { makeCsr, openssl, verifyChain } from '../helpers/openssl.ts';

async function issueFromCsr(ca: Awaited<ReturnType<typeof testCa>>['ca'], csrPath: string, profile = 'dicom-node') {
  const csr = await parseCsr(readFileSync(csrPath));
  return ca.issue({ spki: csr.spki, keyType: csr.keyType, identifiers: csr.identifiers, profile });
}

t.test('ECDSA and RSA leaves chain through intermediates of their own key family and verify with openssl', async (t) => {
  const { ca, work } = await testCa(t, { rootKeyType: 'rsa-4096' });
  for (const [key, family] of [['ec256', 'ecdsa'], ['ec384', 'ecdsa'], ['rsa2048', 'rsa'], ['rsa3072', 'rsa']] as const) {
    const { csr } = makeCsr(work, `dev-${key}`, { key, cn: 'ct1.rad.klinikum.internal', sans: ['DNS:ct1.rad.klinikum.internal', 'IP:10.20.0.5'] });
    const issued = await issueFromCsr(ca, csr);
    t.equal(issued.record.issuerId, `${family}-1`, `${key} leaf is issued by the ${family} intermediate`);
    const [leaf, mid] = issued.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/);
    const v = verifyChain(ca.rootPem, mid, leaf, work, ['-purpose', 'sslserver', '-verify_hostname', 'ct1.rad.klinikum.internal']);
    t.ok(v.ok, `${key} chain verifies: ${v.output.trim()}`);
    const text = openssl(['x509', '-noout', '-text'], leaf);
    if (family === 'rsa') t.match(text, /Digital Signature, Key Encipherment/, 'RSA leaf: digitalSignature + keyEncipherment');
    else t.match(text, /Key Usage: critical\s+Digital Signature\n/, 'ECDSA leaf: digitalSignature only');
    t.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/, 'dicom-node has serverAuth and clientAuth');
    t.match(text, /DNS:ct1\.rad\.klinikum\.internal, IP Address:10\.20\.0\.5/);
  }
});

t.test('name constraints with excluded subtrees for every name type not permitted', async (t) => {
  const { ca } = await testCa(t, { policy: { permitDns: [], permitIp: ['10.20.0.0/16'] } });
  for (const pem of [ca.rootPem, ca.issuerPem('ecdsa-1'), ca.issuerPem('rsa-1')]) {
    const text = openssl(['x509', '-noout', '-text'], pem);
    t.match(text, /X509v3 Name Constraints: critical\s+Permitted:\s+IP:10\.20\.0\.0\/255\.255\.0\.0\s+Excluded:\s+DNS:\s*\n/);
  }
  const dnsOnly = await testCa(t, { policy: { permitDns: ['.rad.klinikum.internal'], permitIp: [] }, nameConstraintsCritical: false });
  const text = openssl(['x509', '-noout', '-text'], dnsOnly.ca.issuerPem('ecdsa-1'));
  t.match(text, /X509v3 Name Constraints: \n\s+Permitted:\s+DNS:rad\.klinikum\.internal\s+Excluded:\s+IP:0\.0\.0\.0\/0\.0\.0\.0\s+IP:0:0:0:0:0:0:0:0\/0:0:0:0:0:0:0:0/,
    'non-critical switch, leading dot normalised, IPv4 and IPv6 excluded');
});

t.test('openssl itself rejects a leaf outside the constraints even if the CA signed it', async (t) => {
  // Simulates a leaked intermediate key: sign a public name directly, bypassing the policy check.
  const { ca, work } = await testCa(t);
  const { signLeaf } = await import('../../src/pki/leaf.ts');
  const { csr } = makeCsr(work, 'rogue', { cn: 'www.example.com', sans: ['DNS:www.example.com'] });
  const parsed = await parseCsr(readFileSync(csr));
  const issuer = await ca.activeIssuer('ecdsa');
  const { cert } = await signLeaf(issuer, { spki: parsed.spki, keyType: parsed.keyType, identifiers: parsed.identifiers, profile: ca.profiles.get('web-server') });
  const v = verifyChain(ca.rootPem, ca.issuerPem('ecdsa-1'), cert.toString('pem') + '\n', work);
  t.notOk(v.ok, 'openssl verify fails');
  t.match(v.output, /name constraint|permitted subtree/i);
});

t.test('refusals are typed errors with one-line messages', async (t) => {
  const { ca, work } = await testCa(t);
  const cases: { name: string; key?: NonNullable<Parameters<typeof makeCsr>[2]>['key']; cn?: string; sans?: string[]; code: string; msg: RegExp }[] = [
    { name: 'rsa1024', key: 'rsa1024', cn: 'a.klinikum.internal', code: 'CSR_KEY_REJECTED', msg: /RSA-1024 is not allowed/ },
    { name: 'secp256k1', key: 'secp256k1', cn: 'a.klinikum.internal', code: 'CSR_KEY_REJECTED', msg: /secp256k1/ },
    { name: 'ed25519', key: 'ed25519', cn: 'a.klinikum.internal', code: 'CSR_KEY_REJECTED', msg: /ed25519/ },
    { name: 'public-dns', cn: 'www.example.com', code: 'NAME_NOT_PERMITTED', msg: /www\.example\.com is outside/ },
    { name: 'public-ip', cn: 'a.klinikum.internal', sans: ['DNS:a.klinikum.internal', 'IP:8.8.8.8'], code: 'NAME_NOT_PERMITTED', msg: /8\.8\.8\.8 is outside/ },
    { name: 'suffix-trick', cn: 'evilklinikum.internal', code: 'NAME_NOT_PERMITTED', msg: /evilklinikum/ },
    { name: 'email-san', cn: 'a.klinikum.internal', sans: ['email:x@klinikum.internal'], code: 'CSR_INVALID', msg: /email/ },
    { name: 'no-names', code: 'CSR_INVALID', msg: /names no DNS name/ },
  ];
  for (const c of cases) {
    const { csr } = makeCsr(work, c.name, { key: c.key, cn: c.cn, sans: c.sans });
    await rejectsWithCode(t, issueFromCsr(ca, csr), c.code, c.msg, c.name);
  }
  const { csr } = makeCsr(work, 'tampered', { cn: 'a.klinikum.internal' });
  const der = Buffer.from(openssl(['req', '-in', csr, '-outform', 'DER']), 'binary');
  const raw = readFileSync(csr, 'utf8');
  const b64 = raw.replace(/-----[^-]+-----|\s/g, '');
  const bytes = Buffer.from(b64, 'base64');
  bytes[bytes.length - 5] ^= 0xff; // flip a signature byte
  await t.rejects(parseCsr(bytes), { code: 'CSR_INVALID' }, 'a CSR whose signature does not verify');
  await t.rejects(parseCsr(Buffer.from('not a csr')), { code: 'CSR_INVALID' }, 'garbage');
  t.ok(der.length > 0);
  await t.rejects(ca.issue({ ...(await parseCsr(readFileSync(makeCsr(work, 'wp', { cn: 'a.klinikum.internal' }).csr))), profile: 'no-such' } as never), { code: 'PROFILE_UNKNOWN' });
});

t.test('CRL lists revoked certificates with reasons and parses with openssl', async (t) => {
  const { ca, work } = await testCa(t);
  const a = await issueFromCsr(ca, makeCsr(work, 'a', { cn: 'a.klinikum.internal' }).csr);
  const b = await issueFromCsr(ca, makeCsr(work, 'b', { cn: 'b.klinikum.internal' }).csr);
  ca.revoke(a.record.serial, 1);
  t.throws(() => ca.revoke(a.record.serial, 1), { code: 'CERT_ALREADY_REVOKED' });
  t.throws(() => ca.revoke('abcdef', 1), { code: 'CERT_NOT_FOUND' });
  const { toPem } = await import('../../src/pki/pem.ts');
  const crl1 = await ca.crl('ecdsa-1');
  const crl2 = await ca.crl('ecdsa-1');
  const text = openssl(['crl', '-noout', '-text'], toPem('X509 CRL', crl2.rawData));
  t.match(text, new RegExp(a.record.serial, 'i'), 'revoked serial listed');
  t.notMatch(text, new RegExp(b.record.serial, 'i'), 'valid serial not listed');
  t.match(text, /Key Compromise/);
  t.match(text, /CRL Number: \n\s+2/, 'CRL numbers increase');
  t.ok(crl1);
  writeFileSync(join(work, 'crl.pem'), toPem('X509 CRL', crl2.rawData));
  writeFileSync(join(work, 'chain.pem'), ca.rootPem + ca.issuerPem('ecdsa-1'));
  writeFileSync(join(work, 'a.pem'), a.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0]);
  const r = (await import('node:child_process')).spawnSync('openssl', ['verify', '-crl_check', '-CAfile', join(work, 'chain.pem'), '-CRLfile', join(work, 'crl.pem'), join(work, 'a.pem')], { encoding: 'utf8' });
  t.match(r.stdout + r.stderr, /certificate revoked/, 'openssl verify -crl_check reports the revocation');
});
