import { createPublicKey, randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { WardgateError } from '../errors.ts';
import { parseCsr } from '../pki/csr.ts';
import { generateDeviceKey } from '../pki/device-key.ts';
import { parseKeyType } from '../pki/key-types.ts';
import { identifierFromText } from '../pki/names.ts';
import { buildPkcs12, readBundleKey } from '../pki/pkcs12.ts';
import { splitPem } from '../pki/pem.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { assertOutputDir, collect, fail, openCa, readArgumentBytes, readArgumentFile, withDataDir } from './common.ts';

export function register(program: Command): void {
  withDataDir(program.command('issue'))
    .description('issue a certificate without ACME: from a CSR, or with a key made here for devices that import a .p12')
    .option('--profile <name>', 'certificate profile from profiles/cert (dicom-node, hl7-node, web-server, workstation-client)', 'dicom-node')
    .option('--csr <file>', 'PKCS#10 request (PEM or DER); its CN and subjectAltName entries are certified')
    .option('--name <name>', 'DNS name or IP address, when the CA makes the key (repeatable, no --csr)', collect, [])
    .option('--key-type <type>', 'key type when the CA makes the key', 'rsa-2048')
    .option('--key <file>', 'the device private key (PEM), to put into --pkcs12 when issuing from --csr')
    .option('--key-out <file>', 'where to write the generated private key (PEM, mode 0600)')
    .option('--out <file>', 'write the certificate followed by its issuing intermediate (PEM)')
    .option('--pkcs12 <file>', 'also write a PKCS#12 bundle (key, certificate, chain up to the root; PBES2 AES-256, SHA-256 MAC, 100,000 iterations), password from $WARDGATE_P12_PASSWORD or generated and printed')
    .option('--pkcs12-legacy', 'write the --pkcs12 bundle as `openssl pkcs12 -export -legacy` does (3DES, SHA-1 MAC, 2,048 iterations), for old importers that reject AES or a SHA-256 MAC')
    .addHelpText('after', `
Examples:
  wardgate issue --profile dicom-node --csr ct1.csr --out ct1-chain.pem
  wardgate issue --profile hl7-node --name lis.klinikum.internal --key-out lis.key --out lis.pem --pkcs12 lis.p12
  wardgate issue --profile dicom-node --name us1.klinikum.internal --key-type rsa-2048 --pkcs12 us1.p12 --pkcs12-legacy`)
    .action(async (o) => {
      if (!o.csr && o.name.length === 0) fail('give --csr FILE, or --name NAME to have the CA make the key');
      if (o.csr && o.name.length > 0) fail('--name is for CA-made keys; with --csr the names come from the CSR');
      if (!o.csr && o.key) fail('--key FILE goes with --csr (the device\'s own key, for --pkcs12); for a key made here, choose its type with --key-type');
      if (!o.out && !o.pkcs12) fail('give --out FILE and/or --pkcs12 FILE');
      if (!o.csr && !o.keyOut && !o.pkcs12) fail('a generated key must go somewhere: add --key-out FILE or --pkcs12 FILE');
      if (o.pkcs12Legacy && !o.pkcs12) fail('--pkcs12-legacy chooses the format of --pkcs12 FILE; add --pkcs12 FILE');
      if (o.csr && o.pkcs12 && !o.key) fail('--pkcs12 needs the private key: pass --key FILE with --csr, or let the CA make the key with --name');
      // Inputs read and output directories checked before the CA signs: a typo must not cost a certificate
      // (or, with --name, a key issued into a file that cannot be written).
      const csrBytes = o.csr ? readArgumentBytes('--csr', o.csr) : undefined;
      const csrKeyPem = o.csr && o.key ? readArgumentFile('--key', o.key) : undefined;
      for (const [option, file] of [['--out', o.out], ['--key-out', o.keyOut], ['--pkcs12', o.pkcs12]] as const) {
        if (file) assertOutputDir(option, file);
      }
      const ca = await openCa(o.dataDir);
      try {
        let spki: Uint8Array; let keyType; let identifiers; let keyPem: string | undefined;
        if (csrBytes) {
          const csr = await parseCsr(csrBytes);
          ({ spki, keyType, identifiers } = csr);
          keyPem = csrKeyPem;
          if (keyPem && o.pkcs12) assertKeyMatches(o.key, keyPem, spki);
        } else {
          const key = generateDeviceKey(parseKeyType(o.keyType));
          ({ spki, keyType } = key);
          keyPem = key.privateKeyPem;
          identifiers = o.name.map(identifierFromText);
        }
        const issued = await ca.issue({ spki, keyType, identifiers, profile: o.profile, actor: 'cli' });
        if (o.out) writeFileAtomic(o.out, issued.chainPem);
        if (keyPem && !o.csr && o.keyOut) writeFileAtomic(o.keyOut, keyPem, 0o600);
        if (o.pkcs12) {
          const fromEnv = process.env.WARDGATE_P12_PASSWORD;
          const password = fromEnv || randomBytes(12).toString('base64url');
          const p12 = buildPkcs12({ keyPem: keyPem!, chainPem: [...splitPem(issued.chainPem), ca.rootPem], password, friendlyName: issued.record.names[0], mode: o.pkcs12Legacy ? 'legacy' : 'modern' });
          writeFileAtomic(o.pkcs12, p12.der, 0o600);
          if (!fromEnv) console.log(`PKCS#12 password: ${password}`);
        }
        const r = issued.record;
        console.log(`issued ${r.serial} (${r.profile}, ${keyType}) for ${r.names.join(', ')}, valid until ${r.notAfter}, by ${r.issuerId}`);
      } finally {
        ca.close();
      }
    });
}

/** Checked before the CA signs: a --key of another device would make a certificate and a useless bundle. */
function assertKeyMatches(file: string, keyPem: string, csrSpki: Uint8Array): void {
  // Both sides re-encoded by OpenSSL: a CSR may carry an equivalent but differently encoded key (compressed EC point).
  const ofKey = createPublicKey(readBundleKey(keyPem)).export({ type: 'spki', format: 'der' });
  const ofCsr = createPublicKey({ key: Buffer.from(csrSpki), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
  if (!ofKey.equals(ofCsr)) throw new WardgateError('PKCS12_INPUT_INVALID', `--key ${file} is not the private key of the CSR (their public keys differ)`);
}
