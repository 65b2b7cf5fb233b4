import type { ValidationProblem } from './types.ts';

/**
 * Internal control flow of one validation step. It never leaves this folder: `validateChallenge` turns it
 * into a `{ ok: false, problem }` result. `retryable` marks transient failures (network, DNS server,
 * timeout) worth another attempt; a definite wrong answer from the device is not retried.
 */
export class ValidationFailure extends Error {
  constructor(readonly problem: ValidationProblem, readonly retryable: boolean) {
    super(problem.detail);
    this.name = 'ValidationFailure';
  }
}

export function failure(type: ValidationProblem['type'], detail: string, retryable = false): ValidationFailure {
  return new ValidationFailure({ type, detail }, retryable);
}

/** A short, printable rendering of bytes a device sent, for problem details. */
export function preview(text: string, max = 120): string {
  const clean = JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
  return `${clean}${text.length > max ? ` (${text.length} characters)` : ''}`;
}
