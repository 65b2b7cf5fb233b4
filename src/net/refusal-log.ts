/**
 * Log lines for connections a listener refuses (src/net/connection-caps.ts), so an operator learns that a
 * host is being turned away, without a flood of refusals becoming a flood of log lines: per reason, the
 * first refusal is logged at once and later ones are counted and folded into one line per window.
 */

export interface RefusalLogOptions {
  /** At most one line per reason per window (default 10 s). */
  windowMs?: number;
  /**
   * Distinct reasons tracked in one window (default 32): a reason names the refused address, so a flood
   * from many addresses would otherwise still log one line per address. Beyond this they are counted together.
   */
  maxReasons?: number;
}

export const REFUSAL_LOG_WINDOW_MS = 10_000;

const OTHERS = 'further addresses (too many to log one by one)';

/**
 * Returns an `onRefused` callback that writes `${listener}: refused ...` lines to `log`; `listener` may be a
 * function, for a label with the port a listener on port 0 only learns once it listens.
 */
export function refusalLog(log: (line: string) => void, listener: string | (() => string), opts: RefusalLogOptions = {}): (reason: string) => void {
  const label = typeof listener === 'string' ? () => listener : listener;
  const windowMs = opts.windowMs ?? REFUSAL_LOG_WINDOW_MS;
  const maxReasons = opts.maxReasons ?? 32;
  /** Refusals not yet logged, per reason with an open window. */
  const pending = new Map<string, number>();

  const closeWindow = (reason: string) => {
    const count = pending.get(reason) ?? 0;
    if (count === 0) {
      pending.delete(reason);
      return;
    }
    log(`${label()}: refused ${count} more connection${count === 1 ? '' : 's'} in the last ${windowMs / 1000} s: ${reason}`);
    // The flood goes on: a new window, so the next line is again a window away.
    pending.set(reason, 0);
    setTimeout(closeWindow, windowMs, reason).unref();
  };

  return (refused: string) => {
    const reason = pending.has(refused) || pending.size < maxReasons ? refused : OTHERS;
    const count = pending.get(reason);
    if (count !== undefined) {
      pending.set(reason, count + 1);
      return;
    }
    log(`${label()}: refused a connection: ${reason}`);
    pending.set(reason, 0);
    setTimeout(closeWindow, windowMs, reason).unref();
  };
}
