/**
 * Runs one client-side exchange: a new TCP (or TLS) connection, the chunks written in order, the
 * peer's answer collected until the conversation is complete (a terminal PDU or every ACK), the peer
 * closes, or nothing more arrives for `quietMs`. Every wait is bounded (`timeoutMs`).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Exchange, Protocol } from './exchange.ts';

export interface Endpoint {
  host: string;
  port: number;
  /** TLS to the target: trust, client certificate, and the name to verify. */
  tls?: { ca?: string; cert?: string; key?: string; servername?: string };
}

export interface ExecOptions {
  /** Hard bound on one exchange. */
  timeoutMs: number;
  /** The exchange ends when nothing more arrives for this long after the last write and a first answer. */
  quietMs: number;
  /** Longer wait while the peer has not answered at all (a busy gateway answers late, not never). */
  firstReplyMs: number;
  /** awaitReply: longest wait for an answer before writing the next chunk anyway. */
  gapMs: number;
  /** neverRead: the exchange ends once the target has taken nothing more of what is written for this long. */
  stallMs: number;
  /**
   * Most answer bytes kept per exchange: a target that answers more is cut off there (`overflow`), so
   * a peer that floods cannot make the fuzzer hold its answers without bound.
   */
  maxReplyBytes: number;
  /** Awaited once the exchange is over, before the connection closes (memory sampling). */
  beforeClose?: () => Promise<void>;
}

/** 4 MiB: several times the largest hostile answer a route relays (1.1 MB HL7 frames), the only answers an oracle compares. */
export const DEFAULT_EXEC_OPTIONS: ExecOptions = { timeoutMs: 2000, quietMs: 60, firstReplyMs: 300, gapMs: 40, stallMs: 1500, maxReplyBytes: 4 * 1024 * 1024 };

export interface ExecResult {
  /** The connection was established (TLS handshake included). */
  connected: boolean;
  /** Bytes written, in order (a prefix of the exchange when the peer closed early); joined on first use. */
  sent: Buffer;
  /** sent.length, without joining. */
  sentBytes: number;
  /** What the target took of it: less what still waited on this side when it ended (a throttled neverRead exec). */
  acceptedBytes: number;
  /** What the target answered: at most maxReplyBytes, its first bytes when it said more. */
  reply: Buffer;
  /** overflow: the target answered more than maxReplyBytes and the connection was closed there. */
  outcome: 'complete' | 'peer-closed' | 'quiet' | 'timeout' | 'overflow' | 'refused' | 'error';
  /** Milliseconds from the first write to the first answer byte, when there was one. */
  latencyMs?: number;
  /** Bulk execs: the target's retained memory (MiB, after a GC) before the exec and while its connection was still open. */
  retained?: { before: number; open: number };
  error?: string;
  startedAt: number;
  endedAt: number;
}

/** DICOM: the answer holds a terminal PDU (A-ASSOCIATE-RJ, A-RELEASE-RP, A-ABORT: PS3.8 §9.3.4, §9.3.7, §9.3.8). */
function dicomComplete(reply: Buffer): boolean {
  let pos = 0;
  while (pos + 6 <= reply.length) {
    const type = reply[pos];
    const length = reply.readUInt32BE(pos + 2);
    if (pos + 6 + length > reply.length) return false;
    if (type === 3 || type === 6 || type === 7) return true;
    pos += 6 + length;
  }
  return false;
}

function countByte(chunks: readonly Buffer[], byte: number): number {
  let n = 0;
  for (const c of chunks) for (let i = c.indexOf(byte); i >= 0; i = c.indexOf(byte, i + 1)) n++;
  return n;
}

/** Whether the peer has said all it will say to this exchange. */
export function isComplete(protocol: Protocol, reply: Buffer, sentChunks: readonly Buffer[]): boolean {
  if (protocol === 'dicom') return dicomComplete(reply);
  // HL7 original mode (v2.5 §2.9.2): one acknowledgment per message sent.
  const frames = countByte(sentChunks, 0x0b);
  return frames > 0 && countByte([reply], 0x1c) >= frames;
}

/**
 * isComplete, fed chunk by chunk without re-reading what came before (answers can be large and
 * arrive in many pieces). DICOM: walks PDU headers across chunk boundaries; HL7: counts frame ends.
 */
export class CompletionTracker {
  private header = Buffer.alloc(0);
  /** DICOM: body bytes of the current PDU still to skip. */
  private skip = 0;
  private done = false;
  private frameEnds = 0;
  private readonly framesSent: number;

  constructor(private readonly protocol: Protocol, sentChunks: readonly Buffer[]) {
    this.framesSent = protocol === 'hl7' ? countByte(sentChunks, 0x0b) : 0;
  }

  push(chunk: Buffer): boolean {
    if (this.done) return true;
    if (this.protocol === 'hl7') {
      this.frameEnds += countByte([chunk], 0x1c);
      this.done = this.framesSent > 0 && this.frameEnds >= this.framesSent;
      return this.done;
    }
    let pos = 0;
    while (pos < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - pos);
        this.skip -= n;
        pos += n;
        if (this.skip === 0 && this.terminal) return (this.done = true);
        continue;
      }
      const need = 6 - this.header.length;
      this.header = Buffer.concat([this.header, chunk.subarray(pos, pos + need)]);
      pos += Math.min(need, chunk.length - pos);
      if (this.header.length < 6) break;
      const type = this.header[0];
      this.skip = this.header.readUInt32BE(2);
      this.terminal = type === 3 || type === 6 || type === 7;
      this.header = Buffer.alloc(0);
      if (this.skip === 0 && this.terminal) return (this.done = true);
    }
    return false;
  }

  private terminal = false;
}

/**
 * awaitAccept: the peer's first answer, read as it arrives. `pending` until it is whole (DICOM: one
 * PDU, PS3.8 §9.3.1 header; HL7: one frame); then `accepted` when it lets the rest go (an
 * A-ASSOCIATE-AC, PS3.8 §9.3.3; any HL7 frame, there being no handshake), else `refused`.
 */
export function firstAnswer(protocol: Protocol, replies: readonly Buffer[], replyLength: number, latest: Buffer): 'pending' | 'accepted' | 'refused' {
  if (protocol === 'hl7') return latest.includes(0x1c) ? 'accepted' : 'pending';
  if (replyLength < 6) return 'pending';
  const head = replies[0].length >= 6 ? replies[0] : Buffer.concat(replies, 6);
  if (replyLength < 6 + head.readUInt32BE(2)) return 'pending';
  return head[0] === 0x02 ? 'accepted' : 'refused';
}

/**
 * TLS sessions to resume, per endpoint (RFC 8446 §2.2 tickets): the fuzzer attacks the DICOM/HL7
 * layer, so a full handshake per exec would only spend both sides' CPU on key exchanges.
 */
const sessions = new Map<string, Buffer>();

/**
 * One secure context per endpoint and identity: building one parses the trust bundle, certificate
 * and key, which cost more than the resumed handshake itself when done per connection.
 */
const contexts = new Map<string, { ca?: string; cert?: string; key?: string; context: tls.SecureContext }>();

function secureContext(id: string, ca: string | undefined, cert: string | undefined, key: string | undefined): tls.SecureContext {
  const known = contexts.get(id);
  if (known && known.ca === ca && known.cert === cert && known.key === key) return known.context;
  const context = tls.createSecureContext({ ca, cert, key });
  contexts.set(id, { ca, cert, key, context });
  sessions.delete(id);
  return context;
}

export function connect(endpoint: Endpoint): net.Socket {
  if (!endpoint.tls) return net.connect({ host: endpoint.host, port: endpoint.port });
  const { ca, cert, key, servername } = endpoint.tls;
  const id = `${endpoint.host}:${endpoint.port}`;
  const secure = secureContext(id, ca, cert, key);
  const socket = tls.connect({ host: endpoint.host, port: endpoint.port, secureContext: secure, servername: servername && net.isIP(servername) === 0 ? servername : undefined, rejectUnauthorized: Boolean(ca), checkServerIdentity: () => undefined, session: sessions.get(id) });
  socket.once('session', (session: Buffer) => sessions.set(id, session));
  return socket;
}

/**
 * `sent` joined only when an oracle reads it: a flood exec writes the same 64 KiB fragment hundreds of
 * times, and copying megabytes per exec would cost more than running it.
 */
function withLazySent(result: Omit<ExecResult, 'sent'>, written: Buffer[]): ExecResult {
  let joined: Buffer | undefined;
  return Object.defineProperty(result, 'sent', { enumerable: true, get: () => (joined ??= Buffer.concat(written, result.sentBytes)) }) as ExecResult;
}

export function runClient(ex: Exchange, endpoint: Endpoint, opts: ExecOptions = DEFAULT_EXEC_OPTIONS): Promise<ExecResult> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const socket = connect(endpoint);
    const replies: Buffer[] = [];
    const written: Buffer[] = [];
    let writtenBytes = 0;
    let replyLength = 0;
    let connected = false;
    let done = false;
    let quiet: NodeJS.Timeout | undefined;
    let stallWatch: NodeJS.Timeout | undefined;
    let gap: { timer: NodeJS.Timeout; go: () => void } | undefined;
    /** awaitAccept: set while the first chunk waits for the peer's first answer. */
    let acceptWait: NodeJS.Timeout | undefined;
    let next = 0;
    let writesPending = 0;
    let firstWriteAt = 0;
    let latencyMs: number | undefined;

    const finish = (outcome: ExecResult['outcome'], error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(hard);
      clearInterval(stallWatch);
      if (quiet) clearTimeout(quiet);
      if (gap) clearTimeout(gap.timer);
      clearTimeout(acceptWait);
      const close = () => {
        if (outcome === 'quiet' || outcome === 'timeout') {
          // A graceful close, so bytes still in flight reach the peer; then make sure the socket goes.
          socket.end();
          setTimeout(() => socket.destroy(), 200).unref();
        } else {
          socket.destroy();
        }
        resolve(withLazySent({ connected, reply: Buffer.concat(replies, replyLength), outcome, error, startedAt, endedAt: Date.now(), latencyMs, sentBytes: writtenBytes, acceptedBytes: writtenBytes - socket.writableLength }, written));
      };
      if (opts.beforeClose) void opts.beforeClose().finally(close);
      else close();
    };
    const hard = setTimeout(() => finish('timeout'), opts.timeoutMs);
    const armQuiet = () => {
      if (quiet) clearTimeout(quiet);
      if (next < ex.chunks.length || writesPending > 0) return;
      quiet = setTimeout(() => finish('quiet'), replyLength === 0 ? opts.firstReplyMs : opts.quietMs);
    };
    const writeNext = () => {
      if (done) return;
      while (next < ex.chunks.length) {
        const chunk = ex.chunks[next++];
        written.push(chunk);
        writtenBytes += chunk.length;
        writesPending++;
        if (firstWriteAt === 0) firstWriteAt = Date.now();
        socket.write(chunk, () => {
          writesPending--;
          armQuiet();
        });
        if (ex.awaitReply && next < ex.chunks.length) {
          const go = () => {
            if (!gap) return;
            clearTimeout(gap.timer);
            gap = undefined;
            writeNext();
          };
          gap = { timer: setTimeout(go, opts.gapMs), go };
          return;
        }
      }
      if (ex.endAfter) socket.end();
      armQuiet();
    };

    const stopReading = () => {
      // Nothing is read, so the quiet timer never re-arms on answers; the exec ends when the target
      // stops taking what is written (its backpressure) or when everything is written.
      socket.pause();
      let pending = -1;
      let since = Date.now();
      stallWatch = setInterval(() => {
        if (socket.writableLength !== pending) {
          pending = socket.writableLength;
          since = Date.now();
        } else if (pending > 0 && Date.now() - since >= opts.stallMs) finish('quiet');
      }, Math.max(20, opts.stallMs / 10));
    };

    socket.once(endpoint.tls ? 'secureConnect' : 'connect', () => {
      connected = true;
      socket.setNoDelay(true);
      if (ex.chunks.length === 0) {
        if (ex.neverRead) stopReading();
        return armQuiet();
      }
      if (ex.awaitAccept && ex.chunks.length > 1) {
        // Only the first chunk until the peer accepts it; silence ends the exec as it would after
        // a last chunk left unanswered.
        const first = ex.chunks[next++];
        written.push(first);
        writtenBytes += first.length;
        firstWriteAt = Date.now();
        socket.write(first);
        acceptWait = setTimeout(() => finish('quiet'), opts.firstReplyMs);
        return;
      }
      if (ex.neverRead) stopReading();
      writeNext();
    });
    const completion = new CompletionTracker(ex.protocol, ex.chunks);
    socket.on('data', (d: Buffer) => {
      if (latencyMs === undefined && firstWriteAt > 0) latencyMs = Date.now() - firstWriteAt;
      if (replyLength + d.length > opts.maxReplyBytes) {
        // Read no more (the connection may stay open a moment: beforeClose).
        socket.pause();
        if (replyLength < opts.maxReplyBytes) replies.push(d.subarray(0, opts.maxReplyBytes - replyLength));
        replyLength = opts.maxReplyBytes;
        return finish('overflow');
      }
      replies.push(d);
      replyLength += d.length;
      const complete = completion.push(d);
      if (acceptWait) {
        const answer = firstAnswer(ex.protocol, replies, replyLength, d);
        if (answer !== 'pending') {
          clearTimeout(acceptWait);
          acceptWait = undefined;
          if (answer === 'refused') {
            // Not accepted (A-ASSOCIATE-RJ, A-ABORT ...): the rest is never written.
            next = ex.chunks.length;
          } else {
            if (ex.neverRead) stopReading();
            return writeNext();
          }
        }
      }
      if (complete && next >= ex.chunks.length) return finish('complete');
      if (gap) gap.go();
      armQuiet();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) finish(err.code === 'ECONNREFUSED' ? 'refused' : 'error', err.message);
      else finish('peer-closed', err.message);
    });
    socket.on('close', () => finish('peer-closed'));
  });
}
