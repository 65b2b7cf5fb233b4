import { resolve } from 'node:path';
import type { Command } from 'commander';
import { caPassphrase } from '../config/passphrase.ts';
import { dataDirLayout } from '../config/data-dir.ts';
import { CertificateAuthority } from '../pki/ca.ts';
import { parseKeyType } from '../pki/key-types.ts';
import { DataDirStaging } from '../store/atomic-data-dir.ts';
import { collect, withDataDir } from './common.ts';

export function register(program: Command): void {
  withDataDir(program.command('init'))
    .description('create a name-constrained CA: a root and two issuing intermediates (ECDSA for most leaves, RSA for RSA leaves)')
    .requiredOption('--name <name>', 'organisation name used in the CA subject names, e.g. "Klinikum Nord"')
    .option('--permit-dns <suffix>', 'DNS suffix the CA may sign for (repeatable), e.g. rad.klinikum.internal', collect, [])
    .option('--permit-ip <cidr>', 'IP range the CA may sign for (repeatable), e.g. 10.20.0.0/16', collect, [])
    .option('--non-critical-name-constraints', 'mark name constraints non-critical, for device TLS stacks (old mbedTLS) that reject the critical extension; validators that understand it still enforce it')
    .option('--root-key-type <type>', 'root key: rsa-4096 (default) keeps RSA chains all-RSA for old TLS 1.2 stacks; or ecdsa-p384', 'rsa-4096')
    .option('--rsa-key-type <type>', 'RSA issuing intermediate key', 'rsa-3072')
    .option('--ecdsa-key-type <type>', 'ECDSA issuing intermediate key', 'ecdsa-p256')
    .option('--public-url <url>', 'base URL of the plain-HTTP listener (CRL, OCSP, CA certificates) written into issued certificates')
    .addHelpText('after', `
Reads WARDGATE_CA_PASSPHRASE to encrypt the CA keys (PKCS#8, AES-256). Writes DIR/ca/root.pem,
DIR/ca/intermediate.pem (ECDSA issuing CA) and DIR/ca/intermediate-rsa.pem.
Every name type without a --permit-* gets an excluded subtree (all DNS names, or 0.0.0.0/0 and ::/0),
so the CA cannot sign for public names even if a key leaks.

Example:
  WARDGATE_CA_PASSPHRASE=... wardgate init -d /var/lib/wardgate --name "Klinikum Nord" \\
    --permit-dns klinikum.internal --permit-ip 10.20.0.0/16`)
    .action(async (o) => {
      const dir = resolve(o.dataDir);
      const passphrase = caPassphrase();
      // Built aside and moved in whole: a kill -9 midway leaves no CA rather than half of one.
      const staging = DataDirStaging.begin(dir, { command: 'wardgate init' });
      let meta;
      try {
        const ca = await CertificateAuthority.init(staging.path, {
          name: o.name,
          policy: { permitDns: o.permitDns, permitIp: o.permitIp },
          nameConstraintsCritical: !o.nonCriticalNameConstraints,
          rootKeyType: parseKeyType(o.rootKeyType),
          rsaKeyType: parseKeyType(o.rsaKeyType),
          ecdsaKeyType: parseKeyType(o.ecdsaKeyType),
          distributionBaseUrl: o.publicUrl,
          passphrase,
        });
        meta = ca.meta;
        ca.close();
        staging.commit();
      } catch (err) {
        staging.abandon();
        throw err;
      }
      const layout = dataDirLayout(dir);
      console.log(`CA "${o.name}" created in ${layout.root}`);
      console.log(`  root:                 ${layout.rootCert}`);
      console.log(`  ECDSA intermediate:   ${layout.intermediate}`);
      console.log(`  RSA intermediate:     ${layout.intermediateRsa}`);
      console.log(`  permitted DNS:        ${meta.policy.permitDns.join(', ') || '(none: all DNS names excluded)'}`);
      console.log(`  permitted IP:         ${meta.policy.permitIp.join(', ') || '(none: all addresses excluded)'}`);
    });
}
