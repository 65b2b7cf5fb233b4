/** The proxy benches' CA (run.ts, stream.ts): one test hierarchy per run, leaves written as PEM files. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority } from '../../src/pki/ca.ts';
import { generateDeviceKey } from '../../src/pki/device-key.ts';
import { identifierFromText } from '../../src/pki/names.ts';

export interface LeafFiles { cert: string; key: string; combined: string }

/** A CA under `work`/ca and `issue(file, names)`: an ECDSA leaf as work/FILE.pem, .key and .combined.pem (chain + key, for HAProxy). */
export async function benchPki(work: string): Promise<{ ca: CertificateAuthority; issue: (file: string, names: string[]) => Promise<LeafFiles> }> {
  const ca = await CertificateAuthority.init(join(work, 'ca'), {
    name: 'Bench Klinikum', policy: { permitDns: ['klinikum.internal'], permitIp: ['127.0.0.0/8'] }, rootKeyType: 'ecdsa-p384', passphrase: 'bench-not-secret',
  });
  const issue = async (file: string, names: string[]): Promise<LeafFiles> => {
    const key = generateDeviceKey('ecdsa-p256');
    const { chainPem } = await ca.issue({ spki: key.spki, keyType: 'ecdsa-p256', identifiers: names.map(identifierFromText), profile: 'dicom-node' });
    writeFileSync(join(work, `${file}.pem`), chainPem);
    writeFileSync(join(work, `${file}.key`), key.privateKeyPem);
    writeFileSync(join(work, `${file}.combined.pem`), chainPem + key.privateKeyPem);
    return { cert: join(work, `${file}.pem`), key: join(work, `${file}.key`), combined: join(work, `${file}.combined.pem`) };
  };
  return { ca, issue };
}
