import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateDeviceKey } from '../../src/pki/device-key.ts';
import type { KeyType } from '../../src/pki/key-types.ts';
import { identifierFromText } from '../../src/pki/names.ts';
import { splitPem } from '../../src/pki/pem.ts';
import { buildPkcs12, type Pkcs12Mode } from '../../src/pki/pkcs12.ts';
import { testCa } from '../helpers/ca.ts';
import { rejectsWithCode } from '../helpers/errors.ts';

// The real peer is the openssl CLI (OpenSSL 3): it must open both variants, find the key and the whole
// chain in order, and refuse a wrong password at the MAC.

type Ca = Awaited<ReturnType<typeof testCa>>['ca'];

function p12Dump(file: string, password: string, extra: string[] = []): { status: number | null; out: string } {
  const r = spawnSync('openssl', ['pkcs12', '-in', file, '-info', '-nodes', '-passin', `pass:${password}`, ...extra], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

const body = (pem: string) => pem.replace(/-----[A-Z ]+-----|\s/g, '');
const spkiOf = (keyPem: string) => createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' }).toString('hex');

async function material(ca: Ca, keyType: KeyType) {
  const key = generateDeviceKey(keyType);
  const issued = await ca.issue({ spki: key.spki, keyType, identifiers: [identifierFromText('ct1.klinikum.internal')], profile: 'dicom-node' });
  return { keyPem: key.privateKeyPem, chainPem: [...splitPem(issued.chainPem), ca.rootPem] };
}

t.test('openssl reads both variants for RSA and ECDSA keys: the key, and the chain in order up to the ECDSA root', async (t) => {
  const { ca, work } = await testCa(t, { rootKeyType: 'ecdsa-p256' });
  const expected: Record<Pkcs12Mode, RegExp[]> = {
    modern: [/MAC: sha256, Iteration 100000/, /PKCS7 Data\nCertificate bag/, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 100000, PRF hmacWithSHA256/],
    legacy: [/MAC: sha1, Iteration 2048/, /PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048/, /Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048/],
  };
  for (const keyType of ['rsa-2048', 'ecdsa-p256', 'ecdsa-p384'] as const) {
    const m = await material(ca, keyType);
    t.equal(m.chainPem.length, 3, 'leaf, intermediate, root');
    for (const mode of ['modern', 'legacy'] as const) {
      const label = `${keyType} ${mode}`;
      const file = join(work, `${keyType}-${mode}.p12`);
      writeFileSync(file, buildPkcs12({ ...m, password: 'pass-1', friendlyName: 'ct1.klinikum.internal', mode }).der);
      const dump = p12Dump(file, 'pass-1');
      t.equal(dump.status, 0, `${label}: openssl pkcs12 -info opens it without -legacy ${dump.status ? dump.out : ''}`);
      for (const re of expected[mode]) t.match(dump.out, re, `${label}: ${re.source}`);

      const certs = splitPem(dump.out).filter((b) => b.includes('CERTIFICATE'));
      t.same(certs.map(body), m.chainPem.map(body), `${label}: every certificate, leaf first, root last`);
      const keys = splitPem(dump.out).filter((b) => b.includes('PRIVATE KEY'));
      t.equal(keys.length, 1, `${label}: one key`);
      t.equal(spkiOf(keys[0]), spkiOf(m.keyPem), `${label}: the key has the original public key`);

      const ids = [...dump.out.matchAll(/localKeyID: ([0-9A-F ]+)/g)].map((x) => x[1].trim());
      t.equal(ids.length, 2, `${label}: localKeyID on the key bag and the leaf bag only`);
      t.equal(ids[0], ids[1], `${label}: the same localKeyID on both`);
      t.equal([...dump.out.matchAll(/friendlyName: ct1\.klinikum\.internal/g)].length, 2, `${label}: friendlyName on both`);
      t.match(dump.out, /Bag Attributes\n\s+localKeyID: [^\n]+\n\s+friendlyName: [^\n]+\nsubject=CN = ct1\.klinikum\.internal/, `${label}: the attributes sit on the leaf`);

      const wrong = p12Dump(file, 'pass-2');
      t.not(wrong.status, 0, `${label}: a wrong password fails`);
      t.match(wrong.out, /Mac verify error/, `${label}: at the MAC check`);
    }
  }
  const legacy = p12Dump(join(work, 'rsa-2048-legacy.p12'), 'pass-1', ['-legacy']);
  t.equal(legacy.status, 0, 'the legacy variant also opens with -legacy');

  const noKeys = spawnSync('openssl', ['pkcs12', '-in', join(work, 'ecdsa-p256-modern.p12'), '-nokeys', '-passin', 'pass:pass-1'], { encoding: 'utf8' });
  t.match(noKeys.stdout, /subject=CN = Test Klinikum Root CA[^\n]*\nissuer=CN = Test Klinikum Root CA/, '-nokeys lists the ECDSA root');
});

t.test('passwords are encoded as openssl does: non-ASCII, astral, and around the 64-byte block', async (t) => {
  const { ca, work } = await testCa(t, { rootKeyType: 'ecdsa-p256' });
  const m = await material(ca, 'ecdsa-p256');
  // The MAC and the 3DES key derive from the BMPString (UTF-16BE + NUL); PBKDF2 from UTF-8.
  const passwords = ['Grüße-Ω', 'a😀b', 'x'.repeat(31), 'y'.repeat(32), 'z'.repeat(70)];
  for (const password of passwords) {
    for (const mode of ['modern', 'legacy'] as const) {
      const file = join(work, 'pw.p12');
      writeFileSync(file, buildPkcs12({ ...m, password, mode }).der);
      const dump = p12Dump(file, password);
      t.equal(dump.status, 0, `${mode} ${JSON.stringify(password).slice(0, 12)}: opens ${dump.status ? dump.out : ''}`);
      t.equal(spkiOf(splitPem(dump.out).find((b) => b.includes('PRIVATE KEY')) ?? ''), spkiOf(m.keyPem), 'and the key decrypts');
    }
  }
});

t.test('unusable inputs are refused with PKCS12_INPUT_INVALID', async (t) => {
  const { ca } = await testCa(t, { rootKeyType: 'ecdsa-p256' });
  const m = await material(ca, 'rsa-2048');
  const other = generateDeviceKey('rsa-2048').privateKeyPem;
  await rejectsWithCode(t, () => buildPkcs12({ ...m, keyPem: other, password: 'p' }), 'PKCS12_INPUT_INVALID', /does not belong to the leaf/, 'a key of another certificate');
  const encrypted = createPrivateKey(m.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'k' }) as string;
  await rejectsWithCode(t, () => buildPkcs12({ ...m, keyPem: encrypted, password: 'p' }), 'PKCS12_INPUT_INVALID', /cannot be read/, 'an encrypted key');
  await rejectsWithCode(t, () => buildPkcs12({ ...m, keyPem: 'garbage', password: 'p' }), 'PKCS12_INPUT_INVALID', /cannot be read/, 'not a key');
  await rejectsWithCode(t, () => buildPkcs12({ ...m, password: '' }), 'PKCS12_INPUT_INVALID', /empty/, 'an empty password');
  await rejectsWithCode(t, () => buildPkcs12({ ...m, chainPem: [m.chainPem[0], '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'], password: 'p' }), 'PKCS12_INPUT_INVALID', /certificate 2 /, 'a malformed chain certificate');
  await rejectsWithCode(t, () => buildPkcs12({ ...m, chainPem: [], password: 'p' }), 'PKCS12_INPUT_INVALID', /no certificate/, 'no certificates');
});
