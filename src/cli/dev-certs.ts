import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { DEV_PASSPHRASE } from '../config/passphrase.ts';
import { CertificateAuthority } from '../pki/ca.ts';
import { generateDeviceKey } from '../pki/device-key.ts';
import type { KeyType } from '../pki/key-types.ts';
import { identifierFromText } from '../pki/names.ts';
import { buildPkcs12 } from '../pki/pkcs12.ts';
import { splitPem } from '../pki/pem.ts';
import { withDataDirLock } from './common.ts';

/** Sample devices of a small radiology department, one per profile and key family. */
const DEVICES: { file: string; profile: string; keyType: KeyType; names: string[] }[] = [
  { file: 'pacs', profile: 'dicom-node', keyType: 'ecdsa-p256', names: ['pacs.rad.wardgate.test', '127.20.0.10'] },
  { file: 'ct-modality', profile: 'dicom-node', keyType: 'rsa-2048', names: ['ct1.rad.wardgate.test', '127.20.0.11'] },
  { file: 'hl7-engine', profile: 'hl7-node', keyType: 'ecdsa-p256', names: ['hl7.wardgate.test', '127.20.0.20'] },
  { file: 'gateway', profile: 'dicom-node', keyType: 'ecdsa-p256', names: ['gateway.wardgate.test', '127.0.0.1', 'localhost'] },
  { file: 'workstation', profile: 'workstation-client', keyType: 'rsa-2048', names: ['ws1.rad.wardgate.test'] },
];

/** Opens or makes the dev CA in `out`/ca and issues the sample devices' certificates into `out`. */
async function makeDevCerts(out: string, caDir: string): Promise<void> {
  const ca = existsSync(join(caDir, 'ca', 'ca.json'))
    ? await CertificateAuthority.open(caDir, { passphrase: DEV_PASSPHRASE })
    : await CertificateAuthority.init(caDir, {
      name: 'wardgate dev', policy: { permitDns: ['wardgate.test', 'localhost'], permitIp: ['127.0.0.0/8', '::1/128'] },
      passphrase: DEV_PASSPHRASE, dev: true, rootKeyType: 'ecdsa-p384',
    });
  try {
    const devices = join(out, 'devices');
    mkdirSync(devices, { recursive: true });
    writeFileSync(join(out, 'root.pem'), ca.rootPem);
    for (const d of DEVICES) {
      const key = generateDeviceKey(d.keyType);
      const issued = await ca.issue({ spki: key.spki, keyType: key.keyType, identifiers: d.names.map(identifierFromText), profile: d.profile, actor: 'dev-certs' });
      writeFileSync(join(devices, `${d.file}.pem`), issued.chainPem);
      writeFileSync(join(devices, `${d.file}.key`), key.privateKeyPem, { mode: 0o600 });
      if (d.keyType.startsWith('rsa')) {
        writeFileSync(join(devices, `${d.file}.p12`), buildPkcs12({ keyPem: key.privateKeyPem, chainPem: [...splitPem(issued.chainPem), ca.rootPem], password: 'wardgate-dev' }).der, { mode: 0o600 });
      }
      console.log(`${d.file.padEnd(12)} ${d.profile.padEnd(18)} ${d.keyType.padEnd(10)} ${d.names.join(', ')}`);
    }
    console.log(`dev CA in ${caDir}; device certificates in ${devices} (.p12 password: wardgate-dev); root: ${join(out, 'root.pem')}`);
  } finally {
    ca.close();
  }
}

export function register(program: Command): void {
  program.command('dev-certs')
    .description('make a throwaway dev CA and sample device certificates (dev passphrase; never for production)')
    .option('--out <dir>', 'output directory', 'certs-dev')
    .action(async (o) => {
      const out = resolve(o.out);
      const caDir = join(out, 'ca');
      mkdirSync(caDir, { recursive: true, mode: 0o700 });
      // Two runs at once would both make a CA in the same place.
      await withDataDirLock(caDir, 'wardgate dev-certs', () => makeDevCerts(out, caDir));
    });
}
