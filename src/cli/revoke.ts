import type { Command } from 'commander';
import { REVOCATION_REASONS, parseRevocationReason, reasonName } from '../pki/revocation-reasons.ts';
import { openCa, withDataDir } from './common.ts';

export function register(program: Command): void {
  withDataDir(program.command('revoke <serial>'))
    .description('revoke a certificate by serial (hex, colons allowed)')
    .option('--reason <reason>', `RFC 5280 reason: ${Object.keys(REVOCATION_REASONS).join(', ')}`, 'unspecified')
    .action(async (serial: string, o) => {
      const reason = parseRevocationReason(o.reason);
      const ca = await openCa(o.dataDir);
      try {
        const r = ca.revoke(serial, reason);
        console.log(`revoked ${r.serial} (${r.names.join(', ')}), reason ${reasonName(reason)}; it appears on the next CRL of ${r.issuerId}`);
      } finally {
        ca.close();
      }
    });
}
