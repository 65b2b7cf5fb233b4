/**
 * A-RELEASE-RQ/RP (PS3.8 §9.3.6/§9.3.7) and A-ABORT (PS3.8 §9.3.8) PDUs. All three have a
 * fixed 4-byte body; reserved bytes are sent as zero and, as PS3.8 requires, not tested on receipt.
 */
import { malformed } from './items.ts';
import { PDU_HEADER_LENGTH, PDU_TYPE } from './pdu.ts';

// PS3.8 Table 9-26.
export const ABORT_SOURCE = {
  ServiceUser: 0,
  ServiceProvider: 2,
} as const;

/** Only significant when the source is the service provider (PS3.8 Table 9-26). */
export const ABORT_REASON = {
  NotSpecified: 0,
  UnrecognizedPdu: 1,
  UnexpectedPdu: 2,
  UnrecognizedPduParameter: 4,
  UnexpectedPduParameter: 5,
  InvalidPduParameterValue: 6,
} as const;

export interface Abort {
  source: number;
  reason: number;
}

function fixedPdu(type: number, b2 = 0, b3 = 0): Buffer {
  const out = Buffer.alloc(PDU_HEADER_LENGTH + 4);
  out[0] = type;
  out.writeUInt32BE(4, 2);
  out[8] = b2;
  out[9] = b3;
  return out;
}

function checkBody(body: Buffer, name: string): void {
  if (body.length !== 4) throw malformed(`${name} PDU length is ${body.length}, it must be 4`);
}

export function encodeReleaseRq(): Buffer {
  return fixedPdu(PDU_TYPE.ReleaseRq);
}

export function encodeReleaseRp(): Buffer {
  return fixedPdu(PDU_TYPE.ReleaseRp);
}

export function decodeReleaseRq(body: Buffer): Record<string, never> {
  checkBody(body, 'A-RELEASE-RQ');
  return {};
}

export function decodeReleaseRp(body: Buffer): Record<string, never> {
  checkBody(body, 'A-RELEASE-RP');
  return {};
}

export function encodeAbort(abort: Abort): Buffer {
  for (const [what, v] of [['source', abort.source], ['reason', abort.reason]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw malformed(`cannot encode A-ABORT ${what} ${v}: not a byte`);
  }
  return fixedPdu(PDU_TYPE.Abort, abort.source, abort.reason);
}

export function decodeAbort(body: Buffer): Abort {
  checkBody(body, 'A-ABORT');
  // Source 1 is reserved and reasons 3, 7+ are undefined; they are reported, not rejected, since an
  // abort ends the association whatever its fields say.
  return { source: body[2], reason: body[3] };
}

export function describeAbort(abort: Abort): string {
  if (abort.source === ABORT_SOURCE.ServiceUser) return 'aborted by the service user';
  const reasons: Record<number, string> = {
    0: 'reason not specified', 1: 'unrecognized PDU', 2: 'unexpected PDU',
    4: 'unrecognized PDU parameter', 5: 'unexpected PDU parameter', 6: 'invalid PDU parameter value',
  };
  const who = abort.source === ABORT_SOURCE.ServiceProvider ? 'service provider' : `source ${abort.source}`;
  return `aborted by the ${who}: ${reasons[abort.reason] ?? `reason ${abort.reason}`}`;
}
