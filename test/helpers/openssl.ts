import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Runs openssl and returns stdout; throws with stderr on failure. */
export function openssl(args: string[], input?: string | Buffer): string {
  const r = spawnSync('openssl', args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export type CsrKey = 'ec256' | 'ec384' | 'rsa1024' | 'rsa2048' | 'rsa3072' | 'secp256k1' | 'ed25519';

/** Makes a key and CSR with openssl, as a device or admin would. Returns file paths. */
export function makeCsr(dir: string, name: string, opts: { key?: CsrKey; cn?: string; sans?: string[] } = {}): { csr: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const k = opts.key ?? 'ec256';
  const keyArgs = k === 'ed25519' ? ['-newkey', 'ed25519']
    : k.startsWith('rsa') ? ['-newkey', `rsa:${k.slice(3)}`]
      : ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${k === 'ec384' ? 'P-384' : k === 'secp256k1' ? 'secp256k1' : 'P-256'}`];
  const args = ['req', '-new', ...keyArgs, '-nodes', '-keyout', key, '-out', csr, '-subj', opts.cn === undefined ? '/O=device' : `/CN=${opts.cn}`];
  if (opts.sans?.length) args.push('-addext', `subjectAltName=${opts.sans.join(',')}`);
  execFileSync('openssl', args, { stdio: 'pipe' });
  return { csr, key };
}

export function verifyChain(rootPem: string, untrustedPem: string, leafPem: string, dir: string, extra: string[] = []): { ok: boolean; output: string } {
  const root = join(dir, 'v-root.pem'); const mid = join(dir, 'v-mid.pem'); const leaf = join(dir, 'v-leaf.pem');
  writeFileSync(root, rootPem); writeFileSync(mid, untrustedPem); writeFileSync(leaf, leafPem);
  const r = spawnSync('openssl', ['verify', '-CAfile', root, '-untrusted', mid, ...extra, leaf], { encoding: 'utf8' });
  return { ok: r.status === 0, output: r.stdout + r.stderr };
}
