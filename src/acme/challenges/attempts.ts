import { ValidationFailure } from './failure.ts';
import type { ValidationOptions, ValidationProblem } from './types.ts';

/** Backoff before attempt n+1: short, because a client is polling the challenge meanwhile. */
export function backoffMs(attempt: number): number {
  return Math.min(2_000, 250 * 2 ** (attempt - 1));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) { reject(signal.reason); return; }
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(timer); reject(signal.reason); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A signal for one attempt: aborted after `timeoutMs` (reason: a TimeoutError, as AbortSignal.timeout
 * gives) or when `parent` aborts (its reason). `done()` clears the timer and the listener on `parent`:
 * AbortSignal.timeout left a timer behind every attempt that fired ~10 s later, and AbortSignal.any
 * tied every attempt's signal to the server's long-lived one.
 */
function attemptSignal(timeoutMs: number, parent: AbortSignal | undefined): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), timeoutMs);
  const onParentAbort = () => controller.abort(parent!.reason);
  parent?.addEventListener('abort', onParentAbort, { once: true });
  return {
    signal: controller.signal,
    done: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParentAbort);
    },
  };
}

/**
 * Runs `step` up to `opts.attempts` times, each with its own `timeoutMs` budget (an AbortSignal that
 * also follows the caller's). Transient failures are retried; a definite answer is returned at once.
 * The caller's abort is re-thrown as `signal.reason`; anything else ends as a problem.
 */
export async function withAttempts<T>(opts: ValidationOptions, signal: AbortSignal | undefined, step: (attemptSignal: AbortSignal) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; problem: ValidationProblem }> {
  const attempts = Math.max(1, Math.floor(opts.attempts));
  let last: ValidationProblem | undefined;
  for (let n = 1; n <= attempts; n++) {
    signal?.throwIfAborted();
    const attempt = attemptSignal(opts.timeoutMs, signal);
    try {
      return { ok: true, value: await step(attempt.signal) };
    } catch (err) {
      signal?.throwIfAborted();
      if (!(err instanceof ValidationFailure)) {
        return { ok: false, problem: { type: 'serverInternal', detail: `validation failed unexpectedly: ${(err as Error)?.message ?? String(err)}` } };
      }
      last = err.problem;
      if (!err.retryable) break;
      if (n < attempts) await sleep(backoffMs(n), signal ?? new AbortController().signal);
      else last = { ...last, detail: `${last.detail} (gave up after ${attempts} attempt${attempts === 1 ? '' : 's'})` };
    } finally {
      attempt.done();
    }
  }
  return { ok: false, problem: last! };
}
