/**
 * A one-line progress bar for long operations (scan, fuzz): drawn on stderr only when it is a TTY,
 * at most 10 times a second; silent in CI and pipes, so NDJSON on stdout stays clean.
 */
export interface ProgressBar {
  update(done: number, detail?: string): void;
  setTotal(total: number): void;
  finish(): void;
}

export function progressBar(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  const enabled = Boolean(stream.isTTY) && !process.env.CI;
  let last = 0;
  let current = 0;
  let lastDetail = '';
  const started = Date.now();
  const draw = () => {
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 60));
    const ratio = total > 0 ? Math.min(1, current / total) : 0;
    const filled = Math.round(ratio * width);
    const secs = ((Date.now() - started) / 1000).toFixed(0);
    const line = `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${current}/${total} ${secs}s ${lastDetail}`;
    stream.write(`\r${line.slice(0, (stream.columns ?? 80) - 1)}\x1b[K`);
  };
  return {
    update(done: number, detail = '') {
      current = done;
      lastDetail = detail;
      if (!enabled) return;
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      draw();
    },
    setTotal(n: number) {
      total = n;
    },
    finish() {
      if (!enabled) return;
      draw();
      stream.write('\n');
    },
  };
}
