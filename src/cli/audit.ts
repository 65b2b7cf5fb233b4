import { resolve } from 'node:path';
import type { Command } from 'commander';
import { dataDirLayout } from '../config/data-dir.ts';
import { readCaMeta } from '../pki/ca-meta.ts';
import { verifyAuditChain } from '../store/audit-chain.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { withDataDir } from './common.ts';

export function register(program: Command): void {
  const audit = program.command('audit').description('the hash-chained CA audit log');
  withDataDir(audit.command('verify'))
    .description('check that no audit entry was edited, inserted or deleted')
    .action((o) => {
      const layout = dataDirLayout(resolve(o.dataDir));
      readCaMeta(layout.caMeta);
      const store = new SqliteStore(layout.store, { readonly: true });
      try {
        const v = verifyAuditChain(store.readAudit(), store.auditHead());
        console.log(`audit log intact: ${v.entries} entries, head ${v.headHash}`);
      } finally {
        store.close();
      }
    });
  withDataDir(audit.command('show'))
    .description('print audit entries as JSON lines')
    .option('--from <seq>', 'first sequence number', '1')
    .option('--limit <n>', 'at most N entries', '100')
    .action((o) => {
      const store = new SqliteStore(dataDirLayout(resolve(o.dataDir)).store, { readonly: true });
      try {
        for (const e of store.readAudit(Number(o.from), Number(o.limit))) console.log(JSON.stringify(e));
      } finally {
        store.close();
      }
    });
}
