import { PASSPHRASE_ENV } from './passphrase.ts';

/**
 * Environment variables that carry wardgate's secrets: the CA passphrase, the backup passphrase and the
 * PKCS#12 password. The README has the admin `export` the CA passphrase into the shell, so it is present
 * whenever `wardgate conformance` or `wardgate fuzz --spawn` starts a vendor's program under test.
 */
export const SECRET_ENV_VARS: readonly string[] = [PASSPHRASE_ENV, 'WARDGATE_BACKUP_PASSPHRASE', 'WARDGATE_P12_PASSWORD'];

/**
 * `env` without SECRET_ENV_VARS, for processes wardgate starts but does not trust: a client that dumps its
 * environment in debug output would otherwise put the CA passphrase into the conformance report (which
 * quotes the client's output) or a fuzz finding's stderr.
 */
export function withoutSecrets(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of SECRET_ENV_VARS) delete copy[name];
  return copy;
}
