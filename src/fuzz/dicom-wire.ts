/**
 * Permissive DICOM upper-layer encoders for the fuzzer. protocols/dicom refuses to encode anything
 * invalid (on purpose); these write whatever they are given, including length fields that lie, so a
 * generated PDU is a small tree (PS3.8 §9.3: PDU -> items -> sub-items, P-DATA-TF -> PDV items) that
 * mutators edit before it is serialised.
 */

/** An item or sub-item (PS3.8 §9.3.2, Annex D): 1-byte type, reserved byte, 16-bit length, body. */
export interface WireItem {
  type: number;
  /** Fixed bytes before the sub-items (e.g. a presentation context's ID and reserved bytes). */
  head?: Buffer;
  /** Raw body, or sub-items. */
  body: Buffer | WireItem[];
  /** Written instead of the real length when set: a lying length field. */
  lengthOverride?: number;
}

/** A PDV item (PS3.8 §9.3.5, Annex E): 32-bit length, context ID, message control header, fragment. */
export interface WirePdv {
  contextId: number;
  /** Message control header: bit 0 command, bit 1 last fragment (PS3.8 E.2). */
  control: number;
  data: Buffer;
  lengthOverride?: number;
}

export type WirePdu =
  | { type: number; kind: 'items'; fixed: Buffer; items: WireItem[]; lengthOverride?: number }
  | { type: number; kind: 'pdata'; pdvs: WirePdv[]; lengthOverride?: number }
  | { type: number; kind: 'raw'; body: Buffer; lengthOverride?: number };

export function encodeWirePdu(pdu: WirePdu): Buffer {
  let size = 6;
  if (pdu.kind === 'items') {
    size += pdu.fixed.length;
    for (const item of pdu.items) size += wireItemSize(item);
  } else if (pdu.kind === 'pdata') {
    for (const pdv of pdu.pdvs) size += 6 + pdv.data.length;
  } else size += pdu.body.length;
  const out = Buffer.allocUnsafe(size);
  let at = 6;
  if (pdu.kind === 'items') {
    at += pdu.fixed.copy(out, at);
    for (const item of pdu.items) at = writeWireItem(item, out, at);
  } else if (pdu.kind === 'pdata') {
    for (const pdv of pdu.pdvs) at = writeWirePdv(pdv, out, at);
  } else at += pdu.body.copy(out, at);
  out[0] = pdu.type & 0xff;
  out[1] = 0;
  out.writeUInt32BE((pdu.lengthOverride ?? size - 6) >>> 0, 2);
  return out;
}

// Sized first, then written into one buffer: concatenating per level copied a deeply nested item
// once per level (the generator nests sub-items hundreds deep).
function wireItemSize(item: WireItem): number {
  let size = 4 + (item.head?.length ?? 0);
  if (Buffer.isBuffer(item.body)) size += item.body.length;
  else for (const sub of item.body) size += wireItemSize(sub);
  return size;
}

function writeWireItem(item: WireItem, out: Buffer, start: number): number {
  let at = start + 4;
  if (item.head) at += item.head.copy(out, at);
  if (Buffer.isBuffer(item.body)) at += item.body.copy(out, at);
  else for (const sub of item.body) at = writeWireItem(sub, out, at);
  out[start] = item.type & 0xff;
  out[start + 1] = 0;
  out.writeUInt16BE((item.lengthOverride ?? at - start - 4) & 0xffff, start + 2);
  return at;
}

function writeWirePdv(pdv: WirePdv, out: Buffer, start: number): number {
  out.writeUInt32BE((pdv.lengthOverride ?? pdv.data.length + 2) >>> 0, start);
  out[start + 4] = pdv.contextId & 0xff;
  out[start + 5] = pdv.control & 0xff;
  return start + 6 + pdv.data.copy(out, start + 6);
}

/** A 16-byte AE title field written as given (PS3.8 §9.3.2 pads with spaces; a fuzzer may not). */
export function aeField(title: string | Buffer, pad = 0x20): Buffer {
  const raw = Buffer.isBuffer(title) ? title : Buffer.from(title, 'latin1');
  const out = Buffer.alloc(16, pad);
  raw.copy(out, 0, 0, 16);
  return out;
}

/** Fixed fields of A-ASSOCIATE-RQ/AC (PS3.8 Table 9-11): version, reserved, called, calling, 32 reserved. */
export function associateFixed(called: Buffer, calling: Buffer, version = 1): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(version & 0xffff, 0);
  called.copy(fixed, 4, 0, 16);
  calling.copy(fixed, 20, 0, 16);
  return fixed;
}

export function uidItem(type: number, uid: string | Buffer): WireItem {
  return { type, body: Buffer.isBuffer(uid) ? uid : Buffer.from(uid, 'latin1') };
}

export function u16be(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff, 0);
  return b;
}

export function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/** A-RELEASE-RQ/RP and A-ABORT (PS3.8 §9.3.6-§9.3.8): 4-byte bodies. */
export function fixedPdu(type: number, b2 = 0, b3 = 0): WirePdu {
  return { type, kind: 'raw', body: Buffer.from([0, 0, b2, b3]) };
}
