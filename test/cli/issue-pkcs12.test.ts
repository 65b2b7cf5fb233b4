import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitPem } from '../../src/pki/pem.ts';
import { wardgate } from '../helpers/cli.ts';
import { makeCsr } from '../helpers/openssl.ts';
import { tempDir } from '../helpers/tmp.ts';

const env = { WARDGATE_CA_PASSPHRASE: 'cli-test-passphrase' };
const body = (pem: string) => pem.replace(/-----[A-Z ]+-----|\s/g, '');
const spkiOf = (keyPem: string) => createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' }).toString('hex');

function p12Info(file: string, password: string): { status: number | null; out: string } {
  const r = spawnSync('openssl', ['pkcs12', '-in', file, '-info', '-nodes', '-passin', `pass:${password}`], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

function initCa(t: Parameters<typeof tempDir>[0]): { work: string; dir: string; issued: () => number } {
  const work = tempDir(t);
  const dir = join(work, 'data');
  const init = wardgate(['init', '--data-dir', dir, '--name', 'P12 Klinikum', '--permit-dns', 'klinikum.internal', '--root-key-type', 'ecdsa-p256', '--rsa-key-type', 'rsa-2048'], env);
  if (init.status !== 0) throw new Error(init.stderr);
  return { work, dir, issued: () => (JSON.parse(wardgate(['list', '--data-dir', dir, '--json'], env).stdout) as unknown[]).length };
}

t.test('issue --pkcs12 bundles an ECDSA key with the whole chain, the ECDSA root included; --pkcs12-legacy writes 3DES/SHA-1', async (t) => {
  const { work, dir } = initCa(t);
  const root = readFileSync(join(dir, 'ca', 'root.pem'), 'utf8');
  for (const [keyType, legacy] of [['ecdsa-p256', false], ['ecdsa-p384', true], ['rsa-2048', true]] as const) {
    const label = `${keyType}${legacy ? ' legacy' : ''}`;
    const [p12, key, pem] = ['p12', 'key', 'pem'].map((ext) => join(work, `${keyType}-${legacy}.${ext}`));
    const made = wardgate(['issue', '--data-dir', dir, '--name', 'us1.klinikum.internal', '--key-type', keyType, '--key-out', key, '--out', pem, '--pkcs12', p12, ...(legacy ? ['--pkcs12-legacy'] : [])], { ...env, WARDGATE_P12_PASSWORD: 'p12pass' });
    t.equal(made.status, 0, `${label}: exits 0 ${made.stderr}`);
    t.notMatch(made.stdout, /not in the \.p12|password:/i, `${label}: no "root omitted" note, no generated password`);
    const info = p12Info(p12, 'p12pass');
    t.equal(info.status, 0, `${label}: openssl opens it ${info.status ? info.out : ''}`);
    t.match(info.out, legacy ? /MAC: sha1, Iteration 2048/ : /MAC: sha256, Iteration 100000/, `${label}: the MAC of the chosen variant`);
    t.match(info.out, legacy ? /Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC/ : /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC/, `${label}: the key encryption of the chosen variant`);
    const certs = splitPem(info.out).filter((b) => b.includes('CERTIFICATE')).map(body);
    t.same(certs, [...splitPem(readFileSync(pem, 'utf8')), root].map(body), `${label}: leaf, intermediate and root, in that order`);
    t.equal(spkiOf(splitPem(info.out).find((b) => b.includes('PRIVATE KEY')) ?? ''), spkiOf(readFileSync(key, 'utf8')), `${label}: the bundled key is the generated key`);
    t.match(info.out, /friendlyName: us1\.klinikum\.internal/, `${label}: friendlyName is the certified name`);
  }
});

t.test('issue --pkcs12 prints a generated password that opens the bundle', async (t) => {
  const { work, dir } = initCa(t);
  const p12 = join(work, 'gen.p12');
  const made = wardgate(['issue', '--data-dir', dir, '--name', 'ws1.klinikum.internal', '--key-type', 'ecdsa-p256', '--pkcs12', p12], env);
  t.equal(made.status, 0, made.stderr);
  const password = /PKCS#12 password: (\S+)/.exec(made.stdout)?.[1] ?? '';
  t.ok(password.length >= 16, 'a password is printed');
  t.equal(p12Info(p12, password).status, 0, 'and opens the bundle');
  t.match(p12Info(p12, `${password}x`).out, /Mac verify error/, 'another password fails the MAC check');
});

t.test('issue --csr --key --pkcs12 refuses a key that is not the CSR\'s before the CA signs', async (t) => {
  const { work, dir, issued } = initCa(t);
  const { csr, key } = makeCsr(work, 'ct', { key: 'ec256', cn: 'ct1.klinikum.internal' });
  const other = makeCsr(work, 'other', { key: 'ec256', cn: 'ct2.klinikum.internal' });
  const p12 = join(work, 'ct.p12');
  const wrong = wardgate(['issue', '--data-dir', dir, '--csr', csr, '--key', other.key, '--pkcs12', p12], { ...env, WARDGATE_P12_PASSWORD: 'p' });
  t.equal(wrong.status, 1);
  t.match(wrong.stderr, /^wardgate: error \[PKCS12_INPUT_INVALID\]: --key .*other\.key is not the private key of the CSR.*\n$/, 'one line naming --key');
  const unreadable = wardgate(['issue', '--data-dir', dir, '--csr', csr, '--key', csr, '--pkcs12', p12], { ...env, WARDGATE_P12_PASSWORD: 'p' });
  t.match(unreadable.stderr, /^wardgate: error \[PKCS12_INPUT_INVALID\]: the private key cannot be read/, 'a file that is not a key');
  t.notOk(existsSync(p12), 'no bundle written');
  t.equal(issued(), 0, 'and no certificate issued');

  const right = wardgate(['issue', '--data-dir', dir, '--csr', csr, '--key', key, '--pkcs12', p12], { ...env, WARDGATE_P12_PASSWORD: 'p' });
  t.equal(right.status, 0, `the device's own ECDSA key is bundled ${right.stderr}`);
  t.equal(spkiOf(splitPem(p12Info(p12, 'p').out).find((b) => b.includes('PRIVATE KEY')) ?? ''), spkiOf(readFileSync(key, 'utf8')));
});

t.test('--pkcs12-legacy without --pkcs12 is a usage error; --help describes both', async (t) => {
  const { work, dir, issued } = initCa(t);
  const r = wardgate(['issue', '--data-dir', dir, '--name', 'ws1.klinikum.internal', '--key-out', join(work, 'k'), '--out', join(work, 'c.pem'), '--pkcs12-legacy'], env);
  t.equal(r.status, 2);
  t.match(r.stderr, /--pkcs12-legacy chooses the format of --pkcs12 FILE/);
  t.equal(issued(), 0, 'refused before issuing');
  const help = wardgate(['issue', '--help']).stdout.replace(/\s+/g, ' ');
  t.match(help, /--pkcs12 <file> also write a PKCS#12 bundle \(key, certificate, chain up to the root/);
  t.match(help, /--pkcs12-legacy write the --pkcs12 bundle as `openssl pkcs12 -export -legacy` does \(3DES, SHA-1 MAC/);
});
