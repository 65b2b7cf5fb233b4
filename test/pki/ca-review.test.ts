import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, generateKeyPairSync, generatePrimeSync, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCsr } from '../../src/pki/csr.ts';
import { derSequence, derTlv } from '../../src/pki/der.ts';
import { FileKeyStore, pbkdf2Iterations } from '../../src/pki/key-store.ts';
import { derOid } from '../../src/pki/leaf-encoding.ts';
import { toPem } from '../../src/pki/pem.ts';
import { testCa, TEST_PASSPHRASE } from '../helpers/ca.ts';
import { rejectsWithCode } from '../helpers/errors.ts';
import { openssl, verifyChain } from '../helpers/openssl.ts';
import { tempDir } from '../helpers/tmp.ts';

/** Security review of the CA core (brief h18): one test per flaw found, each failing on the code before its fix. */

const unsignedBytes = (n: bigint, len: number) => Buffer.from(n.toString(16).padStart(len * 2, '0'), 'hex');
const derUint = (b: Uint8Array) => derTlv(0x02, b[0] & 0x80 ? Uint8Array.of(0, ...b) : b);
const toBig = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex')}`);
function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  for (b %= m; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
}

/**
 * A PKCS#10 request for the RSA public key (n, e), signed sha256WithRSAEncryption with the signature
 * `sign(EM)` computes from the PKCS#1 v1.5 encoded message; returns undefined when `sign` cannot.
 */
function rsaCsr(n: bigint, e: bigint, cn: string, sign: (em: bigint) => bigint | undefined): Uint8Array | undefined {
  const spki = derSequence([
    derSequence([derOid('1.2.840.113549.1.1.1'), Uint8Array.of(5, 0)]),
    derTlv(0x03, Uint8Array.of(0, ...derSequence([derUint(unsignedBytes(n, 256)), derUint(unsignedBytes(e, 1))]))),
  ]);
  const subject = derSequence([derTlv(0x31, derSequence([derOid('2.5.4.3'), derTlv(0x0c, Buffer.from(cn))]))]);
  const info = derSequence([derTlv(0x02, Uint8Array.of(0)), subject, spki, derTlv(0xa0, new Uint8Array())]);
  const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(info).digest()]);
  const em = toBig(Buffer.concat([Buffer.of(0, 1), Buffer.alloc(256 - 3 - digestInfo.length, 0xff), Buffer.of(0), digestInfo]));
  const s = sign(em);
  if (s === undefined) return undefined;
  return derSequence([info, derSequence([derOid('1.2.840.113549.1.1.11'), Uint8Array.of(5, 0)]), derTlv(0x03, Uint8Array.of(0, ...unsignedBytes(s, 256)))]);
}

t.test('an RSA CSR key with public exponent 1 or 2 is refused; e = 3 and 65537 are still accepted', async (t) => {
  const dir = tempDir(t);
  // e = 1: the "signature" is the encoded message itself, for any modulus; no private key exists at all.
  const n1 = toBig(randomBytes(256)) | (1n << 2047n) | 1n;
  const e1 = rsaCsr(n1, 1n, 'e1.klinikum.internal', (em) => em)!;
  writeFileSync(join(dir, 'e1.csr'), toPem('CERTIFICATE REQUEST', e1));
  // A real peer agrees the request is self-consistent: only the exponent check can refuse it.
  t.match(spawnSync('openssl', ['req', '-in', join(dir, 'e1.csr'), '-verify', '-noout'], { encoding: 'utf8' }).stderr, /verify OK/i, 'openssl: e=1 CSR self-signature verifies');
  await rejectsWithCode(t, parseCsr(e1), 'CSR_KEY_REJECTED', /RSA-2048 with public exponent 1 is not allowed/, 'e = 1');

  // e = 2 over a prime p = 3 (mod 4): a square root of EM is EM^((p+1)/4), when EM is a quadratic residue.
  let p: bigint;
  do p = generatePrimeSync(2048, { bigint: true }); while (p % 4n !== 3n);
  let e2: Uint8Array | undefined;
  for (let i = 0; !e2; i++) {
    e2 = rsaCsr(p, 2n, `e2-${i}.klinikum.internal`, (em) => (modPow(em, (p - 1n) / 2n, p) === 1n ? modPow(em, (p + 1n) / 4n, p) : undefined));
  }
  await rejectsWithCode(t, parseCsr(e2), 'CSR_KEY_REJECTED', /public exponent 2 is not allowed/, 'e = 2');

  const key3 = join(dir, 'e3.key');
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-pkeyopt', 'rsa_keygen_pubexp:3', '-out', key3]);
  const csr3 = openssl(['req', '-new', '-key', key3, '-subj', '/CN=e3.klinikum.internal']);
  t.equal((await parseCsr(csr3)).keyType, 'rsa-2048', 'e = 3 (BR §6.1.6 minimum) accepted');
  const key65537 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  writeFileSync(join(dir, 'e65537.key'), key65537);
  t.equal((await parseCsr(openssl(['req', '-new', '-key', join(dir, 'e65537.key'), '-subj', '/CN=f4.klinikum.internal']))).keyType, 'rsa-2048', 'e = 65537 accepted');
});

t.test('an EC CSR key with explicit curve parameters is refused; the same key with its named curve is issued', async (t) => {
  const { ca, work } = await testCa(t);
  const explicitKey = join(work, 'explicit.key');
  openssl(['ecparam', '-name', 'prime256v1', '-param_enc', 'explicit', '-genkey', '-noout', '-out', explicitKey]);
  const explicitCsr = openssl(['req', '-new', '-key', explicitKey, '-subj', '/CN=ex.klinikum.internal']);
  t.match(openssl(['req', '-noout', '-text'], explicitCsr), /Field Type: prime-field/, 'the CSR carries explicit parameters');
  await rejectsWithCode(t, parseCsr(explicitCsr), 'CSR_KEY_REJECTED', /explicit curve parameters/, 'explicit P-256 parameters');

  // The same key written with its curve's OID is an ordinary P-256 key, and its leaf passes strict verification.
  const namedKey = join(work, 'named.key');
  openssl(['ec', '-in', explicitKey, '-param_enc', 'named_curve', '-out', namedKey]);
  const csr = await parseCsr(openssl(['req', '-new', '-key', namedKey, '-subj', '/CN=ex.klinikum.internal']));
  const issued = await ca.issue({ spki: csr.spki, keyType: csr.keyType, identifiers: csr.identifiers, profile: 'dicom-node' });
  const [leaf, mid] = issued.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/);
  const v = verifyChain(ca.rootPem, mid, leaf, work, ['-x509_strict']);
  t.ok(v.ok, v.output);
});

t.test('CA key files use PBKDF2-HMAC-SHA256 with 600,000 rounds, openssl decrypts them, and older 2,048-round files still open', async (t) => {
  const { ca, dir } = await testCa(t);
  ca.close();
  const keysDir = join(dir, 'ca', 'keys');
  const files = readdirSync(keysDir);
  t.ok(files.length >= 3, 'root and two issuer keys');
  for (const f of files) {
    const file = join(keysDir, f);
    const parsed = openssl(['asn1parse', '-in', file]);
    t.match(parsed, /:PBKDF2\n[\s\S]*?INTEGER\s+:([0-9A-F]+)\n[\s\S]*?:hmacWithSHA256/, `${f}: PBKDF2-HMAC-SHA256`);
    const rounds = parseInt(/:PBKDF2\n[\s\S]*?INTEGER\s+:([0-9A-F]+)/.exec(parsed)![1], 16);
    t.ok(rounds >= 600_000, `${f}: ${rounds} PBKDF2 rounds`);
    // The passphrase reaches openssl through its environment, never its argv.
    const r = spawnSync('openssl', ['pkey', '-in', file, '-passin', 'env:WG_TEST_PASS', '-noout'], { encoding: 'utf8', env: { ...process.env, WG_TEST_PASS: TEST_PASSPHRASE } });
    t.equal(r.status, 0, `${f}: openssl decrypts it: ${r.stderr}`);
  }

  // A key file as Node's own PKCS#8 export wrote it (OpenSSL's default 2,048 rounds) opens unchanged.
  const legacyDir = tempDir(t);
  const legacy = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: TEST_PASSPHRASE }) as string;
  t.match(openssl(['asn1parse'], legacy), /INTEGER\s+:0800\n/, 'legacy file: 2,048 rounds');
  writeFileSync(join(legacyDir, 'legacy-1.key.pem'), legacy, { mode: 0o600 });
  t.equal(pbkdf2Iterations(legacy), 2048, 'pbkdf2Iterations reads the legacy count');
  const handle = await new FileKeyStore(legacyDir, TEST_PASSPHRASE).get('legacy-1');
  t.equal(handle.type, 'ecdsa-p256');
  // Opened once, it is re-encrypted with the current count: same key, still mode 0600.
  const upgraded = readFileSync(join(legacyDir, 'legacy-1.key.pem'), 'utf8');
  t.equal(pbkdf2Iterations(upgraded), 600_000, 'the legacy file was re-encrypted with 600,000 rounds on open');
  t.equal(statSync(join(legacyDir, 'legacy-1.key.pem')).mode & 0o777, 0o600);
  const before = createPrivateKey({ key: legacy, passphrase: TEST_PASSPHRASE }).export({ format: 'der', type: 'pkcs8' });
  const after = createPrivateKey({ key: upgraded, passphrase: TEST_PASSPHRASE }).export({ format: 'der', type: 'pkcs8' });
  t.ok(before.equals(after), 'the same private key');
  const again = await new FileKeyStore(legacyDir, TEST_PASSPHRASE).get('legacy-1');
  t.equal(again.type, 'ecdsa-p256', 'and it opens again');
  t.equal(readFileSync(join(legacyDir, 'legacy-1.key.pem'), 'utf8'), upgraded, 'a current file is not rewritten');
});
