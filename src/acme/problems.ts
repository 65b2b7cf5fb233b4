import type { AcmeIdentifier, StoredProblem } from '../store/acme-types.ts';

/**
 * RFC 8555 §6.7 error types with the HTTP status each is answered with. One table, so a type can never
 * be sent with two different statuses (or mapped to the wrong URN) in two handlers.
 */
export const PROBLEM_TYPES = {
  accountDoesNotExist: 400,
  alreadyRevoked: 400,
  badCSR: 400,
  badNonce: 400,
  badPublicKey: 400,
  badRevocationReason: 400,
  badSignatureAlgorithm: 400,
  caa: 403,
  compound: 403,
  connection: 400,
  dns: 400,
  externalAccountRequired: 401,
  incorrectResponse: 403,
  invalidContact: 400,
  malformed: 400,
  orderNotReady: 403,
  rateLimited: 429,
  rejectedIdentifier: 400,
  serverInternal: 500,
  tls: 400,
  unauthorized: 403,
  unsupportedContact: 400,
  unsupportedIdentifier: 400,
  userActionRequired: 403,
  // draft-ietf-acme-profiles §5
  invalidProfile: 400,
  // RFC 9773 §7.4: the certificate named in `replaces` was already replaced
  alreadyReplaced: 409,
} as const;

export type ProblemType = keyof typeof PROBLEM_TYPES;
export const ACME_ERROR_PREFIX = 'urn:ietf:params:acme:error:';

export interface Subproblem { type: ProblemType; detail: string; identifier: AcmeIdentifier }

/** Thrown anywhere in a request; the error handler turns it into an application/problem+json reply. */
export class AcmeProblem extends Error {
  readonly status: number;
  constructor(
    readonly type: ProblemType,
    detail: string,
    readonly extra: { subproblems?: Subproblem[]; retryAfterSeconds?: number; status?: number; algorithms?: string[] } = {},
  ) {
    super(detail);
    this.status = extra.status ?? PROBLEM_TYPES[type];
  }

  toJSON(): StoredProblem & { algorithms?: string[] } {
    return problemDocument(this.type, this.message, this.status, this.extra.subproblems, this.extra.algorithms);
  }
}

export function problemDocument(type: ProblemType, detail: string, status: number = PROBLEM_TYPES[type], subproblems?: Subproblem[], algorithms?: string[]): StoredProblem & { algorithms?: string[] } {
  return {
    type: ACME_ERROR_PREFIX + type, detail, status,
    ...(subproblems?.length ? { subproblems: subproblems.map((s) => ({ type: ACME_ERROR_PREFIX + s.type, detail: s.detail, identifier: s.identifier })) } : {}),
    ...(algorithms ? { algorithms } : {}),
  };
}
