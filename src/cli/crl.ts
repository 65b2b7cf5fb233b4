import type { Command } from 'commander';
import { toPem } from '../pki/pem.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { fail, openCa, withDataDir } from './common.ts';

export function register(program: Command): void {
  withDataDir(program.command('crl'))
    .description('sign a fresh CRL for one issuing intermediate (default: the active ECDSA one)')
    .option('--issuer <id>', 'issuer id (see `wardgate list --issuers`), e.g. ecdsa-1 or rsa-1')
    .option('--format <format>', 'pem or der', 'pem')
    .option('--validity-hours <n>', 'hours until nextUpdate', '24')
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (o) => {
      if (o.format !== 'pem' && o.format !== 'der') fail(`--format must be pem or der, not "${o.format}"`);
      const hours = Number(o.validityHours);
      if (!(hours > 0 && hours <= 24 * 366)) fail(`--validity-hours must be a number of hours between 1 and 8784`);
      const ca = await openCa(o.dataDir);
      try {
        const crl = await ca.crl(o.issuer, hours);
        const data = o.format === 'der' ? Buffer.from(crl.rawData) : toPem('X509 CRL', crl.rawData);
        if (o.out) writeFileAtomic(o.out, data);
        else process.stdout.write(data);
      } finally {
        ca.close();
      }
    });
}
