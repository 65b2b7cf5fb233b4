import type { Command } from 'commander';
import { reasonName } from '../pki/revocation-reasons.ts';
import { fail, openCa, withDataDir } from './common.ts';

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export function register(program: Command): void {
  withDataDir(program.command('list'))
    .description('list issued certificates (or the CA issuers)')
    .option('--status <status>', 'valid or revoked')
    .option('--expiring-days <n>', 'only certificates that expire within N days')
    .option('--issuers', 'list the CA issuers instead')
    .option('--limit <n>', 'at most N rows', '1000')
    .option('--json', 'JSON output')
    .action(async (o) => {
      if (o.status && o.status !== 'valid' && o.status !== 'revoked') fail(`--status must be valid or revoked, not "${o.status}"`);
      const ca = await openCa(o.dataDir);
      try {
        if (o.issuers) {
          const issuers = ca.meta.issuers;
          if (o.json) console.log(JSON.stringify({ root: ca.meta.root, issuers }, null, 2));
          else console.log(table([['ID', 'KIND', 'KEY', 'ACTIVE', 'NOT AFTER'], ...issuers.map((i) => [i.id, i.kind, i.keyType, i.active ? 'yes' : 'no', i.notAfter])]));
          return;
        }
        const expiringBefore = o.expiringDays ? new Date(Date.now() + Number(o.expiringDays) * 86_400_000).toISOString() : undefined;
        const certs = ca.store.listCertificates({ status: o.status, expiringBefore, limit: Number(o.limit) });
        if (o.json) {
          console.log(JSON.stringify(certs.map(({ pem, ...rest }) => rest), null, 2));
          return;
        }
        if (certs.length === 0) { console.log('no certificates'); return; }
        console.log(table([['SERIAL', 'STATUS', 'PROFILE', 'NOT AFTER', 'ISSUER', 'NAMES'],
          ...certs.map((c) => [c.serial, c.status === 'revoked' ? `revoked (${reasonName(c.revocationReason ?? 0)})` : 'valid', c.profile, c.notAfter, c.issuerId, c.names.join(',')])]));
      } finally {
        ca.close();
      }
    });
}
