/**
 * Child process for the crash-safety test: issues certificates from the CA in argv[2] one after the
 * other and prints each serial only after `issue()` returned (i.e. after the store said it is durable).
 */
import { generateKeyPairSync } from 'node:crypto';
import { CertificateAuthority } from '../../src/pki/ca.ts';
import { TEST_PASSPHRASE } from './ca.ts';

const [dir, countText] = process.argv.slice(2);
const ca = await CertificateAuthority.open(dir, { passphrase: TEST_PASSPHRASE });
const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
for (let i = 0; i < Number(countText); i++) {
  const { record } = await ca.issue({ spki, keyType: 'ecdsa-p256', identifiers: [{ type: 'dns', value: `dev${i}.klinikum.internal` }], profile: 'dicom-node' });
  process.stdout.write(`${record.serial}\n`);
}
ca.close();
