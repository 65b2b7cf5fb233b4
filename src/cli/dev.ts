import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DEV_PASSPHRASE } from '../config/passphrase.ts';
import { dataDirLayout } from '../config/data-dir.ts';
import { CertificateAuthority } from '../pki/ca.ts';
import { DataDirLock } from '../store/data-dir-lock.ts';
import { closeOnSignal, serveWith, withServeOptions } from './serve.ts';

export const DEV_DATA_DIR = '.wardgate-dev';
export const DEV_POLICY = { permitDns: ['wardgate.test', 'localhost'], permitIp: ['127.0.0.0/8', '::1/128'] };
/** Port http-01 validation uses in dev mode: unprivileged, so an ACME client can answer without root. */
export const DEV_HTTP01_PORT = '5002';
/**
 * The dev names resolve to loopback without any DNS server (RFC 6761 reserves .test and localhost),
 * so a client on this machine can validate at once.
 */
export const DEV_HOSTS: Record<string, string[]> = { '*.wardgate.test': ['127.0.0.1'], 'wardgate.test': ['127.0.0.1'], localhost: ['127.0.0.1'] };

export function register(program: Command): void {
  withServeOptions(program.command('dev'), { listen: '127.0.0.1:14000', http01Port: DEV_HTTP01_PORT })
    .description('DEV MODE (what `npm start` runs): create a throwaway CA in .wardgate-dev on first run, then serve ACME')
    .option('-d, --data-dir <dir>', 'dev data dir', DEV_DATA_DIR)
    .addHelpText('after', `
The dev CA's keys are encrypted with a publicly known passphrase and the CA may sign only for
*.wardgate.test, localhost, 127.0.0.0/8 and ::1. Never use it for real devices: run \`wardgate init\`
with WARDGATE_CA_PASSPHRASE for that. Validation resolves *.wardgate.test and localhost to 127.0.0.1
without DNS and connects to http-01 port ${DEV_HTTP01_PORT} (unless --http01-port says otherwise).`)
    .action(async (o) => {
      const dir = resolve(o.dataDir);
      const layout = dataDirLayout(dir);
      // Held for the server's lifetime, like serve's; taken before the first run's CA is made.
      const lock = DataDirLock.acquire(dir, 'wardgate dev', { create: true });
      let ca: CertificateAuthority | undefined;
      let server;
      try {
        if (!existsSync(layout.caMeta)) {
          process.stdout.write(`creating a dev CA in ${dir} ...\n`);
          ca = await CertificateAuthority.init(dir, { name: 'wardgate DEV', policy: DEV_POLICY, passphrase: DEV_PASSPHRASE, dev: true });
        } else {
          if (!existsSync(layout.devMarker)) throw new Error(`${dir} is not a dev data dir; use \`wardgate serve\` for real CAs`);
          ca = await CertificateAuthority.open(dir, { passphrase: DEV_PASSPHRASE });
        }
        server = await serveWith(ca, o, { staticHosts: DEV_HOSTS });
      } catch (err) {
        ca?.close();
        lock.release();
        throw err;
      }
      console.log('wardgate DEV MODE (keys under a public passphrase; not for real devices)');
      console.log(`ACME directory:           ${server.directoryUrl}`);
      console.log(`CRL/OCSP/CA certificates: ${server.distributionUrl}`);
      console.log(`root certificate:         ${layout.rootCert}`);
      console.log(`try:                      LEGO_CA_CERTIFICATES=${layout.rootCert} \\`);
      console.log(`                            lego --server ${server.directoryUrl} --email you@wardgate.test --domains dev.wardgate.test --http --http.port 127.0.0.1:${o.http01Port} --accept-tos run`);
      closeOnSignal(server, ca, lock);
    });
}
