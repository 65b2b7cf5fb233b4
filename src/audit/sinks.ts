/**
 * Where audit records go: an append-only file (one RFC 5424 message per line) and a syslog collector
 * over TLS (RFC 5425: mutual TLS, octet-counting framing). Sinks never throw into the gateway: a
 * collector outage queues records (bounded) and reconnects; failures are reported to `onError`.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import tls from 'node:tls';
import { WardgateError } from '../errors.ts';
import { octetFrame } from './rfc5424.ts';

export interface AuditSink {
  write(syslogMessage: string): void;
  close(): Promise<void>;
}

export class FileSink implements AuditSink {
  private stream: WriteStream;

  constructor(readonly path: string, onError: (err: WardgateError) => void) {
    this.stream = createWriteStream(path, { flags: 'a', mode: 0o640 });
    this.stream.on('error', (err) => onError(new WardgateError('AUDIT_SINK_FAILED', `audit file ${path}: ${err.message}`, { cause: err })));
  }

  write(message: string): void {
    // The XML is rendered on one line, so a newline delimits records unambiguously.
    this.stream.write(`${message}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }
}

export interface TlsSyslogOptions {
  host: string;
  port: number;
  ca: string;
  cert?: string;
  key?: string;
  serverName?: string;
  /** Records held while the collector is unreachable; older ones are dropped beyond it. */
  maxQueue?: number;
  reconnectMs?: number;
}

export class TlsSyslogSink implements AuditSink {
  private socket: tls.TLSSocket | undefined;
  private connected = false;
  private queue: Buffer[] = [];
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  dropped = 0;

  constructor(private readonly opts: TlsSyslogOptions, private readonly onError: (err: WardgateError) => void) {
    this.connect();
  }

  write(message: string): void {
    const frame = octetFrame(message);
    if (this.connected && this.socket) {
      this.socket.write(frame);
      return;
    }
    this.queue.push(frame);
    const max = this.opts.maxQueue ?? 10_000;
    if (this.queue.length > max) {
      this.queue.shift();
      this.dropped++;
    }
  }

  private connect(): void {
    if (this.closed) return;
    const { host, port, ca, cert, key, serverName } = this.opts;
    // RFC 5425 §5: the transport is TLS with certificate-based mutual authentication; we verify the collector.
    const socket = tls.connect({ host, port, ca, cert, key, servername: serverName ?? (/^[0-9.]+$|:/.test(host) ? undefined : host), minVersion: 'TLSv1.2' });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.once('secureConnect', () => {
      this.connected = true;
      for (const frame of this.queue.splice(0)) socket.write(frame);
    });
    socket.on('data', () => {}); // RFC 5425 §4.3: the collector sends nothing; ignore whatever it does send.
    socket.on('error', (err) => this.onError(new WardgateError('AUDIT_SINK_FAILED', `syslog collector ${host}:${port}: ${err.message}`, { cause: err })));
    socket.once('close', () => {
      this.connected = false;
      this.socket = undefined;
      if (!this.closed) this.timer = setTimeout(() => this.connect(), this.opts.reconnectMs ?? 2000).unref();
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
      if (this.connected) {
        socket.end(finish);
      } else {
        socket.once('secureConnect', () => socket.end(finish));
        socket.once('close', finish);
      }
    });
  }
}
