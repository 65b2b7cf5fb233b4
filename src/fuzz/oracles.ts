/**
 * Oracles: how the fuzzer knows an exchange broke something.
 * - exit: the target process exited on its own (uncaught exception, abort, signal); located by the
 *   first stack frame of its stderr;
 * - hang: the target no longer answers a well-formed request within T (event loop blocked or stuck),
 *   or it still takes connections but closes them without answering one (the service behind a live
 *   listener is dead);
 * - memory: the target's resident set grew beyond a bound;
 * - policy: the instrumented backend received an association or message the route's allow rules
 *   must refuse, or bytes that are not the ones the peer sent (the gateway changes nothing it relays).
 */
import { basename } from 'node:path';
import { printable } from '../printable.ts';
import type { AllowRule } from '../proxy/route-config.ts';
import type { BackendConnection } from './backend.ts';
import type { Protocol } from './exchange.ts';
import type { SentStreams } from './stream-window.ts';

export type OracleName = 'exit' | 'hang' | 'memory' | 'policy';

export interface Verdict {
  oracle: OracleName;
  /** Dedup key: where (stack frame, policy rule) the failure happened. */
  location: string;
  detail: string;
}

/** The first frame of a Node stack trace in `stderr`, as `function (file:line)`; else the first line. */
export function crashLocation(stderr: string, code: number | null, signal: string | null): string {
  const frame = /^\s+at (?:(\S+) \()?(?:file:\/\/)?([^\s()]+?):(\d+):\d+\)?$/m.exec(stderr);
  if (frame) return printable(`${frame[1] ?? '<anonymous>'} (${basename(frame[2])}:${frame[3]})`);
  const first = stderr.split('\n').find((l) => l.trim().length > 0);
  return first ? printable(first.trim()).slice(0, 120) : signal ? `signal ${signal}` : `exit code ${code}`;
}

/** The exception line (e.g. `RangeError: ...`) of a crash, for the reproducer's detail. */
export function crashMessage(stderr: string): string {
  const line = stderr.split('\n').find((l) => /^\w*(Error|Exception)\b/.test(l.trim()));
  return printable((line ?? stderr.split('\n').find((l) => l.trim()) ?? '').trim()).slice(0, 300);
}

/** The hang verdict for a target that takes connections and closes them without answering a well-formed request. */
export function closedVerdict(protocol: Protocol, when: string): Verdict {
  return { oracle: 'hang', location: `${protocol}: connections closed without an answer`, detail: `${when}, the target took connections but closed them without answering a well-formed request (three probes on a quiet target; it had answered the same probe before)` };
}

/** Who the fuzzer is to the gateway: its certificate's names and its source address. */
export interface FuzzPeer {
  address: string;
  subjects: string[];
  sans: string[];
}

function anyOf(list: string[] | undefined, values: string[], fold = false): boolean {
  if (!list) return true;
  const norm = (s: string) => (fold ? s.toLowerCase() : s);
  return list.some((want) => values.some((v) => norm(v) === norm(want)));
}

function peerMatches(rule: AllowRule, peer: FuzzPeer): boolean {
  return anyOf(rule.peerSubjects, peer.subjects) && anyOf(rule.peerSans, peer.sans, true) && anyOf(rule.peerAddresses, [peer.address]);
}

/** PS3.8 §9.3.2 + the route's rules, evaluated independently of src/proxy's policy code. */
export function associationAllowed(rules: AllowRule[] | undefined, peer: FuzzPeer, calling: string, called: string): boolean {
  if (!rules) return true;
  return rules.some((r) => peerMatches(r, peer) && anyOf(r.callingAeTitles?.map((s) => s.trim()), [calling.trim()]) && anyOf(r.calledAeTitles?.map((s) => s.trim()), [called.trim()]));
}

/** The MSH routing fields as a legacy receiver reads them: segments end at CR only (HL7 v2.5 §2.5). */
export function receiverView(payload: Buffer): { app: string; facility: string; appHd: string; facilityHd: string; code: string; trigger: string } | undefined {
  const text = payload.toString('latin1');
  const msh = text.split('\r')[0];
  if (!msh.startsWith('MSH') || msh.length < 8) return undefined;
  const fields = msh.split(msh[3]);
  const comp = fields[1]?.[0] ?? '^';
  const first = (v: string | undefined) => (v ?? '').split(comp)[0];
  const hd = (v: string | undefined) => (v ?? '').split(comp).join('^').replace(/\^+$/, '');
  const type = (fields[8] ?? '').split(comp);
  return { app: first(fields[2]), facility: first(fields[3]), appHd: hd(fields[2]), facilityHd: hd(fields[3]), code: type[0] ?? '', trigger: type[1] ?? '' };
}

/** A rule value with `^` names the whole HD (MSH-3/4), one without it the namespace ID. */
function hdAllowed(list: string[] | undefined, first: string, whole: string): boolean {
  return !list || list.some((want) => want === (want.includes('^') ? whole : first));
}

export function messageAllowed(rules: AllowRule[] | undefined, peer: FuzzPeer, payload: Buffer): boolean {
  if (!rules) return true;
  const v = receiverView(payload);
  if (!v) return false;
  const types = [v.code, `${v.code}^${v.trigger}`];
  return rules.some((r) => peerMatches(r, peer) && hdAllowed(r.sendingApplications, v.app, v.appHd) && hdAllowed(r.sendingFacilities, v.facility, v.facilityHd) && anyOf(r.messageTypes, types));
}

/** A provider-initiated A-ABORT (PS3.8 §9.3.8, source 2) the gateway appends when it aborts both sides. */
function stripGatewayAbort(bytes: Buffer): Buffer {
  const n = bytes.length;
  if (n >= 10 && bytes[n - 10] === 0x07 && bytes.readUInt32BE(n - 8) === 4 && bytes[n - 2] === 2) return bytes.subarray(0, n - 10);
  return bytes;
}

/**
 * stripGatewayAbort on bytes kept in pieces, without joining them: views of all but the abort
 * (floods reach the backend as megabytes in 64 KiB reads).
 */
function stripGatewayAbortChunks(chunks: readonly Buffer[]): Buffer[] {
  let n = 0;
  for (const c of chunks) n += c.length;
  if (n < 10) return [...chunks];
  const tail: Buffer[] = [];
  for (let i = chunks.length - 1, need = 10; need > 0; i--) {
    tail.unshift(chunks[i].subarray(Math.max(0, chunks[i].length - need)));
    need -= tail[0].length;
  }
  if (stripGatewayAbort(Buffer.concat(tail, 10)).length === 10) return [...chunks];
  const out: Buffer[] = [];
  for (let left = n - 10, i = 0; left > 0; i++) {
    out.push(chunks[i].subarray(0, Math.min(left, chunks[i].length)));
    left -= out[out.length - 1].length;
  }
  return out;
}

function isPrefixOfAny(part: Buffer, streams: readonly Buffer[]): boolean {
  if (part.length === 0) return true;
  return streams.some((s) => s.length >= part.length && s.compare(part, 0, part.length, 0, part.length) === 0);
}

/** Payloads of the well-formed MLLP frames in a byte stream (lenient: framing errors are skipped). */
export function framePayloads(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const start = stream.indexOf(0x0b, pos);
    if (start < 0) return out;
    const end = stream.indexOf(0x1c, start + 1);
    if (end < 0) return out;
    out.push(stream.subarray(start + 1, end));
    pos = end + 1;
  }
}

/** Where the DICOM altered-bytes verdict is located (campaign.ts adds its window evidence to it). */
export const RELAYED_BYTES_ALTERED = 'dicom: relayed bytes altered';

/**
 * Client-side fuzzing: check what reached the backend against the route's policy and against the
 * streams the fuzzer sent (`sent`: one exec's streams, or the campaign's window of recent ones).
 */
export function checkBackend(protocol: Protocol, conn: BackendConnection, sent: readonly Buffer[] | SentStreams, rules: AllowRule[] | undefined, peer: FuzzPeer): Verdict | undefined {
  if (conn.hostile) return undefined;
  if (protocol === 'dicom') {
    if (conn.association && !associationAllowed(rules, peer, conn.association.callingAeTitle, conn.association.calledAeTitle)) {
      return { oracle: 'policy', location: 'dicom: denied association reached the backend', detail: `calling AE ${JSON.stringify(conn.association.callingAeTitle)}, called AE ${JSON.stringify(conn.association.calledAeTitle)} reached the backend although no allow rule admits them` };
    }
    const arrived = Array.isArray(sent) || !conn.receivedChunks ? stripGatewayAbort(conn.received) : stripGatewayAbortChunks(conn.receivedChunks);
    if (!(Array.isArray(sent) ? isPrefixOfAny(arrived as Buffer, sent) : (sent as SentStreams).hasPrefix(arrived))) {
      return { oracle: 'policy', location: RELAYED_BYTES_ALTERED, detail: `the backend received ${conn.receivedChunks ? conn.receivedChunks.reduce((n, c) => n + c.length, 0) : conn.received.length} bytes that are not a prefix of any stream the fuzzer sent` };
    }
    return undefined;
  }
  // A window of recent streams indexes its frames; a plain list is scanned.
  const sentPayloads = Array.isArray(sent) ? sent.flatMap(framePayloads) : undefined;
  const carried = (m: Buffer) => (sentPayloads ? sentPayloads.some((p) => p.equals(m)) : (sent as SentStreams).hasPayload(m));
  for (const m of conn.messages) {
    if (!messageAllowed(rules, peer, m)) {
      const v = receiverView(m);
      return { oracle: 'policy', location: 'hl7: denied message reached the backend', detail: `message from ${JSON.stringify(v?.app)}/${JSON.stringify(v?.facility)} type ${JSON.stringify(`${v?.code}^${v?.trigger}`)} reached the backend although no allow rule admits it` };
    }
    if (!carried(m)) {
      return { oracle: 'policy', location: 'hl7: relayed message altered', detail: `the backend received a ${m.length}-byte message that the fuzzer never sent as one frame` };
    }
  }
  return undefined;
}

/**
 * Evidence for an altered-bytes verdict judged against a window of streams: the closest stream the
 * fuzzer sent (exec index, bytes written, how many agree: 0 means nothing sent recently begins like
 * the record, i.e. a connection from elsewhere), how long the connection was open, and the received
 * bytes where they part from it.
 */
export function describeMatch(rec: BackendConnection, match: { tag?: { index: number }; common: number; written: number }): string {
  const received = rec.received;
  const from = Math.max(0, match.common - 8);
  const shown = received.subarray(from, from + 32).toString('hex');
  const open = rec.closedAt !== undefined ? `${rec.closedAt - rec.openedAt} ms` : 'still';
  const who = match.tag && match.tag.index >= 0 ? `exec ${match.tag.index}` : 'a replay';
  return `closest stream sent: ${who}, ${match.written} bytes written, agreeing on the first ${match.common}; connection open ${open}; received from byte ${from}: ${shown}`;
}

/**
 * Server-side fuzzing: what the benign client received must be what a hostile backend answered
 * (`answers`: each hostile exchange's bytes in order; for DICOM a prefix, possibly followed by the
 * gateway's own A-ABORT/RJ; for HL7 frame by frame).
 */
export function checkRelayedAnswer(protocol: Protocol, clientReply: Buffer, backendSent: readonly Buffer[]): Verdict | undefined {
  if (protocol === 'dicom') {
    let body = stripGatewayAbort(clientReply);
    // The gateway answers A-ASSOCIATE-RJ itself when the upstream is unreachable (PS3.8 Table 9-21).
    if (body.length === 10 && body[0] === 0x03) body = Buffer.alloc(0);
    if (!isPrefixOfAny(body, backendSent)) return { oracle: 'policy', location: 'dicom: relayed answer altered', detail: `the client received ${clientReply.length} bytes that are not a prefix of what the backend sent` };
    return undefined;
  }
  const sentPayloads = backendSent.flatMap(framePayloads);
  return checkRelayedFrames(clientReply, (p) => sentPayloads.some((s) => s.equals(p)));
}

/** HL7: every frame a client received must be one that was sent (`wasSent`, e.g. SentFrames#has). */
export function checkRelayedFrames(clientReply: Buffer, wasSent: (payload: Buffer) => boolean): Verdict | undefined {
  for (const p of framePayloads(clientReply)) {
    if (!wasSent(p)) return { oracle: 'policy', location: 'hl7: relayed answer altered', detail: `the client received a ${p.length}-byte frame the backend never sent` };
  }
  return undefined;
}
