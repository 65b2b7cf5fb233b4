/**
 * The instrumented backend behind a fuzzed route: a small DICOM SCP (PS3.8 association, C-ECHO,
 * C-STORE, C-FIND, release) or HL7 receiver (MLLP, original-mode ACK) that records every byte the
 * gateway delivers, so the policy oracle can check that nothing the route must refuse got through and
 * that forwarded bytes are the ones the peer sent. For server-side fuzzing it answers instead with a
 * queued hostile exchange (malformed A-ASSOCIATE-AC, P-DATA, ACKs). TLS when the route's upstream is
 * TLS (outbound routes).
 */
import net from 'node:net';
import tls from 'node:tls';
import {
  COMMAND_FIELD, type DecodedPdu, DimseMessageAssembler, PduReader, type RawPdu, decodePdu, encodeAbort, encodeAssociateAc, encodeCEchoRsp, encodeCStoreRsp,
  encodeCommand, encodePDataTf, encodeReleaseRp, DATA_SET_TYPE,
} from '../protocols/dicom/index.ts';
import { MllpDecoder, buildAck, encodeFrame } from '../protocols/hl7/index.ts';
import type { Exchange, Protocol } from './exchange.ts';
import { closeServer } from '../net/close-server.ts';
import { framePayloads } from './oracles.ts';
import { SentFrames } from './sent-frames.ts';

/**
 * Carried by the benign client of server-side execs (DICOM: Implementation Version Name, PS3.7
 * D.3.3.2; HL7: MSH-10 Message Control ID), so the backend knows which connections to answer with
 * hostile bytes.
 */
export const SERVER_SIDE_MARKER = Buffer.from('WG_FUZZ_SERVER');

export interface BackendConnection {
  id: number;
  /** When the gateway's connection arrived and when it closed (ms since the epoch; closedAt once closed). */
  openedAt: number;
  closedAt?: number;
  /** Every byte received from the gateway (joined on first read). */
  received: Buffer;
  /** The same bytes as received, in the pieces they came in (floods are megabytes: read without joining). */
  receivedChunks?: readonly Buffer[];
  /** Every byte this backend wrote back. */
  sent: Buffer;
  /** DICOM: AE titles of the A-ASSOCIATE-RQ as this backend decoded them. */
  association?: { callingAeTitle: string; calledAeTitle: string };
  /** HL7: payloads of the frames received. */
  messages: Buffer[];
  /** Set when this connection was answered by a hostile exchange. */
  hostile?: Exchange;
  /** The backend could not decode what it got (stream kept for the oracle). */
  decodeError?: string;
}

export interface BackendOptions {
  protocol: Protocol;
  host: string;
  /** Outbound routes connect with TLS: the backend's certificate (for the route's serverName) and trust. */
  tls?: { cert: string; key: string; ca?: string };
}

export class InstrumentedBackend {
  private server: net.Server | undefined;
  /** Open connections and when each arrived. */
  private readonly open = new Map<net.Socket, number>();
  private finished: BackendConnection[] = [];
  private readonly hostile: Exchange[] = [];
  private nextId = 1;
  private readonly recentSent: Buffer[][] = [];
  /** HL7: frames of the last 4,096 closed connections, and what each open one has written so far. */
  private readonly closedFrames = new SentFrames(4096);
  private readonly openSent = new Map<net.Socket, Buffer[]>();
  connections = 0;
  /** Bytes received on all connections, for waiting until a relay has delivered everything. */
  receivedBytes = 0;

  constructor(readonly opts: BackendOptions) {}

  async start(): Promise<{ host: string; port: number }> {
    const onConnection = (socket: net.Socket) => this.serve(socket);
    const server = this.opts.tls
      ? tls.createServer({ cert: this.opts.tls.cert, key: this.opts.tls.key, ca: this.opts.tls.ca, requestCert: true, rejectUnauthorized: false }, onConnection)
      : net.createServer(onConnection);
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.opts.host, port: 0, backlog: 2048 }, () => resolve());
    });
    this.server = server;
    return this.address();
  }

  address(): { host: string; port: number } {
    const a = this.server!.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** The next connection is answered with `ex` instead of the benign protocol. */
  queueHostile(ex: Exchange): void {
    this.hostile.push(ex);
  }

  clearHostile(): void {
    this.hostile.length = 0;
  }

  /**
   * Keep only the newest `max` queued answers: an answer whose benign client never reached the
   * backend (refused on the way) would otherwise go to every later client in turn.
   */
  trimHostile(max: number): void {
    if (this.hostile.length > max) this.hostile.splice(0, this.hostile.length - max);
  }

  get openConnections(): number {
    return this.open.size;
  }

  /** When the oldest connection still open arrived (undefined when none is open). */
  oldestOpenSince(): number | undefined {
    let oldest: number | undefined;
    for (const at of this.open.values()) if (oldest === undefined || at < oldest) oldest = at;
    return oldest;
  }

  /**
   * What this backend wrote on its recent connections, open ones included (a client may hold an
   * answer before the backend's side of the connection has closed).
   */
  answersSent(): Buffer[] {
    return this.recentSent.map((parts) => Buffer.concat(parts));
  }

  /**
   * HL7: whether this backend wrote a frame with exactly this payload on a recent connection, open
   * ones included. Closed connections are indexed once (SentFrames); the few open ones are read.
   */
  sentFrame(payload: Buffer): boolean {
    if (this.closedFrames.has(payload)) return true;
    for (const parts of this.openSent.values()) if (framePayloads(Buffer.concat(parts)).some((f) => f.equals(payload))) return true;
    return false;
  }

  /** Closed connections since the last call. */
  drain(): BackendConnection[] {
    const out = this.finished;
    this.finished = [];
    return out;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await closeServer(server, this.open.keys());
  }

  private serve(socket: net.Socket): void {
    // Answers are small writes: no Nagle delay behind the previous one (RFC 1122 §4.2.3.4).
    socket.setNoDelay(true);
    this.connections++;
    const openedAt = Date.now();
    this.open.set(socket, openedAt);
    const received: Buffer[] = [];
    const sent: Buffer[] = [];
    // Joined on first use, after the close: most records are only checked by their AE titles or frames.
    let receivedJoined: Buffer | undefined;
    let sentJoined: Buffer | undefined;
    const record: BackendConnection = {
      id: this.nextId++,
      openedAt,
      get received() { return (receivedJoined ??= Buffer.concat(received)); },
      receivedChunks: received,
      get sent() { return (sentJoined ??= Buffer.concat(sent)); },
      messages: [],
    };
    this.recentSent.push(sent);
    if (this.recentSent.length > 4096) this.recentSent.splice(0, 1024);
    if (this.opts.protocol === 'hl7') this.openSent.set(socket, sent);
    const write = (b: Buffer) => {
      sent.push(b);
      if (!socket.destroyed) socket.write(b);
    };
    let handler: ((d: Buffer) => void) | undefined;
    // Nothing waits forever: a connection the gateway never closes is closed here.
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('data', (d: Buffer) => {
      this.receivedBytes += d.length;
      received.push(d);
      if (!handler) {
        // Only the fuzzer's benign server-side client carries the marker: hostile answers go to it
        // alone, never to a hostile client's association or the liveness probe.
        const hostile = d.includes(SERVER_SIDE_MARKER) ? this.hostile.shift() : undefined;
        if (hostile) record.hostile = hostile;
        handler = hostile ? this.hostileHandler(hostile, write, socket) : this.opts.protocol === 'dicom' ? this.dicomHandler(record, write, socket) : this.hl7Handler(record, write, socket);
      }
      handler(d);
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      this.open.delete(socket);
      if (this.openSent.delete(socket)) this.closedFrames.add(Buffer.concat(sent));
      record.closedAt = Date.now();
      this.finished.push(record);
    });
  }

  private hostileHandler(ex: Exchange, write: (b: Buffer) => void, socket: net.Socket): (d: Buffer) => void {
    let next = 0;
    return () => {
      if (next >= ex.chunks.length) return;
      if (!ex.awaitReply) {
        while (next < ex.chunks.length) write(ex.chunks[next++]);
      } else {
        write(ex.chunks[next++]);
      }
      if (next >= ex.chunks.length && ex.endAfter) socket.end();
    };
  }

  private dicomHandler(record: BackendConnection, write: (b: Buffer) => void, socket: net.Socket): (d: Buffer) => void {
    const reader = new PduReader();
    const decode = repeatedPDataMemo();
    // Tolerant like many legacy SCPs: it does not cut off long command sets, so the gateway's own
    // bounds are what is tested.
    const assembler = new DimseMessageAssembler({ maxCommandLength: 256 * 1024 * 1024 });
    let store: { messageId: number; contextId: number; sopClassUid?: string; sopInstanceUid?: string } | undefined;
    return (d) => {
      try {
        for (const raw of reader.push(d)) {
          const pdu = decode(raw);
          if (pdu.kind === 'A-ASSOCIATE-RQ') {
            record.association = { callingAeTitle: pdu.value.callingAeTitle, calledAeTitle: pdu.value.calledAeTitle };
            write(encodeAssociateAc({
              calledAeTitle: pdu.value.calledAeTitle,
              callingAeTitle: pdu.value.callingAeTitle,
              presentationContexts: pdu.value.presentationContexts.map((pc) => ({ id: pc.id, result: 0, transferSyntax: pc.transferSyntaxes[0] })),
              userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.77.3' },
            }));
          } else if (pdu.kind === 'P-DATA-TF') {
            for (const ev of assembler.push(pdu.value)) {
              if (ev.kind === 'command') {
                const cmd = ev.command;
                const reply = (data: Buffer) => write(encodePDataTf([{ contextId: ev.contextId, command: true, last: true, data }]));
                if (cmd.commandField === COMMAND_FIELD.CEchoRq) reply(encodeCEchoRsp({ messageIdBeingRespondedTo: cmd.messageId ?? 0 }));
                else if (cmd.commandField === COMMAND_FIELD.CStoreRq) store = { messageId: cmd.messageId ?? 0, contextId: ev.contextId, sopClassUid: cmd.affectedSopClassUid, sopInstanceUid: cmd.affectedSopInstanceUid };
                else if (cmd.commandField === COMMAND_FIELD.CFindRq) store = { messageId: -(cmd.messageId ?? 0) - 1, contextId: ev.contextId };
                else reply(encodeCommand({ commandField: cmd.commandField | 0x8000, messageIdBeingRespondedTo: cmd.messageId ?? 0, status: 0x0211, dataSetType: DATA_SET_TYPE.Absent }));
              } else if (ev.last && store) {
                const s = store;
                store = undefined;
                const data = s.messageId >= 0
                  ? encodeCStoreRsp({ messageIdBeingRespondedTo: s.messageId, status: 0, affectedSopClassUid: s.sopClassUid, affectedSopInstanceUid: s.sopInstanceUid })
                  : encodeCommand({ commandField: COMMAND_FIELD.CFindRsp, messageIdBeingRespondedTo: -s.messageId - 1, status: 0, dataSetType: DATA_SET_TYPE.Absent });
                write(encodePDataTf([{ contextId: s.contextId, command: true, last: true, data }]));
              }
            }
          } else if (pdu.kind === 'A-RELEASE-RQ') {
            write(encodeReleaseRp());
            socket.end();
          } else if (pdu.kind === 'A-ABORT') {
            socket.destroy();
          }
        }
      } catch (err) {
        record.decodeError ??= (err as Error).message;
        write(encodeAbort({ source: 2, reason: 0 }));
        socket.end();
      }
    };
  }

  private hl7Handler(record: BackendConnection, write: (b: Buffer) => void, socket: net.Socket): (d: Buffer) => void {
    const decoder = new MllpDecoder({ maxFrameSize: 64 << 20 });
    return (d) => {
      try {
        for (const payload of decoder.push(d)) {
          record.messages.push(payload);
          let ack: string;
          try {
            ack = buildAck(payload, { code: 'AA', controlId: `BK${record.id}` });
          } catch {
            ack = 'MSH|^~\\&|BACKEND|FAC|||20260101||ACK|BKERR|P|2.5\rMSA|AE|UNKNOWN\r';
          }
          write(encodeFrame(ack));
        }
      } catch (err) {
        record.decodeError ??= (err as Error).message;
        socket.destroy();
      }
    };
  }
}

/** P-DATA-TF PDUs with at least this many PDVs are remembered (see repeatedPDataMemo). */
const MEMO_MIN_PDVS = 256;

/**
 * decodePdu for one connection, remembering its last P-DATA-TF of many PDVs: a flood repeats one
 * PDU (80 of 10,000 empty command fragments each: 800,000 PDV objects a connection), and a PDU
 * byte-equal to the last decodes to the same PDVs. They are read-only views of equal bytes, so the
 * message assembly that follows sees exactly what a fresh decode would give it.
 */
export function repeatedPDataMemo(): (raw: RawPdu) => DecodedPdu {
  let last: { raw: Buffer; pdu: DecodedPdu } | undefined;
  return (raw) => {
    if (last && raw.raw.length === last.raw.length && raw.raw.equals(last.raw)) return last.pdu;
    const pdu = decodePdu(raw);
    last = pdu.kind === 'P-DATA-TF' && pdu.value.length >= MEMO_MIN_PDVS ? { raw: raw.raw, pdu } : undefined;
    return pdu;
  };
}
