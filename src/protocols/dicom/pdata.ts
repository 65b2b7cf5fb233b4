/**
 * P-DATA-TF PDU (PS3.8 §9.3.5) and its Presentation Data Value items (PS3.8 Annex E).
 */
import { WardgateError } from '../../errors.ts';
import { malformed } from './items.ts';
import { PDU_HEADER_LENGTH, PDU_TYPE } from './pdu.ts';

export interface Pdv {
  /** Presentation context ID negotiated for this message. */
  contextId: number;
  /** PS3.8 E.2 message control header bit 0: command (true) or data set fragment. */
  command: boolean;
  /** PS3.8 E.2 bit 1: last fragment of the command or data set. */
  last: boolean;
  /** Decoded: a view into the PDU's body (copy it to keep it past the PDU). */
  data: Buffer;
}

/** PDV item length field (4) + context ID (1) + message control header (1). */
export const PDV_HEADER_LENGTH = 6;

/**
 * Decode the PDV items of a P-DATA-TF body. A PDV carrying no fragment bytes (item length 2) is
 * legal; an item length below 2 cannot hold the context ID and control header and is malformed.
 * Control header bits 2-7 are reserved and, per PS3.8 E.2, not tested.
 * The fragments are views into `body`, not copies: a data set streams through here PDU by PDU.
 */
export function decodePDataTf(body: Buffer): Pdv[] {
  // PS3.8 §9.3.5: the variable field holds one or more PDV items.
  if (body.length === 0) throw malformed('P-DATA-TF PDU holds no PDV item');
  const pdvs: Pdv[] = [];
  let pos = 0;
  while (pos < body.length) {
    const left = body.length - pos;
    if (left < 4) throw malformed(`${left} trailing byte(s) in P-DATA-TF cannot hold a PDV item length`);
    const length = body.readUInt32BE(pos);
    if (length < 2) throw malformed(`PDV item length ${length} is below 2 (context ID and message control header)`);
    if (length > left - 4) throw malformed(`PDV item length ${length} exceeds the ${left - 4} bytes left in the P-DATA-TF PDU`);
    const control = body[pos + 5];
    pdvs.push({
      contextId: body[pos + 4],
      command: (control & 0x01) !== 0,
      last: (control & 0x02) !== 0,
      data: body.subarray(pos + PDV_HEADER_LENGTH, pos + 4 + length),
    });
    pos += 4 + length;
  }
  return pdvs;
}

/**
 * What to keep of a command fragment until the command's last one arrives: nothing for an empty one
 * (a flood of them would grow a list, not the byte count that bounds it), a copy unless it is the
 * last (decoded fragments are views, and a view would keep its whole PDU alive).
 */
export function heldFragment(pdv: Pdv): Buffer | undefined {
  if (pdv.data.length === 0) return undefined;
  return pdv.last ? pdv.data : Buffer.from(pdv.data);
}

export function encodePDataTf(pdvs: Pdv[]): Buffer {
  if (pdvs.length === 0) throw malformed('cannot encode a P-DATA-TF without PDV items');
  let total = 0;
  for (const pdv of pdvs) {
    if (!Number.isInteger(pdv.contextId) || pdv.contextId < 1 || pdv.contextId > 255) {
      throw malformed(`cannot encode PDV with presentation context ID ${pdv.contextId}`);
    }
    total += PDV_HEADER_LENGTH + pdv.data.length;
  }
  if (total > 0xffffffff) throw new WardgateError('PDU_TOO_LARGE', `P-DATA-TF of ${total} bytes does not fit the 32-bit PDU length`);
  const out = Buffer.alloc(PDU_HEADER_LENGTH + total);
  out[0] = PDU_TYPE.PDataTf;
  out.writeUInt32BE(total, 2);
  let pos = PDU_HEADER_LENGTH;
  for (const pdv of pdvs) {
    out.writeUInt32BE(pdv.data.length + 2, pos);
    out[pos + 4] = pdv.contextId;
    out[pos + 5] = (pdv.command ? 0x01 : 0) | (pdv.last ? 0x02 : 0);
    pos += PDV_HEADER_LENGTH + pdv.data.copy(out, pos + PDV_HEADER_LENGTH);
  }
  return out;
}
