/**
 * The byte layer of a DIMSE command set (PS3.7 §6.3.1, Annex E): group 0000 data elements in
 * implicit VR little endian (PS3.5 §7.1.3), CommandGroupLength (0000,0000) first.
 */
import { WardgateError } from '../../errors.ts';

/** Tag (2 bytes group, 2 bytes element, little endian) and 32-bit length: PS3.5 §7.1.3. */
const ELEMENT_HEADER_LENGTH = 8;
export const COMMAND_GROUP_LENGTH_TAG = 0x0000;

function malformed(message: string): WardgateError {
  return new WardgateError('DIMSE_MALFORMED', message);
}

export function tagName(element: number): string {
  return `(0000,${element.toString(16).toUpperCase().padStart(4, '0')})`;
}

/**
 * Parse a command set into element number -> value. Rejects anything a receiver could read two
 * ways: a group length that does not match, elements outside group 0000, out-of-order or repeated
 * tags (PS3.5 §7.1: ascending order), undefined or odd lengths, trailing bytes.
 */
export function readCommandElements(buf: Buffer): Map<number, Buffer> {
  if (buf.length < ELEMENT_HEADER_LENGTH + 4) throw malformed(`command set of ${buf.length} bytes cannot hold CommandGroupLength ${tagName(0)}`);
  if (buf.readUInt16LE(0) !== 0 || buf.readUInt16LE(2) !== COMMAND_GROUP_LENGTH_TAG || buf.readUInt32LE(4) !== 4) {
    throw malformed(`command set does not start with CommandGroupLength ${tagName(0)} of length 4 (PS3.7 §6.3.1)`);
  }
  const groupLength = buf.readUInt32LE(8);
  const rest = buf.length - (ELEMENT_HEADER_LENGTH + 4);
  if (groupLength !== rest) throw malformed(`CommandGroupLength ${tagName(0)} is ${groupLength} but ${rest} bytes follow it`);
  const elements = new Map<number, Buffer>([[COMMAND_GROUP_LENGTH_TAG, Buffer.from(buf.subarray(8, 12))]]);
  let previous = COMMAND_GROUP_LENGTH_TAG;
  let pos = ELEMENT_HEADER_LENGTH + 4;
  while (pos < buf.length) {
    const left = buf.length - pos;
    if (left < ELEMENT_HEADER_LENGTH) throw malformed(`${left} trailing byte(s) in the command set cannot hold an element header`);
    const group = buf.readUInt16LE(pos);
    const element = buf.readUInt16LE(pos + 2);
    const length = buf.readUInt32LE(pos + 4);
    const where = `(${group.toString(16).toUpperCase().padStart(4, '0')},${element.toString(16).toUpperCase().padStart(4, '0')})`;
    if (group !== 0) throw malformed(`element ${where} is outside group 0000; a command set holds only command elements (PS3.7 §6.3.1)`);
    if (element <= previous) throw malformed(`element ${where} is out of order or repeated (PS3.5 §7.1 requires ascending tags)`);
    if (length === 0xffffffff) throw malformed(`element ${where} has undefined length, not allowed in a command set`);
    if (length > left - ELEMENT_HEADER_LENGTH) throw malformed(`element ${where} length ${length} exceeds the ${left - ELEMENT_HEADER_LENGTH} bytes left in the command set`);
    if (length % 2 !== 0) throw malformed(`element ${where} has odd length ${length} (PS3.5 §7.1.1)`);
    elements.set(element, Buffer.from(buf.subarray(pos + ELEMENT_HEADER_LENGTH, pos + ELEMENT_HEADER_LENGTH + length)));
    previous = element;
    pos += ELEMENT_HEADER_LENGTH + length;
  }
  return elements;
}

/** Write elements (group 0000, values already padded to even length) sorted, with a fresh group length. */
export function writeCommandElements(elements: ReadonlyMap<number, Buffer>): Buffer {
  const tags = [...elements.keys()].filter((t) => t !== COMMAND_GROUP_LENGTH_TAG).sort((a, b) => a - b);
  let groupLength = 0;
  for (const tag of tags) {
    if (!Number.isInteger(tag) || tag < 1 || tag > 0xffff) throw malformed(`cannot encode command element ${tag}: not a group 0000 element number`);
    const value = elements.get(tag)!;
    if (value.length % 2 !== 0) throw malformed(`cannot encode ${tagName(tag)}: odd value length ${value.length}`);
    groupLength += ELEMENT_HEADER_LENGTH + value.length;
  }
  const out = Buffer.alloc(ELEMENT_HEADER_LENGTH + 4 + groupLength);
  out.writeUInt32LE(4, 4);
  out.writeUInt32LE(groupLength, 8);
  let pos = ELEMENT_HEADER_LENGTH + 4;
  for (const tag of tags) {
    const value = elements.get(tag)!;
    out.writeUInt16LE(0, pos);
    out.writeUInt16LE(tag, pos + 2);
    out.writeUInt32LE(value.length, pos + 4);
    pos += ELEMENT_HEADER_LENGTH + value.copy(out, pos + ELEMENT_HEADER_LENGTH);
  }
  return out;
}

// Value encodings (PS3.5 §6.2): UI padded with NUL, text VRs with space, to even length.
export function us(value: number, tag: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw malformed(`cannot encode ${tagName(tag)}: ${value} is not an unsigned short`);
  const b = Buffer.alloc(2);
  b.writeUInt16LE(value, 0);
  return b;
}

export function ui(value: string, tag: number): Buffer {
  if (!/^[0-9.]{1,64}$/.test(value)) throw malformed(`cannot encode ${tagName(tag)}: ${JSON.stringify(value)} is not a UID`);
  return Buffer.from(value.length % 2 === 0 ? value : `${value}\0`, 'latin1');
}

export function text(value: string, tag: number, max: number): Buffer {
  if (value.length > max || /[\\\x00-\x1f\x7f]/.test(value)) throw malformed(`cannot encode ${tagName(tag)}: ${JSON.stringify(value)} is not a valid value`);
  return Buffer.from(value.length % 2 === 0 ? value : `${value} `, 'latin1');
}

export function readUs(value: Buffer, tag: number): number {
  if (value.length !== 2) throw malformed(`${tagName(tag)} (US) has length ${value.length}, it must be 2`);
  return value.readUInt16LE(0);
}

export function readUi(value: Buffer, tag: number): string {
  const uid = value.toString('latin1').replace(/[\0 ]+$/, '');
  if (!/^[0-9.]{1,64}$/.test(uid)) throw malformed(`${tagName(tag)} (UI) does not hold a UID`);
  return uid;
}

export function readText(value: Buffer): string {
  return value.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
}

export function readAt(value: Buffer, tag: number): number {
  if (value.length < 4 || value.length % 4 !== 0) throw malformed(`${tagName(tag)} (AT) has length ${value.length}, not a multiple of 4`);
  return ((value.readUInt16LE(0) << 16) | value.readUInt16LE(2)) >>> 0;
}
