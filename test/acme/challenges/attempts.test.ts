import t from 'tap';
import { getEventListeners } from 'node:events';
import { withAttempts } from '../../../src/acme/challenges/attempts.ts';
import { DEFAULT_VALIDATION_OPTIONS } from '../../../src/acme/challenges/index.ts';
import { ValidationFailure } from '../../../src/acme/challenges/failure.ts';

const opts = { ...DEFAULT_VALIDATION_OPTIONS, timeoutMs: 10_000, attempts: 1 };

t.test('a finished validation leaves no timer and no listener on the server\'s signal', async (t) => {
  // AbortSignal.timeout used to leave each attempt's timer running after the attempt ended (it fired
  // and aborted the finished attempt's signal ~10 s later), and AbortSignal.any tied each attempt's
  // signal to the server's long-lived one.
  const server = new AbortController();
  const seen: AbortSignal[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await withAttempts({ ...opts, timeoutMs: 40 }, server.signal, async (signal) => {
      seen.push(signal);
      return i;
    });
    t.same(r, { ok: true, value: i });
  }
  await new Promise((r) => setTimeout(r, 150));
  t.equal(seen.filter((s) => s.aborted).length, 0, 'no attempt timer fired after its attempt ended');
  t.equal(getEventListeners(server.signal, 'abort').length, 0, 'no listener left on the caller\'s signal');
});

t.test('an attempt that overruns its budget is aborted with a TimeoutError and retried', async (t) => {
  const reasons: string[] = [];
  const r = await withAttempts({ ...opts, timeoutMs: 30, attempts: 2 }, undefined, (signal) => new Promise((_, reject) => {
    signal.addEventListener('abort', () => {
      reasons.push((signal.reason as Error).name);
      reject(new ValidationFailure({ type: 'connection', detail: 'timed out' }, true));
    });
  }));
  t.same(reasons, ['TimeoutError', 'TimeoutError']);
  t.equal(r.ok, false);
  t.match(!r.ok && r.problem.detail, /timed out \(gave up after 2 attempts\)/);
});

t.test('the caller\'s abort reaches the attempt and is re-thrown with its reason', async (t) => {
  const server = new AbortController();
  const shutdown = new Error('server stopping');
  const run = withAttempts(opts, server.signal, (signal) => new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(new ValidationFailure({ type: 'connection', detail: 'aborted' }, true)));
    setImmediate(() => server.abort(shutdown));
  }));
  await t.rejects(run, shutdown);
  t.equal(getEventListeners(server.signal, 'abort').length, 0);
});
