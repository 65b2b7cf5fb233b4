/**
 * HL7 v2 MLLP detection that creates no record at the receiver.
 *
 * Technique ("reject-by-design probe"): send one MLLP frame (HL7 v2 Implementation Guide Appendix C)
 * holding a header-only message that every conformant receiver must refuse at the *accept* step of
 * the original acknowledgment rules (HL7 v2.5 §2.9.2.1/§2.9.3: the receiver validates MSH-9 message
 * type, MSH-11 processing ID and MSH-12 version before handing anything to the application, and on
 * failure returns an ACK with MSA-1 = AR instead of processing it):
 *   - MSH-9  = ZWG^Z00^ZWG_Z00: a Z (site-defined) type no application is registered for;
 *   - MSH-11 = D (debugging, HL7 Table 0103), never the production "P" a clinical receiver runs in;
 *   - MSH-12 = 0.0, a version no receiver supports;
 *   - no segment after MSH, so there is no patient, order or result to store even by mistake;
 *   - MSH-15/16 empty (original mode), so no commit-accept, which would mean "stored safely".
 * The MLLP-framed ACK that comes back (AR or AE, sometimes CR) proves an HL7 receiver. A receiver
 * that answers AA to this message accepts anything; that is reported in the service's details.
 * MSH-3 "WARDGATE-SCAN" and MSH-10 "WGSCAN..." make the probe easy to find in interface logs.
 *
 * Strictness: the answer must be a complete MLLP frame whose payload parses as an ACK (MSH + MSA with
 * a Table 0008 code) and is not our own message echoed back.
 */
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { MllpDecoder, encodeFrame, parseAck } from '../protocols/hl7/index.ts';
import { MUTUAL_TLS, closeSocket, exchange, isClientCertRequired } from './connection.ts';

export type Hl7ProbeResult =
  | { hl7: false; reason: string }
  | { hl7: true; ackCode: string; controlIdMatches: boolean; sendingApplication: string; version: string };

function hl7Timestamp(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

export function probeMessage(controlId: string, now = new Date()): string {
  return `MSH|^~\\&|WARDGATE-SCAN|WARDGATE|WARDGATE-PROBE|WARDGATE|${hl7Timestamp(now)}||ZWG^Z00^ZWG_Z00|${controlId}|D|0.0\r`;
}

function frames(data: Buffer): Buffer[] | undefined {
  try {
    return new MllpDecoder({ maxFrameSize: 65536 }).push(data);
  } catch {
    return undefined;
  }
}

/** Classify the bytes received after our probe frame. Pure, for table tests. */
export function classifyHl7Answer(data: Buffer, request: Buffer, controlId: string): Hl7ProbeResult {
  if (data.length === 0) return { hl7: false, reason: 'no answer to the MLLP probe' };
  if (data.equals(request) || request.subarray(0, data.length).equals(data)) return { hl7: false, reason: 'the peer echoed the probe' };
  const got = frames(data);
  if (!got) return { hl7: false, reason: 'answer is not MLLP-framed' };
  if (got.length === 0) return { hl7: false, reason: 'no complete MLLP frame in the answer' };
  try {
    const ack = parseAck(got[0]);
    if (ack.msh.messageType.code !== 'ACK' && ack.msh.messageType.code !== 'ZWG' && ack.msh.messageType.code !== '') {
      // HL7 v2.5 §2.9.2: the response to a message is an ACK (or, for queries, a response message).
      return { hl7: false, reason: `answer is ${ack.msh.messageType.code}, not an acknowledgment` };
    }
    if (got[0].toString('latin1').includes(`|${controlId}|D|0.0`)) return { hl7: false, reason: 'the peer echoed the probe' };
    return { hl7: true, ackCode: ack.code, controlIdMatches: ack.controlIdReferenced === controlId, sendingApplication: ack.msh.sendingApplication, version: ack.msh.version };
  } catch (err) {
    return { hl7: false, reason: `MLLP frame is not an HL7 acknowledgment: ${(err as Error).message}` };
  }
}

/** Send the probe on an open socket (plain or TLS), read one frame, close. */
export async function probeHl7(socket: net.Socket, timeoutMs: number): Promise<Hl7ProbeResult> {
  const controlId = `WGSCAN${randomBytes(6).toString('hex').toUpperCase()}`;
  const request = encodeFrame(probeMessage(controlId));
  let unresponsive = false;
  try {
    const answer = await exchange(socket, request, (d) => {
      const f = frames(d);
      return f === undefined || f.length > 0;
    }, timeoutMs);
    unresponsive = answer.timedOut;
    if (answer.data.length === 0 && isClientCertRequired(answer.error)) return { hl7: false, reason: MUTUAL_TLS };
    if (answer.data.length === 0) return { hl7: false, reason: answer.timedOut ? `no answer within ${timeoutMs} ms` : 'closed without answer' };
    return classifyHl7Answer(answer.data, request, controlId);
  } finally {
    await closeSocket(socket, unresponsive);
  }
}
