/**
 * Sockets for probes: every connection goes through the global rate limiter, every wait has a
 * timeout, and every socket is destroyed when its probe ends, whatever happened.
 */
import net from 'node:net';
import type { RateLimiter } from './limiter.ts';

export interface ConnectContext {
  rate: RateLimiter;
  timeoutMs: number;
  /** Counts connection attempts (the report's `connections`). */
  onConnect?: () => void;
}

export type ConnectResult =
  | { ok: true; socket: net.Socket }
  // 'reset': the peer completed the TCP handshake and reset at once (an RST to our SYN is 'refused'):
  // the port is open, it just closes every connection.
  | { ok: false; reason: 'refused' | 'reset' | 'timeout' | 'unreachable' | 'error'; message: string };

export async function connectTcp(ctx: ConnectContext, address: string, port: number): Promise<ConnectResult> {
  await ctx.rate.take();
  ctx.onConnect?.();
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port, noDelay: true });
    const timer = setTimeout(() => finish({ ok: false, reason: 'timeout', message: `no TCP answer within ${ctx.timeoutMs} ms` }), ctx.timeoutMs);
    function finish(r: ConnectResult) {
      clearTimeout(timer);
      socket.removeAllListeners('connect');
      socket.removeAllListeners('error');
      if (!r.ok) socket.destroy();
      else socket.on('error', () => {});
      resolve(r);
    }
    socket.once('connect', () => finish({ ok: true, socket }));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const reason = err.code === 'ECONNREFUSED' ? 'refused' : err.code === 'ECONNRESET' ? 'reset' : err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' ? 'unreachable' : 'error';
      finish({ ok: false, reason, message: err.message });
    });
  });
}

export interface ExchangeResult {
  data: Buffer;
  /** The peer closed (FIN or reset) before `complete` said enough. */
  closed: boolean;
  timedOut: boolean;
  /** The socket error that ended the exchange, if any (e.g. a TLS alert). */
  error?: string;
}

/**
 * Write `request` (if any) and collect the answer until `complete(data)` is true, the peer closes, or
 * `timeoutMs` passes. Never reads more than `maxBytes`: a probe needs only the first PDU or frame.
 */
export function exchange(socket: net.Socket, request: Buffer | undefined, complete: (data: Buffer) => boolean, timeoutMs: number, maxBytes = 65536): Promise<ExchangeResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => finish(false, true), timeoutMs);
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      const data = Buffer.concat(chunks, size);
      if (size >= maxBytes || complete(data)) finish(false, false);
    };
    let error: string | undefined;
    const onClose = () => finish(true, false);
    const onError = (err: NodeJS.ErrnoException) => {
      error = `${err.code ?? ''} ${err.message}`.trim();
      finish(true, false);
    };
    function finish(closed: boolean, timedOut: boolean) {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('end', onClose);
      socket.off('error', onError);
      // Stop reading until the next exchange (or closeSocket) wants bytes: a peer that floods must
      // not keep the scanner reading and discarding data after the answer is complete.
      socket.pause();
      const r: ExchangeResult = { data: Buffer.concat(chunks, size), closed, timedOut };
      if (error) r.error = error;
      resolve(r);
    }
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('end', onClose);
    socket.once('error', onError);
    if (socket.destroyed) finish(true, false);
    else {
      socket.resume();
      if (request) socket.write(request);
    }
  });
}

/**
 * End politely and resolve once the socket is closed (at most 1 s later, then it is destroyed):
 * callers await it, so with per-host concurrency 1 the device has really seen the previous
 * connection go before the next one starts.
 */
/** The reason given when a TLS peer ends the connection because we sent no client certificate. */
export const MUTUAL_TLS = 'the peer requires a client certificate (mutual TLS): what runs inside cannot be probed';

/** TLS 1.3 (RFC 8446 §6.2 certificate_required) or 1.2 alerts sent when we present no client certificate. */
export function isClientCertRequired(error: string | undefined): boolean {
  return /CERTIFICATE_REQUIRED|certificate required|ALERT_HANDSHAKE_FAILURE|alert bad certificate/i.test(error ?? '');
}

/** Bytes a peer may still send after our end() before the connection is destroyed instead. */
export const CLOSE_DRAIN_LIMIT = 65536;

export function closeSocket(socket: net.Socket, unresponsive = false, graceMs = 1000): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), graceMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    // Read (and drop) until the peer's FIN, but a peer that keeps sending gets no grace period.
    let drained = 0;
    socket.on('data', (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > CLOSE_DRAIN_LIMIT) socket.destroy();
    });
    socket.resume();
    // A peer that did not answer in time gets no grace period: it would only hold the slot longer.
    if (unresponsive) socket.destroy();
    else socket.end();
  });
}
