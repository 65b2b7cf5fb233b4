import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { caPassphrase } from '../config/passphrase.ts';
import { dataDirLayout } from '../config/data-dir.ts';
import { assertCaKeysDecrypt, readBackup, restoreBackup, writeBackup } from '../store/backup.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { verifyAuditChain } from '../store/audit-chain.ts';
import { existsSync, realpathSync } from 'node:fs';
import { readCaMeta } from '../pki/ca-meta.ts';
import { assertOutputDir, fail, openCa, withDataDir } from './common.ts';

/** Backups use WARDGATE_BACKUP_PASSPHRASE when set, else the CA passphrase. */
function backupPassphrase(dev: boolean): string {
  return process.env.WARDGATE_BACKUP_PASSPHRASE || caPassphrase({ dev });
}

/**
 * The store to back up. An archive under the CA passphrase is made only after that passphrase has opened
 * a CA key: a mistyped one would otherwise give an archive that the right passphrase cannot restore.
 */
async function openForBackup(dataDir: string): Promise<{ store: Store; close: () => void }> {
  if (process.env.WARDGATE_BACKUP_PASSPHRASE) {
    readCaMeta(dataDirLayout(dataDir).caMeta);
    const store = new SqliteStore(dataDirLayout(dataDir).store);
    return { store, close: () => store.close() };
  }
  const ca = await openCa(dataDir);
  return { store: ca.store, close: () => ca.close() };
}

/**
 * Refuses an archive path inside the data dir: it would be lost together with what it backs up, and
 * `restore` needs an empty data dir, so it could not be restored from there anyway.
 */
function assertOutsideDataDir(out: string, dataDir: string): void {
  const real = (p: string) => existsSync(p) ? realpathSync(p) : resolve(p);
  const target = join(real(dirname(resolve(out))), basename(out));
  const inside = relative(real(dataDir), target);
  if (inside !== '..' && !inside.startsWith(`..${sep}`) && !isAbsolute(inside)) fail(`--out ${out} lies inside the data dir ${dataDir}; write backups outside it (another disk, ideally)`);
}

export function register(program: Command): void {
  withDataDir(program.command('backup'))
    .description('write an encrypted, consistent archive of keys and store (safe while the CA is running)')
    .requiredOption('--out <file>', 'archive to write')
    .action(async (o) => {
      const layout = dataDirLayout(resolve(o.dataDir));
      assertOutputDir('--out', o.out);
      assertOutsideDataDir(o.out, layout.root);
      const { store, close } = await openForBackup(layout.root);
      try {
        const r = await writeBackup({ dataDir: layout.root, caDir: layout.ca, store, storeFile: layout.store, passphrase: backupPassphrase(existsSync(layout.devMarker)), out: o.out });
        store.appendAudit({ event: 'ca.backup', actor: 'cli', data: { out: resolve(o.out), files: r.files } });
        for (const name of r.removedPartials) process.stderr.write(`wardgate backup: removed ${name}, the partial archive of a backup that was interrupted\n`);
        console.log(`backup written to ${o.out}: ${r.files} files, ${r.bytes} bytes, AES-256-GCM`);
      } finally {
        close();
      }
    });

  withDataDir(program.command('restore'))
    .description('restore a backup archive into an empty data dir')
    .requiredOption('--from <file>', 'archive made by `wardgate backup`')
    .option('--dev', 'the archive is of a dev-mode data dir (dev passphrase)')
    .action(async (o) => {
      const layout = dataDirLayout(resolve(o.dataDir));
      const archive = readBackup(o.from, backupPassphrase(Boolean(o.dev)));
      let entries = 0;
      let keys = 'CA keys not checked (WARDGATE_CA_PASSPHRASE is not set)';
      // Checked before the restored files move into the data dir: a CA that fails stays out of it.
      const r = restoreBackup(archive, layout.root, (unpacked) => {
        const unpackedLayout = dataDirLayout(unpacked);
        const caPass = process.env.WARDGATE_CA_PASSPHRASE || (existsSync(unpackedLayout.devMarker) ? caPassphrase({ dev: true }) : undefined);
        if (caPass) keys = `${assertCaKeysDecrypt(unpackedLayout.keys, caPass, process.env.WARDGATE_CA_PASSPHRASE ? 'WARDGATE_CA_PASSPHRASE' : 'the dev passphrase')} CA keys decrypt`;
        const store = new SqliteStore(unpackedLayout.store);
        try {
          store.checkIntegrity();
          entries = verifyAuditChain(store.readAudit(), store.auditHead()).entries;
        } finally {
          store.close();
        }
      });
      console.log(`restored ${r.files} files into ${layout.root} (backup of ${r.createdAt}); ${keys}, store intact, audit chain of ${entries} entries verifies`);
    });
}
