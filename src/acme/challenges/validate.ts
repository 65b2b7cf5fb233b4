import { withAttempts } from './attempts.ts';
import { validateDns01 } from './dns-01.ts';
import { failure } from './failure.ts';
import { validateHttp01 } from './http-01.ts';
import { isValidToken } from './key-authorization.ts';
import { validateTlsAlpn01 } from './tls-alpn-01.ts';
import type { ChallengeType, Identifier, ValidationOptions, ValidationResult } from './types.ts';

type Validator = (identifier: Identifier, token: string, keyAuthorization: string, opts: ValidationOptions, signal: AbortSignal) => Promise<string | undefined>;

const VALIDATORS: Record<ChallengeType, Validator> = {
  'http-01': validateHttp01,
  'tls-alpn-01': validateTlsAlpn01,
  'dns-01': validateDns01,
};

/** Challenge types offered for an identifier: no dns-01 for IP addresses (RFC 8738 §7). */
export function challengeTypesFor(identifier: Identifier): ChallengeType[] {
  return identifier.type === 'ip' ? ['http-01', 'tls-alpn-01'] : ['http-01', 'dns-01', 'tls-alpn-01'];
}

/**
 * Validates one challenge (RFC 8555 §7.5.1 "the server ... begins the validation"). Resolves with the
 * address that answered, or with the problem to record in the challenge's `error`; rejects only with
 * `signal.reason` when the caller aborts.
 */
export async function validateChallenge(type: ChallengeType, identifier: Identifier, token: string, keyAuthorization: string, opts: ValidationOptions, signal?: AbortSignal): Promise<ValidationResult> {
  const validator = VALIDATORS[type];
  if (!validator) return { ok: false, problem: { type: 'serverInternal', detail: `unknown challenge type "${String(type)}"` } };
  const result = await withAttempts(opts, signal, async (attemptSignal) => {
    if (!challengeTypesFor(identifier).includes(type)) {
      throw failure('rejectedIdentifier', `${type} cannot validate ${identifier.type} identifier ${identifier.value} (RFC 8738 §7)`);
    }
    if (!isValidToken(token)) throw failure('serverInternal', 'the challenge token is not base64url (RFC 8555 §8.1)');
    return validator(identifier, token, keyAuthorization, opts, attemptSignal);
  });
  if (!result.ok) return result;
  return result.value === undefined ? { ok: true } : { ok: true, addressUsed: result.value };
}
