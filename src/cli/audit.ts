import { resolve } from 'node:path';
import type { Command } from 'commander';
import { dataDirLayout } from '../config/data-dir.ts';
import { readCaMeta } from '../pki/ca-meta.ts';
import { verifyAuditChain } from '../store/audit-chain.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { WardgateError } from '../errors.ts';
import { fail, withDataDir } from './common.ts';

export function register(program: Command): void {
  const audit = program.command('audit').description('the hash-chained CA audit log');
  withDataDir(audit.command('verify'))
    .description('check that no audit entry was edited, inserted or deleted')
    .addHelpText('after', `
The chain is hashed, not keyed, and its head is kept in the same database: it shows edits made without
rewriting the chain (a tool, a careless admin, a damaged file). Someone who can write wardgate.db can
also recompute it; to detect that, keep the head this command prints (SEQ:HASH) somewhere else (a
ticket, the hospital's log archive) and pass it later as --anchor: a rewritten history no longer
passes through it.`)
    .option('--anchor <seq:hash>', 'a head printed by an earlier run (kept outside this machine): the chain must still pass through it')
    .action((o: { dataDir: string; anchor?: string }) => {
      const anchor = o.anchor === undefined ? undefined : parseAnchor(o.anchor);
      const layout = dataDirLayout(resolve(o.dataDir));
      readCaMeta(layout.caMeta);
      const store = new SqliteStore(layout.store, { readonly: true });
      try {
        const all = store.readAudit();
        const v = verifyAuditChain(all, store.auditHead());
        const seen = anchor ? all[anchor.seq - 1]?.hash : undefined;
        if (anchor && seen !== anchor.hash) {
          throw new WardgateError('AUDIT_CHAIN_BROKEN', seen === undefined
            ? `audit log has no entry ${anchor.seq}: the anchored history was cut off`
            : `audit entry ${anchor.seq} is no longer the one anchored (hash ${seen}, anchored ${anchor.hash}): the chain was rewritten`);
        }
        console.log(`audit log intact: ${v.entries} entries, head ${v.entries}:${v.headHash}${anchor ? ` (passes through the anchor ${anchor.seq}:${anchor.hash})` : ''}`);
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

function parseAnchor(text: string): { seq: number; hash: string } {
  const m = /^(\d+):([0-9a-f]{64})$/.exec(text.trim());
  if (!m) fail(`--anchor "${text}" is not SEQ:HASH as \`audit verify\` prints its head (a number, a colon, 64 hex digits)`);
  return { seq: Number(m[1]), hash: m[2] };
}
