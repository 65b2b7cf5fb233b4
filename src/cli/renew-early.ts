import type { Command } from 'commander';
import { normalizeSerial } from '../pki/serial.ts';
import { fail, openCa, withDataDir } from './common.ts';

export function register(program: Command): void {
  withDataDir(program.command('renew-early'))
    .description('pull renewals forward (ACME Renewal Information, RFC 9773): after a key compromise or a CA rollover')
    .option('--serial <serial>', 'one certificate (repeatable)', (v: string, p: string[] = []) => [...p, v], [])
    .option('--all', 'every valid certificate')
    .addHelpText('after', `
ARI-aware clients see a renewal window that has already opened and renew at their next check.`)
    .action(async (o) => {
      if (!o.all && o.serial.length === 0) fail('give --serial SERIAL or --all');
      if (o.all && o.serial.length) fail('--serial and --all exclude each other');
      const ca = await openCa(o.dataDir);
      try {
        const target = o.all ? 'all' as const : o.serial.map(normalizeSerial);
        const n = ca.store.setRenewAfter(target, new Date().toISOString(), { event: 'cert.renew-early', actor: 'cli', data: { serials: target } });
        console.log(`renewal window moved to now for ${n} certificate${n === 1 ? '' : 's'}`);
      } finally {
        ca.close();
      }
    });
}
