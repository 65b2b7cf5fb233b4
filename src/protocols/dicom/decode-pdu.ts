/**
 * Decode any PDU into its typed form, dispatching on the PDU type (PS3.8 §9.3.1).
 */
import { type AssociateAc, type AssociateRq, decodeAssociateAc, decodeAssociateRq } from './associate.ts';
import { type AssociateRj, decodeAssociateRj } from './associate-reject.ts';
import { malformed } from './items.ts';
import { type Pdv, decodePDataTf } from './pdata.ts';
import { PDU_TYPE, PDU_TYPE_NAMES, type PduLimits, type RawPdu, peekHeader } from './pdu.ts';
import { type Abort, decodeAbort, decodeReleaseRp, decodeReleaseRq } from './release-abort.ts';

export type DecodedPdu =
  | { kind: 'A-ASSOCIATE-RQ'; value: AssociateRq }
  | { kind: 'A-ASSOCIATE-AC'; value: AssociateAc }
  | { kind: 'A-ASSOCIATE-RJ'; value: AssociateRj }
  | { kind: 'P-DATA-TF'; value: Pdv[] }
  | { kind: 'A-RELEASE-RQ'; value: Record<string, never> }
  | { kind: 'A-RELEASE-RP'; value: Record<string, never> }
  | { kind: 'A-ABORT'; value: Abort };

export type PduKind = DecodedPdu['kind'];

/**
 * Decode a PDU from PduReader, or a buffer holding exactly one whole PDU (header included).
 * Throws PDU_MALFORMED / PDU_TOO_LARGE only.
 */
export function decodePdu(input: RawPdu | Buffer, limits: PduLimits = {}): DecodedPdu {
  let type: number;
  let body: Buffer;
  if (Buffer.isBuffer(input)) {
    const header = peekHeader(input, { maxPduLength: limits.maxPduLength ?? 0xffffffff });
    if (!header || input.length < header.totalLength) throw malformed(`truncated PDU: ${input.length} bytes, the header announces ${header?.totalLength ?? 'at least 6'}`);
    if (input.length > header.totalLength) throw malformed(`${input.length - header.totalLength} bytes follow the ${PDU_TYPE_NAMES[header.type]} PDU`);
    type = header.type;
    body = input.subarray(6);
  } else {
    type = input.type;
    body = input.body;
  }
  switch (type) {
    case PDU_TYPE.AssociateRq: return { kind: 'A-ASSOCIATE-RQ', value: decodeAssociateRq(body) };
    case PDU_TYPE.AssociateAc: return { kind: 'A-ASSOCIATE-AC', value: decodeAssociateAc(body) };
    case PDU_TYPE.AssociateRj: return { kind: 'A-ASSOCIATE-RJ', value: decodeAssociateRj(body) };
    case PDU_TYPE.PDataTf: return { kind: 'P-DATA-TF', value: decodePDataTf(body) };
    case PDU_TYPE.ReleaseRq: return { kind: 'A-RELEASE-RQ', value: decodeReleaseRq(body) };
    case PDU_TYPE.ReleaseRp: return { kind: 'A-RELEASE-RP', value: decodeReleaseRp(body) };
    case PDU_TYPE.Abort: return { kind: 'A-ABORT', value: decodeAbort(body) };
    default: throw malformed(`unknown PDU type 0x${type.toString(16).padStart(2, '0')}`);
  }
}
