/**
 * Where audit records go: an append-only file (one RFC 5424 message per line) and a syslog collector
 * over TLS (RFC 5425: mutual TLS, octet-counting framing). Sinks never throw into the gateway: a
 * collector outage queues records (bounded) and reconnects; failures are reported to `onError`.
 */
import { createWriteStream, fstat, stat, type WriteStream } from 'node:fs';
import tls from 'node:tls';
import { WardgateError } from '../errors.ts';
import { MIN_MESSAGE_BYTES } from './fit.ts';
import { octetFrame } from './rfc5424.ts';

export interface AuditSink {
  write(syslogMessage: string): void;
  close(): Promise<void>;
  /** Start a new file at the configured path (after log rotation); sinks without a file ignore it. */
  reopen?(): void;
  /** Records discarded since start (the sink could not keep up or could not write). */
  readonly dropped: number;
  /** The longest syslog message (octets) the receiver takes; the Auditor splits or cuts records to fit. None: no limit. */
  readonly maxMessageBytes?: number;
}

/**
 * Counts records a sink had to discard and reports the loss through `onError`: at once for the first
 * one, then at most once per `everyMs`, so a long outage logs a running total instead of a flood.
 */
class LossReporter {
  dropped = 0;
  private reported = 0;
  private lastReport = 0;

  constructor(private readonly what: string, private readonly onError: (err: WardgateError) => void, private readonly everyMs = 60_000) {}

  drop(reason: string): void {
    this.dropped++;
    const now = Date.now();
    if (this.reported > 0 && now - this.lastReport < this.everyMs) return;
    const since = this.reported;
    // Marked reported before the callback runs: a handler that drops another record (logging into the
    // failing sink) must see this report as made, not recurse.
    this.lastReport = now;
    this.reported = this.dropped;
    this.onError(new WardgateError('AUDIT_SINK_FAILED', `${this.what}: dropped ${this.dropped - since} audit record(s) (${this.dropped} since start): ${reason}`));
  }
}

export interface FileSinkOptions {
  /** After a write error, how long records are dropped before the file is opened again. */
  reopenDelayMs?: number;
  /**
   * How often to check whether the path still names the open file (0: never). logrotate's default
   * renames the file and compresses or deletes it later: records written to the old inode after that
   * are lost, so the sink follows the path within this interval even without SIGHUP.
   */
  rotationCheckMs?: number;
}

export class FileSink implements AuditSink {
  private stream: WriteStream;
  private failedAt = 0;
  private readonly loss: LossReporter;
  private readonly rotationTimer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(readonly path: string, private readonly onError: (err: WardgateError) => void, private readonly opts: FileSinkOptions = {}) {
    this.loss = new LossReporter(`audit file ${path}`, onError);
    this.stream = this.open();
    const every = opts.rotationCheckMs ?? 1_000;
    if (every > 0) {
      this.rotationTimer = setInterval(() => this.followRotation(), every);
      this.rotationTimer.unref();
    }
  }

  /** Records discarded because the file could not be written. */
  get dropped(): number {
    return this.loss.dropped;
  }

  private open(): WriteStream {
    const stream = createWriteStream(this.path, { flags: 'a', mode: 0o640 });
    stream.on('error', (err) => {
      this.failedAt = Date.now();
      this.onError(new WardgateError('AUDIT_SINK_FAILED', `audit file ${this.path}: ${err.message}`, { cause: err }));
    });
    return stream;
  }

  /** Close the current file (pending records still reach it) and append to a new one at the path. */
  reopen(): void {
    const old = this.stream;
    this.stream = this.open();
    if (!old.destroyed) old.end();
  }

  /** Reopen when the path no longer names the file we write to (renamed, deleted or replaced). */
  private followRotation(): void {
    const fd = (this.stream as WriteStream & { fd: number | null }).fd;
    if (this.checking || typeof fd !== 'number' || this.stream.destroyed) return;
    this.checking = true;
    fstat(fd, (err, open) => {
      if (err) { this.checking = false; return; }
      stat(this.path, (missing, named) => {
        this.checking = false;
        if (this.stream.destroyed || (this.stream as WriteStream & { fd: number | null }).fd !== fd) return;
        if (missing || named.ino !== open.ino || named.dev !== open.dev) this.reopen();
      });
    });
  }

  write(message: string): void {
    // A stream that failed once (ENOSPC, EIO) is destroyed for good: open the file again, so audit
    // resumes when the disk recovers instead of being discarded until a restart.
    if (this.stream.destroyed || this.stream.errored) {
      if (Date.now() - this.failedAt < (this.opts.reopenDelayMs ?? 5_000)) return this.loss.drop('the file is not writable');
      this.failedAt = Date.now();
      this.stream = this.open();
    }
    // The XML is rendered on one line, so a newline delimits records unambiguously. A record the stream
    // accepted but could not write (the failing write, and every one queued behind it when the error
    // destroyed the stream) is lost: its callback gets the error, so it is counted and reported.
    // The failure time is taken here too: the stream's 'error' event comes only after its file is closed
    // (a thread-pool round trip, slow under load), and a record arriving in between must wait out the
    // reopen delay like any other instead of reopening the file at once.
    this.stream.write(`${message}\n`, (err) => {
      if (!err) return;
      this.failedAt = Date.now();
      this.loss.drop(`not written: ${err.message}`);
    });
  }

  close(): Promise<void> {
    clearInterval(this.rotationTimer);
    const stream = this.stream;
    if (stream.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      stream.once('close', resolve);
      stream.end();
    });
  }
}

export interface TlsSyslogOptions {
  host: string;
  port: number;
  ca: string;
  cert?: string;
  key?: string;
  serverName?: string;
  /** Records held while the collector is unreachable or not reading; older ones are dropped beyond it. */
  maxQueue?: number;
  /**
   * Bytes allowed in the socket's own buffer before records wait in the (bounded) queue instead: a
   * collector that stops reading must not make the gateway buffer without limit.
   */
  maxBufferedBytes?: number;
  /** First reconnection delay; it doubles per failed attempt up to `maxReconnectMs`. */
  reconnectMs?: number;
  maxReconnectMs?: number;
  /** A collector that does not complete the TLS handshake within this is given up and retried. */
  connectTimeoutMs?: number;
  /**
   * RFC 5425 has no acknowledgement (§4.3: the collector sends nothing back), so a collector that
   * resets the connection (it refused our client certificate after the handshake, or it is
   * restarting) discards what it had not read. Records handed to the connection within this time
   * before it closed unexpectedly are sent again on the next one (the collector may see such a
   * record twice; none is lost unnoticed). A connection that closes sooner than this after the
   * handshake also keeps the reconnection back-off growing.
   */
  resendWindowMs?: number;
  /** The longest syslog message the collector takes, in octets (DEFAULT_MESSAGE_BYTES); it truncates longer ones. */
  maxMessageBytes?: number;
}

/**
 * Bounds on the first reconnection delay a config file may set (ms): faster hammers a collector that
 * is down; slower than the back-off's cap (maxReconnectMs, 60 s by default) would not back off at all.
 */
export const SYSLOG_RECONNECT_MS = { min: 100, max: 60_000 } as const;
/**
 * Bounds on resendWindowMs in a config file (ms): frames stay in memory for the window after they
 * were sent, so a long one holds many records at a high rate; a very short one resends nothing.
 */
export const SYSLOG_RESEND_WINDOW_MS = { min: 100, max: 30_000 } as const;

/**
 * RFC 5425 §4.3.1 asks receivers to take 8192 octets, but rsyslog's "8k" default maxMessageSize is 8096
 * (its iMaxLine): it truncates anything longer. The default fits that most common collector.
 */
export const DEFAULT_MESSAGE_BYTES = 8096;

/** A frame on the current connection: `sentAt` is when the socket handed it to the kernel. */
interface SentFrame {
  frame: Buffer;
  sentAt?: number;
}

export class TlsSyslogSink implements AuditSink {
  private socket: tls.TLSSocket | undefined;
  private isConnected = false;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private connectedAt = 0;
  /** Frames written to the current connection that were not handed to the kernel long enough ago to count as read. */
  private unsettled: SentFrame[] = [];
  private readonly loss: LossReporter;

  readonly maxMessageBytes: number;

  constructor(private readonly opts: TlsSyslogOptions, private readonly onError: (err: WardgateError) => void) {
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MESSAGE_BYTES;
    if (!Number.isInteger(this.maxMessageBytes) || this.maxMessageBytes < MIN_MESSAGE_BYTES) {
      throw new WardgateError('CONFIG_INVALID', `syslog maxMessageBytes ${opts.maxMessageBytes}: must be a whole number of octets, at least ${MIN_MESSAGE_BYTES}`);
    }
    for (const name of ['reconnectMs', 'maxReconnectMs', 'resendWindowMs', 'connectTimeoutMs'] as const) {
      const v = opts[name];
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new WardgateError('CONFIG_INVALID', `syslog ${name} ${v}: must be a positive number of milliseconds`);
    }
    this.loss = new LossReporter(`syslog collector ${opts.host}:${opts.port}`, onError);
    this.connect();
  }

  /** Records discarded because the queue was full (collector down or not reading). */
  get dropped(): number {
    return this.loss.dropped;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  /** Bytes held in memory: the queue plus what the socket has not handed to the kernel yet. */
  get bufferedBytes(): number {
    return this.queuedBytes + (this.socket?.writableLength ?? 0);
  }

  write(message: string): void {
    this.queue.push(octetFrame(message));
    this.queuedBytes += this.queue[this.queue.length - 1].length;
    this.flush();
    this.trimQueue();
  }

  private trimQueue(): void {
    const max = this.opts.maxQueue ?? 10_000;
    while (this.queue.length > max) {
      this.queuedBytes -= this.queue.shift()!.length;
      this.loss.drop(this.isConnected ? 'the collector is not reading' : 'the collector is unreachable');
    }
  }

  /** Move queued records to the socket while it takes them without buffering beyond the limit. */
  private flush(): void {
    const socket = this.socket;
    if (!this.isConnected || !socket) return;
    const limit = this.opts.maxBufferedBytes ?? 1024 * 1024;
    const settledBefore = Date.now() - this.resendWindowMs;
    // Callbacks run in write order, so settled frames are at the front.
    while (this.unsettled.length > 0 && (this.unsettled[0].sentAt ?? Infinity) < settledBefore) this.unsettled.shift();
    while (this.queue.length > 0 && socket.writableLength < limit) {
      const frame = this.queue.shift()!;
      this.queuedBytes -= frame.length;
      const sent: SentFrame = { frame };
      this.unsettled.push(sent);
      socket.write(frame, (err) => { if (!err) sent.sentAt = Date.now(); });
    }
  }

  private get resendWindowMs(): number {
    return this.opts.resendWindowMs ?? 2000;
  }

  /** After an unexpected close: frames the collector may not have read go back to the front of the queue. */
  private requeueUnsettled(): void {
    const closedAt = Date.now();
    const again = this.unsettled.filter((s) => s.sentAt === undefined || closedAt - s.sentAt < this.resendWindowMs).map((s) => s.frame);
    this.unsettled = [];
    if (again.length === 0) return;
    this.queue.unshift(...again);
    for (const frame of again) this.queuedBytes += frame.length;
    this.onError(new WardgateError('AUDIT_SINK_FAILED', `syslog collector ${this.opts.host}:${this.opts.port}: connection closed; ${again.length} audit record(s) it may not have read will be sent again`));
    this.trimQueue();
  }

  private connect(): void {
    if (this.closed) return;
    const { host, port, ca, cert, key, serverName } = this.opts;
    // RFC 5425 §5: the transport is TLS with certificate-based mutual authentication; we verify the collector.
    const socket = tls.connect({ host, port, ca, cert, key, servername: serverName ?? (/^[0-9.]+$|:/.test(host) ? undefined : host), minVersion: 'TLSv1.2' });
    this.socket = socket;
    socket.setNoDelay(true);
    const connectTimeoutMs = this.opts.connectTimeoutMs ?? 10_000;
    socket.setTimeout(connectTimeoutMs, () => socket.destroy(new Error(`no TLS handshake within ${connectTimeoutMs} ms`)));
    socket.once('secureConnect', () => {
      socket.setTimeout(0);
      this.isConnected = true;
      this.connectedAt = Date.now();
      this.flush();
    });
    socket.on('drain', () => this.flush());
    socket.on('data', () => {}); // RFC 5425 §4.3: the collector sends nothing; ignore whatever it does send.
    socket.on('error', (err) => this.onError(new WardgateError('AUDIT_SINK_FAILED', `syslog collector ${host}:${port}: ${err.message}`, { cause: err })));
    socket.once('close', () => {
      this.isConnected = false;
      this.socket = undefined;
      if (this.closed) return;
      this.requeueUnsettled();
      // A collector that drops us right after the handshake (e.g. it refuses our certificate) is a
      // failed attempt too: only a connection that lasted resets the back-off.
      if (this.connectedAt > 0 && Date.now() - this.connectedAt >= this.resendWindowMs) this.failures = 0;
      this.connectedAt = 0;
      // Back off so that a collector that stays down is not hammered (nor the log flooded) every few seconds.
      const first = this.opts.reconnectMs ?? 2000;
      const delay = Math.min(first * 2 ** this.failures, Math.max(first, this.opts.maxReconnectMs ?? 60_000));
      this.failures++;
      this.timer = setTimeout(() => this.connect(), delay).unref();
    });
  }

  /** Flush what is queued or in flight (bounded by `timeoutMs`), then close the connection. */
  async close(timeoutMs = 3000): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const socket = this.socket;
    if (!socket) return;
    await new Promise<void>((resolve) => {
      const done = setTimeout(() => { socket.destroy(); resolve(); }, timeoutMs);
      const finish = () => { clearTimeout(done); resolve(); };
      const drainAndEnd = () => {
        this.flush();
        if (this.queue.length === 0) socket.end(finish);
        else socket.once('drain', drainAndEnd);
      };
      socket.once('close', finish);
      if (this.isConnected) drainAndEnd();
      else socket.once('secureConnect', drainAndEnd);
    });
  }
}
