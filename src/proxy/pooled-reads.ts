/**
 * Socket reads into recycled buffers, for the relays' bulk path. Node hands every read to JavaScript
 * in a freshly allocated buffer (one per 16 KiB TLS record, up to 64 KiB for TCP) that lives until
 * the garbage collector frees it. On the C-STORE bench, reading into recycled buffers cut the
 * gateway's CPU per GiB by ~15 %; into fresh caller buffers it saved nothing, so the recycling (no
 * malloc/free or GC per read, memory still in cache) is the point (bench/proxy/README.md, 2026-11-27).
 * Node's `onread` option reads into caller-supplied buffers instead, but only sockets Node creates
 * for a TLS or TCP client accept it; readPooled switches an established socket, a TLS server socket
 * included, to the same mechanism, with buffers that return to a pool once nothing uses them.
 *
 * Contract of `onChunk(chunk, lease)`: `chunk` is valid until the call returns. A write of it (or of
 * a slice) must pass `lease.hold()` as its callback, so the buffer is reused only after every such
 * write completed (Writable calls it once, on success, error or destroy); anything else kept beyond
 * the call must be copied. A hold that is never let go only keeps that buffer out of the pool.
 * A read that fills less than half its buffer comes as a copy of its own, without a lease: a write
 * pins the whole buffer while backpressure (session.ts forward) counts only the bytes written, so a
 * peer trickling 1-byte TLS records or TCP segments to a stalled receiver pinned 16 or 64 KiB per
 * byte (4,000 bytes: 62 / 250 MiB, test/proxy/pooled-reads-trickle.test.ts). Pinned memory stays
 * under twice the bytes queued.
 *
 * The switch uses net.Socket's private `onread` fields, found by their symbol descriptions, and the
 * handle's useUserBuffer (both behind `onread` since Node 12; engines: Node >= 20). Where either is
 * missing readPooled returns false and the socket keeps delivering 'data' events, so callers keep
 * their 'data' listener attached: it also receives whatever the socket had buffered before the switch.
 */
import type net from 'node:net';

export class Lease {
  private refs = 0;
  constructor(readonly buffer: Buffer, private readonly pool: BufferPool) {}

  /** One more user of the buffer; returns the callback that ends that use (a write's callback). */
  hold(): () => void {
    this.refs++;
    return this.release;
  }

  private readonly release = (): void => {
    if (--this.refs === 0) this.pool.give(this);
  };
}

export class BufferPool {
  private readonly free: Lease[] = [];
  /** Buffers allocated so far (for tests and the bench: a recycling pool stops allocating). */
  allocated = 0;

  /** `keep` bounds the idle buffers held: after a burst the rest are left to the garbage collector. */
  constructor(readonly size: number, private readonly keep: number) {}

  take(): Lease {
    const lease = this.free.pop();
    if (lease) return lease;
    this.allocated++;
    return new Lease(Buffer.allocUnsafeSlow(this.size), this);
  }

  give(lease: Lease): void {
    if (this.free.length < this.keep) this.free.push(lease);
  }
}

/**
 * Node's TLS layer emits clear text in chunks of at most 16 KiB (one record), libuv reads TCP into
 * 64 KiB. A pool holds enough for one stream at the relay's 1 MiB backpressure threshold plus one
 * loop turn of reads (libuv reads up to 32 times per socket per turn).
 */
export const TLS_POOL = new BufferPool(16 * 1024, 128);
export const TCP_POOL = new BufferPool(64 * 1024, 32);

interface UserBufferHandle { useUserBuffer?: (buffer: Uint8Array) => void }

interface OnreadSymbols { kBuffer: symbol; kBufferCb: symbol; kBufferGen: symbol }

/** Node's module-level symbols: the same for every socket, so found once per process. */
let onreadSymbols: OnreadSymbols | undefined;

function findOnreadSymbols(socket: net.Socket): OnreadSymbols | undefined {
  if (onreadSymbols) return onreadSymbols;
  const own = Object.getOwnPropertySymbols(socket);
  const named = (description: string) => own.find((s) => s.description === description);
  const kBuffer = named('kBuffer');
  const kBufferCb = named('kBufferCb');
  const kBufferGen = named('kBufferGen');
  if (kBuffer && kBufferCb && kBufferGen) onreadSymbols = { kBuffer, kBufferCb, kBufferGen };
  return onreadSymbols;
}

/**
 * From the next read on, deliver `socket`'s data to `onChunk` in pooled buffers. Returns false (and
 * changes nothing) where this Node lacks the mechanism or the socket has no open handle.
 */
export function readPooled(socket: net.Socket, onChunk: (chunk: Buffer, lease?: Lease) => void, pool = 'encrypted' in socket ? TLS_POOL : TCP_POOL): boolean {
  const handle = (socket as unknown as { _handle: UserBufferHandle | null })._handle;
  const symbols = findOnreadSymbols(socket);
  if (socket.destroyed || !handle || typeof handle.useUserBuffer !== 'function' || !symbols) return false;
  const { kBuffer, kBufferCb, kBufferGen } = symbols;
  let lease = pool.take();
  // The reader's own hold on the buffer being read into: it ends when the next one is handed out.
  let readerDone = lease.hold();
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[kBufferCb] = (nread: number, buffer: Buffer): void => {
    if (nread * 2 < buffer.length) onChunk(Buffer.from(buffer.subarray(0, nread)));
    else onChunk(nread === buffer.length ? buffer : buffer.subarray(0, nread), lease);
  };
  fields[kBufferGen] = (): Buffer => {
    const previous = readerDone;
    lease = pool.take();
    readerDone = lease.hold();
    previous();
    return lease.buffer;
  };
  fields[kBuffer] = lease.buffer;
  handle.useUserBuffer(lease.buffer);
  socket.once('close', () => {
    readerDone();
    readerDone = () => undefined;
  });
  return true;
}
