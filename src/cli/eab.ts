import type { Command } from 'commander';
import { createEabKey } from '../acme/eab.ts';
import { collect, openCa, withDataDir } from './common.ts';

export function register(program: Command): void {
  const eab = program.command('eab').description('External Account Binding keys: which device may create an ACME account, and for which names');
  withDataDir(eab.command('create'))
    .description('make an EAB key id + HMAC key for one device (printed once)')
    .option('--label <text>', 'who the key is for, e.g. "CT 1, radiology"')
    .option('--allow-dns <name>', 'name the account may order (repeatable; ".suffix" for every name below it)', collect, [])
    .option('--allow-ip <cidr>', 'addresses the account may order (repeatable)', collect, [])
    .option('--json', 'print as JSON')
    .addHelpText('after', `
Example:
  wardgate eab create --label "PACS" --allow-dns pacs.rad.klinikum.internal
  certbot register --server URL --eab-kid KID --eab-hmac-key KEY ...`)
    .action(async (o) => {
      const ca = await openCa(o.dataDir);
      try {
        const key = createEabKey(ca.store.acme, ca.meta.policy, { label: o.label, allowDns: o.allowDns, allowIp: o.allowIp });
        if (o.json) console.log(JSON.stringify({ kid: key.kid, hmacKey: key.hmacKey, allowDns: key.allowDns, allowIp: key.allowIp }));
        else {
          console.log(`kid:      ${key.kid}`);
          console.log(`hmac key: ${key.hmacKey}`);
          console.log(`bound to: ${[...key.allowDns, ...key.allowIp].join(', ') || '(any name the CA permits)'}`);
        }
      } finally {
        ca.close();
      }
    });
  withDataDir(eab.command('list'))
    .description('list EAB keys (without their secrets) and the accounts they are bound to')
    .action(async (o) => {
      const ca = await openCa(o.dataDir);
      try {
        for (const k of ca.store.acme.listEabKeys()) {
          console.log(`${k.kid}\t${k.label ?? ''}\t${[...k.allowDns, ...k.allowIp].join(',') || '*'}\t${k.accountId ? `account ${k.accountId}` : 'unused'}`);
        }
      } finally {
        ca.close();
      }
    });
}
