/**
 * bench/store: issuance rate (sign + durable insert + audit entry) on an empty CA and on one that already
 * holds 100,000 certificates, measured in the same run; prints the ratio (goal >= 0.9).
 *
 *   npm run bench:store [-- --certs 100000 --issuances 1000]
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CertificateAuthority } from '../../src/pki/ca.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

const { values } = parseArgs({ options: { certs: { type: 'string', default: '100000' }, issuances: { type: 'string', default: '1000' } } });
const preload = Number(values.certs);
const issuances = Number(values.issuances);
const passphrase = 'bench-passphrase';

async function makeCa(dir: string): Promise<CertificateAuthority> {
  return CertificateAuthority.init(dir, {
    name: 'Bench', policy: { permitDns: ['bench.internal'], permitIp: [] }, rootKeyType: 'ecdsa-p384', rsaKeyType: 'rsa-2048', passphrase,
  });
}

/** Fills the store with realistic rows in large transactions (through the Store interface, no raw SQL). */
function preloadStore(store: SqliteStore, count: number, pem: string): void {
  const now = Date.now();
  const batch = 10_000;
  for (let done = 0; done < count; done += batch) {
    store.db.transaction(() => {
      for (let i = done; i < Math.min(count, done + batch); i++) {
        store.insertCertificate({
          serial: randomBytes(16).toString('hex').replace(/^0+/, ''), issuerId: 'ecdsa-1', profile: 'dicom-node',
          names: [`dev${i}.bench.internal`], notBefore: new Date(now).toISOString(),
          notAfter: new Date(now + (i % 90) * 86_400_000).toISOString(), status: i % 50 === 0 ? 'revoked' : 'valid',
          pem, createdAt: new Date(now).toISOString(),
        });
      }
    })();
  }
}

async function rate(ca: CertificateAuthority, n: number): Promise<number> {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const issueOne = (i: number) => ca.issue({ spki, keyType: 'ecdsa-p256', identifiers: [{ type: 'dns', value: `b${i}.bench.internal` }], profile: 'dicom-node' });
  for (let i = 0; i < 20; i++) await issueOne(i); // warm-up: key decryption, JIT
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await issueOne(1000 + i);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return n / seconds;
}

const work = mkdtempSync(join(tmpdir(), 'wardgate-bench-store-'));
try {
  const empty = await makeCa(join(work, 'empty'));
  const full = await makeCa(join(work, 'full'));
  const sample = (await empty.issue({ spki: new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' })), keyType: 'ecdsa-p256', identifiers: [{ type: 'dns', value: 'sample.bench.internal' }], profile: 'dicom-node' })).record.pem;
  process.stderr.write(`preloading ${preload} certificates...\n`);
  preloadStore(full.store as SqliteStore, preload, sample);
  process.stderr.write(`stored: ${full.store.countCertificates()}; measuring ${issuances} issuances each...\n`);
  // Interleave the two measurements so that machine noise hits both alike.
  const a1 = await rate(empty, issuances / 2);
  const b1 = await rate(full, issuances / 2);
  const b2 = await rate(full, issuances / 2);
  const a2 = await rate(empty, issuances / 2);
  const emptyRate = (a1 + a2) / 2;
  const fullRate = (b1 + b2) / 2;
  console.log(`issuance rate, empty store:            ${emptyRate.toFixed(0)} certificates/s`);
  console.log(`issuance rate, ${preload} stored:  ${fullRate.toFixed(0)} certificates/s`);
  console.log(`ratio (full / empty): ${(fullRate / emptyRate).toFixed(2)} (goal >= 0.90)`);
  empty.close();
  full.close();
} finally {
  rmSync(work, { recursive: true, force: true });
}
