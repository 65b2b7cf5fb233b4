import { lstatSync, readFileSync, unlinkSync } from 'node:fs';
import type { Command } from 'commander';
import type { IssuerKind } from '../pki/ca-meta.ts';
import { KEY_FILE_PBKDF2_ITERATIONS, isPlaintextKeyPem } from '../pki/key-store.ts';
import { writeNewFile } from '../store/new-file.ts';
import { assertOutputDir, fail, openCa, readArgumentFile, withDataDir, withDataDirLock } from './common.ts';

export function register(program: Command): void {
  const ca = program.command('ca').description('root key handling and intermediate rollover');

  withDataDir(ca.command('root-offline'))
    .description('export the (encrypted) root key to a file and remove it from the data dir')
    .requiredOption('--out <file>', 'where to write the encrypted root key; move it to offline storage')
    .addHelpText('after', '\nThe exported key stays encrypted with WARDGATE_CA_PASSPHRASE. It is needed again only for `wardgate ca rollover --root-key FILE`.')
    .action(async (o) => {
      // lstat, not exists: a dangling symlink is something at --out too (the export would land where it points).
      if (lstatSync(o.out, { throwIfNoEntry: false })) fail(`${o.out} exists; refusing to overwrite it`);
      assertOutputDir('--out', o.out);
      // It rewrites ca.json: a rollover (or a serve starting) must not write its own copy over it.
      await withDataDirLock(o.dataDir, 'wardgate ca root-offline', async () => {
        const authority = await openCa(o.dataDir);
        try {
          const wrapped = await authority.exportRootKey();
          try {
            writeNewFile(o.out, wrapped, 0o600);
          } catch (err) {
            // Something appeared at --out since the check above: it is not ours to replace.
            if ((err as NodeJS.ErrnoException).code === 'EEXIST' || (err as NodeJS.ErrnoException).code === 'ELOOP') fail(`${o.out} exists; refusing to overwrite it`);
            throw err;
          }
          // Read back before deleting: the export must be complete and identical.
          if (readFileSync(o.out, 'utf8') !== wrapped) {
            unlinkSync(o.out);
            fail(`could not verify ${o.out}; the root key was NOT removed`);
          }
          authority.commitRootOffline();
          console.log(`root key written to ${o.out} and removed from ${authority.layout.keys}`);
        } finally {
          authority.close();
        }
      });
    });

  withDataDir(ca.command('rollover'))
    .description('sign new issuing intermediates with the root; the old ones stay valid for what they issued')
    .option('--kind <kind>', 'ecdsa, rsa or both', 'both')
    .option('--root-key <file>', 'the exported root key, when the root is offline')
    .action(async (o) => {
      const kinds: IssuerKind[] = o.kind === 'both' ? ['ecdsa', 'rsa'] : o.kind === 'ecdsa' || o.kind === 'rsa' ? [o.kind] : fail(`--kind must be ecdsa, rsa or both, not "${o.kind}"`);
      const offlineRootKeyPem = o.rootKey ? readArgumentFile('--root-key', o.rootKey) : undefined;
      if (o.rootKey && isPlaintextKeyPem(offlineRootKeyPem!)) {
        // Still used: refusing would strand a CA whose only root copy is this file. The advice produces what
        // root-offline writes (PKCS#8, PBES2 AES-256, the key store's PBKDF2 rounds) under the CA passphrase.
        process.stderr.write(`wardgate: warning: --root-key ${o.rootKey} is not encrypted; an offline root key should be encrypted at rest: `
          + `openssl pkcs8 -topk8 -v2 aes-256-cbc -iter ${KEY_FILE_PBKDF2_ITERATIONS} -in ${o.rootKey} -out ${o.rootKey}.enc (pass phrase: WARDGATE_CA_PASSPHRASE), then shred ${o.rootKey}\n`);
      }
      // A running serve would go on issuing from the intermediates it loaded at start: stop it first.
      await withDataDirLock(o.dataDir, 'wardgate ca rollover', async () => {
        const authority = await openCa(o.dataDir);
        try {
          const created = await authority.rollover(kinds, { offlineRootKeyPem });
          for (const c of created) console.log(`new ${c.kind} issuing intermediate ${c.id} (${c.keyType}), valid until ${c.notAfter}; now active`);
          console.log('consider `wardgate renew-early --all` so that devices move to the new intermediate');
        } finally {
          authority.close();
        }
      });
    });
}

