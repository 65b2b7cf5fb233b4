import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DEV_PASSPHRASE } from '../config/passphrase.ts';
import { dataDirLayout } from '../config/data-dir.ts';
import { CertificateAuthority } from '../pki/ca.ts';
import { closeOnSignal, serveWith, withServeOptions } from './serve.ts';

export const DEV_DATA_DIR = '.wardgate-dev';
export const DEV_POLICY = { permitDns: ['wardgate.test', 'localhost'], permitIp: ['127.0.0.0/8', '::1/128'] };

export function register(program: Command): void {
  withServeOptions(program.command('dev'), { listen: '127.0.0.1:14000' })
    .description('DEV MODE (what `npm start` runs): create a throwaway CA in .wardgate-dev on first run, then serve ACME')
    .option('-d, --data-dir <dir>', 'dev data dir', DEV_DATA_DIR)
    .addHelpText('after', `
The dev CA's keys are encrypted with a publicly known passphrase and the CA may sign only for
*.wardgate.test, localhost, 127.0.0.0/8 and ::1. Never use it for real devices: run \`wardgate init\`
with WARDGATE_CA_PASSPHRASE for that.`)
    .action(async (o) => {
      const dir = resolve(o.dataDir);
      const layout = dataDirLayout(dir);
      let ca: CertificateAuthority;
      if (!existsSync(layout.caMeta)) {
        process.stdout.write(`creating a dev CA in ${dir} ...\n`);
        ca = await CertificateAuthority.init(dir, { name: 'wardgate DEV', policy: DEV_POLICY, passphrase: DEV_PASSPHRASE, dev: true });
      } else {
        if (!existsSync(layout.devMarker)) throw new Error(`${dir} is not a dev data dir; use \`wardgate serve\` for real CAs`);
        ca = await CertificateAuthority.open(dir, { passphrase: DEV_PASSPHRASE });
      }
      const server = await serveWith(ca, o);
      console.log('wardgate DEV MODE (keys under a public passphrase; not for real devices)');
      console.log(`ACME directory:           ${server.directoryUrl}`);
      console.log(`CRL/OCSP/CA certificates: ${server.distributionUrl}`);
      console.log(`root certificate:         ${layout.rootCert}`);
      console.log(`try: lego --server ${server.directoryUrl} --email you@wardgate.test --domains dev.wardgate.test --http --http.port :5002 run`);
      console.log(`     (with LEGO_CA_CERTIFICATES=${layout.rootCert}; validation uses --http01-port, default 80)`);
      closeOnSignal(server, ca);
    });
}
