import { resolve } from 'node:path';
import type { Command } from 'commander';
import { caPassphrase } from '../config/passphrase.ts';
import { dataDirLayout } from '../config/data-dir.ts';
import { readBackup, restoreBackup, writeBackup } from '../store/backup.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { verifyAuditChain } from '../store/audit-chain.ts';
import { existsSync } from 'node:fs';
import { readCaMeta } from '../pki/ca-meta.ts';
import { withDataDir } from './common.ts';

/** Backups use WARDGATE_BACKUP_PASSPHRASE when set, else the CA passphrase. */
function backupPassphrase(dev: boolean): string {
  return process.env.WARDGATE_BACKUP_PASSPHRASE || caPassphrase({ dev });
}

export function register(program: Command): void {
  withDataDir(program.command('backup'))
    .description('write an encrypted, consistent archive of keys and store (safe while the CA is running)')
    .requiredOption('--out <file>', 'archive to write')
    .action(async (o) => {
      const layout = dataDirLayout(resolve(o.dataDir));
      readCaMeta(layout.caMeta);
      const store = new SqliteStore(layout.store);
      try {
        const r = await writeBackup({ dataDir: layout.root, caDir: layout.ca, store, storeFile: layout.store, passphrase: backupPassphrase(existsSync(layout.devMarker)), out: o.out });
        store.appendAudit({ event: 'ca.backup', actor: 'cli', data: { out: resolve(o.out), files: r.files } });
        console.log(`backup written to ${o.out}: ${r.files} files, ${r.bytes} bytes, AES-256-GCM`);
      } finally {
        store.close();
      }
    });

  withDataDir(program.command('restore'))
    .description('restore a backup archive into an empty data dir')
    .requiredOption('--from <file>', 'archive made by `wardgate backup`')
    .option('--dev', 'the archive is of a dev-mode data dir (dev passphrase)')
    .action(async (o) => {
      const layout = dataDirLayout(resolve(o.dataDir));
      const archive = readBackup(o.from, backupPassphrase(Boolean(o.dev)));
      const r = restoreBackup(archive, layout.root);
      const store = new SqliteStore(layout.store);
      try {
        store.checkIntegrity();
        const chain = verifyAuditChain(store.readAudit(), store.auditHead());
        console.log(`restored ${r.files} files into ${layout.root} (backup of ${archive.createdAt}); store intact, audit chain of ${chain.entries} entries verifies`);
      } finally {
        store.close();
      }
    });
}
