/**
 * Safe DICOM probe (DICOM PS3.8 §9.3, PS3.7 Annex D): one A-ASSOCIATE-RQ proposing the Verification
 * SOP Class only (PS3.4 Annex A), read the A-ASSOCIATE-AC/-RJ, then A-RELEASE-RQ (or A-ABORT if the
 * peer does not answer the release). No DIMSE message is ever sent: not even the C-ECHO the
 * association would allow, since acceptance alone proves DICOM and anything more is load on the device.
 *
 * Strictness (so honeypots and look-alikes are not counted): the answer must be exactly one whole
 * PDU that the codec decodes; an AC must carry the DICOM application context UID and an answer for
 * our presentation context ID 1; an A-ABORT must have zero reserved bytes and a defined source.
 * Anything else, including an echo of our own request, is not DICOM.
 */
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import {
  APPLICATION_CONTEXT_UID,
  PDU_TYPE,
  SOP_CLASS,
  TRANSFER_SYNTAX,
  decodePdu,
  describeAbort,
  describeRejection,
  encodeAbort,
  encodeAssociateRq,
  encodeReleaseRq,
  peekHeader,
} from '../protocols/dicom/index.ts';
import { MUTUAL_TLS, closeSocket, exchange, isClientCertRequired } from './connection.ts';

/** UUID-derived UID (PS3.5 §B.2) naming the wardgate scanner as implementation. */
export const WARDGATE_IMPLEMENTATION_UID = '2.25.180881346542220334822216213801961253315';
export const WARDGATE_VERSION_NAME = 'WARDGATE_SCAN01';
export const SCANNER_CALLING_AE = 'WARDGATE-SCAN';

export type DicomProbeResult =
  | { dicom: false; reason: string }
  | {
    dicom: true;
    association: 'accepted' | 'rejected' | 'aborted';
    text?: string;
    implementationClassUid?: string;
    implementationVersionName?: string;
    verificationAccepted?: boolean;
  };

/** A random called AE title: 16 characters from PS3.5 §6.2's AE repertoire that no site uses. */
export function randomAeTitle(): string {
  return `WG${randomBytes(7).toString('hex').toUpperCase()}`;
}

export function associateRq(calledAeTitle: string): Buffer {
  return encodeAssociateRq({
    calledAeTitle,
    callingAeTitle: SCANNER_CALLING_AE,
    presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }],
    userInformation: { maxLength: 16384, implementationClassUid: WARDGATE_IMPLEMENTATION_UID, implementationVersionName: WARDGATE_VERSION_NAME },
  });
}

/** True once `data` holds one whole PDU (or cannot be one: the caller's decode then rejects it). */
function wholePdu(data: Buffer): boolean {
  try {
    const h = peekHeader(data, { maxPduLength: 65536 });
    return h !== undefined && data.length >= h.totalLength;
  } catch {
    return true;
  }
}

/** Classify the first answer to our A-ASSOCIATE-RQ. Pure, for table tests. */
export function classifyAssociateAnswer(data: Buffer, request: Buffer): DicomProbeResult {
  if (data.length === 0) return { dicom: false, reason: 'no answer to A-ASSOCIATE-RQ' };
  if (data.equals(request.subarray(0, data.length))) return { dicom: false, reason: 'the peer echoed the request' };
  let header;
  try {
    header = peekHeader(data, { maxPduLength: 65536 });
  } catch (err) {
    return { dicom: false, reason: `not a DICOM PDU: ${(err as Error).message}` };
  }
  if (!header || data.length < header.totalLength) return { dicom: false, reason: 'truncated answer' };
  // Bytes after the first PDU are tolerated only if they could start another PDU; a look-alike that
  // appends text after a plausible header is refused.
  const pdu = data.subarray(0, header.totalLength);
  if (data.length > header.totalLength && !wholePduSequence(data.subarray(header.totalLength))) return { dicom: false, reason: 'trailing bytes after the answer PDU' };
  let decoded;
  try {
    decoded = decodePdu(pdu);
  } catch (err) {
    return { dicom: false, reason: `malformed PDU: ${(err as Error).message}` };
  }
  if (decoded.kind === 'A-ASSOCIATE-AC') {
    const ac = decoded.value;
    if (ac.applicationContext !== APPLICATION_CONTEXT_UID) return { dicom: false, reason: `A-ASSOCIATE-AC with application context ${ac.applicationContext}` };
    const pc = ac.presentationContexts.find((p) => p.id === 1);
    if (!pc || ac.presentationContexts.length !== 1) return { dicom: false, reason: 'A-ASSOCIATE-AC does not answer exactly our presentation context 1' };
    const r: DicomProbeResult = { dicom: true, association: 'accepted', verificationAccepted: pc.result === 0 };
    if (ac.userInformation.implementationClassUid) r.implementationClassUid = ac.userInformation.implementationClassUid;
    if (ac.userInformation.implementationVersionName) r.implementationVersionName = ac.userInformation.implementationVersionName.trim();
    return r;
  }
  if (decoded.kind === 'A-ASSOCIATE-RJ') {
    // PS3.8 §9.3.4: the reserved bytes are "not tested", but a reserved byte 0 of anything other
    // than 0 in a 10-byte answer is a strong sign of a look-alike.
    if (pdu[1] !== 0 || pdu[6] !== 0) return { dicom: false, reason: 'A-ASSOCIATE-RJ with non-zero reserved bytes' };
    return { dicom: true, association: 'rejected', text: describeRejection(decoded.value) };
  }
  if (decoded.kind === 'A-ABORT') {
    const a = decoded.value;
    if (pdu[1] !== 0 || pdu[6] !== 0 || pdu[7] !== 0 || (a.source !== 0 && a.source !== 2)) return { dicom: false, reason: 'A-ABORT with reserved bytes set' };
    return { dicom: true, association: 'aborted', text: describeAbort(a) };
  }
  return { dicom: false, reason: `${decoded.kind} in answer to A-ASSOCIATE-RQ` };
}

function wholePduSequence(rest: Buffer): boolean {
  try {
    let at = 0;
    while (at < rest.length) {
      const h = peekHeader(rest, { offset: at, maxPduLength: 65536 });
      if (!h) return false;
      at += h.totalLength;
    }
    return at === rest.length;
  } catch {
    return false;
  }
}

/**
 * How long an aborted peer gets to close its end (PS3.8 §9.2.3 AA-1: the requestor sends A-ABORT and
 * waits, under the ARTIM timer, for the acceptor to close). Short: a device that honours the abort
 * closes at once, and one that ignored the association request would only hold the slot longer.
 */
export const ABORT_GRACE_MS = 250;

/** Hand an A-ABORT (PS3.8 §9.3.8, source 0: service user) to the transport; bounded, never throws. */
function sendAbort(socket: net.Socket, timeoutMs: number): Promise<void> {
  if (socket.destroyed || !socket.writable) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    socket.write(encodeAbort({ source: 0, reason: 0 }), () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Run one association on an open socket (plain or TLS) and close it. The socket is always closed
 * when this returns, and a device is never left with an association it may think is open: an
 * accepted one is released (aborted if the release is not answered), one we stop waiting for, or
 * whose acceptance we do not believe, is aborted before the transport is closed.
 */
export async function probeDicom(socket: net.Socket, calledAeTitle: string, timeoutMs: number): Promise<DicomProbeResult> {
  const request = associateRq(calledAeTitle);
  let graceMs: number | undefined;
  try {
    const answer = await exchange(socket, request, wholePdu, timeoutMs);
    if (answer.data.length === 0 && isClientCertRequired(answer.error)) return { dicom: false, reason: MUTUAL_TLS };
    const result = classifyAssociateAnswer(answer.data, request);
    if (answer.timedOut) {
      // No whole answer in time: the device may still be deciding, or be half-way through an AC.
      await sendAbort(socket, timeoutMs);
      graceMs = Math.min(ABORT_GRACE_MS, timeoutMs);
      if (!result.dicom && answer.data.length === 0) return { dicom: false, reason: `no answer within ${timeoutMs} ms` };
      return result;
    }
    if (result.dicom && result.association === 'accepted') {
      // PS3.8 §7.2: orderly release; the acceptor answers A-RELEASE-RP and closes the transport.
      const rp = await exchange(socket, encodeReleaseRq(), (d) => d.length >= 10, timeoutMs);
      if (!(rp.data.length >= 10 && rp.data[0] === PDU_TYPE.ReleaseRp)) {
        // PS3.8 §7.3.1: no release response: abort, so the device frees the association at once.
        await sendAbort(socket, timeoutMs);
      }
    } else if (!result.dicom && !answer.closed && answer.data[0] === PDU_TYPE.AssociateAc) {
      // An AC we refuse as a look-alike may still be a real (if odd) device that now holds an
      // association: abort rather than release, since we do not accept it as one.
      await sendAbort(socket, timeoutMs);
    }
    return result;
  } finally {
    await closeSocket(socket, false, graceMs);
  }
}
