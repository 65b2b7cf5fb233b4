import { WardgateError } from '../errors.ts';

export const PASSPHRASE_ENV = 'WARDGATE_CA_PASSPHRASE';

/**
 * Dev mode only (npm start, dev-certs): a fixed, publicly known passphrase. Data dirs made with it carry a
 * DEV-MODE-INSECURE marker file and every command that opens them says so.
 */
export const DEV_PASSPHRASE = 'wardgate-dev-mode-INSECURE-do-not-use-in-production';

export function caPassphrase(opts: { dev?: boolean; env?: NodeJS.ProcessEnv } = {}): string {
  const env = opts.env ?? process.env;
  const value = env[PASSPHRASE_ENV];
  if (value) return value;
  if (opts.dev) return DEV_PASSPHRASE;
  throw new WardgateError('PASSPHRASE_MISSING',
    `${PASSPHRASE_ENV} is not set: CA keys are encrypted at rest and need it (for a throwaway dev CA use \`npm start\`)`);
}
