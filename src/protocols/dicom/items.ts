/**
 * Variable items and sub-items of the association PDUs (PS3.8 §9.3.2-§9.3.3, Annex D): a 4-byte
 * header (type, reserved, 16-bit big-endian length) and a body. Internal to the dicom codecs.
 */
import { WardgateError } from '../../errors.ts';
import { isUidSyntax, stripUidPadding } from './uids.ts';

export const ITEM_HEADER_LENGTH = 4;
export const MAX_ITEM_LENGTH = 0xffff;

// PS3.8 §9.3.2 and Annex D: item and sub-item types.
export const ITEM_TYPE = {
  ApplicationContext: 0x10,
  PresentationContextRq: 0x20,
  PresentationContextAc: 0x21,
  AbstractSyntax: 0x30,
  TransferSyntax: 0x40,
  UserInformation: 0x50,
  MaximumLength: 0x51,
  ImplementationClassUid: 0x52,
  AsynchronousOperationsWindow: 0x53,
  RoleSelection: 0x54,
  ImplementationVersionName: 0x55,
  SopClassExtendedNegotiation: 0x56,
  SopClassCommonExtendedNegotiation: 0x57,
  UserIdentityRq: 0x58,
  UserIdentityAc: 0x59,
} as const;

const ITEM_NAMES: Record<number, string> = {
  0x10: 'Application Context Item (0x10)',
  0x20: 'Presentation Context Item (0x20)',
  0x21: 'Presentation Context Item (0x21)',
  0x30: 'Abstract Syntax Sub-Item (0x30)',
  0x40: 'Transfer Syntax Sub-Item (0x40)',
  0x50: 'User Information Item (0x50)',
  0x51: 'Maximum Length Sub-Item (0x51)',
  0x52: 'Implementation Class UID Sub-Item (0x52)',
  0x53: 'Asynchronous Operations Window Sub-Item (0x53)',
  0x54: 'SCP/SCU Role Selection Sub-Item (0x54)',
  0x55: 'Implementation Version Name Sub-Item (0x55)',
  0x56: 'SOP Class Extended Negotiation Sub-Item (0x56)',
  0x57: 'SOP Class Common Extended Negotiation Sub-Item (0x57)',
  0x58: 'User Identity Sub-Item (0x58)',
  0x59: 'User Identity Sub-Item (0x59)',
};

export function itemName(type: number): string {
  return ITEM_NAMES[type] ?? `item 0x${type.toString(16).padStart(2, '0')}`;
}

export interface RawItem {
  type: number;
  body: Buffer;
}

export function malformed(message: string): WardgateError {
  return new WardgateError('PDU_MALFORMED', message);
}

/**
 * Split `buf` into items. Every declared length is checked against what is left of `container`,
 * so a lying length is reported with the item and the container it lies about.
 */
export function readItems(buf: Buffer, container: string): RawItem[] {
  const items: RawItem[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const left = buf.length - pos;
    if (left < ITEM_HEADER_LENGTH) {
      throw malformed(`${left} trailing byte(s) in ${container} cannot hold an item header`);
    }
    const type = buf[pos];
    const length = buf.readUInt16BE(pos + 2);
    if (length > left - ITEM_HEADER_LENGTH) {
      throw malformed(`${itemName(type)} length ${length} exceeds the ${left - ITEM_HEADER_LENGTH} bytes left in ${container}`);
    }
    items.push({ type, body: buf.subarray(pos + ITEM_HEADER_LENGTH, pos + ITEM_HEADER_LENGTH + length) });
    pos += ITEM_HEADER_LENGTH + length;
  }
  return items;
}

export function encodeItem(type: number, body: Buffer): Buffer {
  if (body.length > MAX_ITEM_LENGTH) {
    throw malformed(`cannot encode ${itemName(type)}: body of ${body.length} bytes exceeds the 16-bit item length`);
  }
  const head = Buffer.alloc(ITEM_HEADER_LENGTH);
  head[0] = type;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([head, body]);
}

/** A UID carried in an item (PS3.8 Annex F): decoded, padding stripped, syntax checked. */
export function readUid(body: Buffer, where: string): string {
  const uid = stripUidPadding(body.toString('latin1'));
  if (!isUidSyntax(uid)) {
    throw malformed(`${where} does not hold a UID (${JSON.stringify(uid.slice(0, 80))})`);
  }
  return uid;
}

export function uidBytes(uid: string, where: string): Buffer {
  if (!isUidSyntax(uid)) throw malformed(`cannot encode ${where}: ${JSON.stringify(uid)} is not a UID`);
  // PS3.8 Annex F: UIDs in items are not padded.
  return Buffer.from(uid, 'latin1');
}

export function checkByte(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) throw malformed(`cannot encode ${what}: ${value} is not a byte`);
  return value;
}

export function checkUint16(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw malformed(`cannot encode ${what}: ${value} is not a 16-bit value`);
  return value;
}
