/**
 * Presentation Context items of A-ASSOCIATE-RQ (0x20, PS3.8 §9.3.2.2) and -AC (0x21, §9.3.3.2).
 */
import { ITEM_TYPE, checkByte, encodeItem, itemName, malformed, readItems, readUid, uidBytes } from './items.ts';

// PS3.8 §9.3.3.2 Table 9-18: Result/Reason of a presentation context in the A-ASSOCIATE-AC.
export const PRESENTATION_CONTEXT_RESULT = {
  Acceptance: 0,
  UserRejection: 1,
  NoReason: 2,
  AbstractSyntaxNotSupported: 3,
  TransferSyntaxesNotSupported: 4,
} as const;

export interface PresentationContextRq {
  /** Odd, 1..255 (PS3.8 §9.3.2.2). */
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

export interface PresentationContextAc {
  id: number;
  result: number;
  /** Required when accepted; PS3.8 §9.3.3.2 says it is not significant otherwise. */
  transferSyntax?: string;
}

function checkContextId(id: number, where: string): number {
  // PS3.8 §9.3.2.2: presentation context IDs are odd integers between 1 and 255.
  if (id % 2 === 0) throw malformed(`${where} has presentation context ID ${id}, which is not odd`);
  return id;
}

export function decodePresentationContextRq(body: Buffer): PresentationContextRq {
  const where = itemName(ITEM_TYPE.PresentationContextRq);
  if (body.length < 4) throw malformed(`${where} length ${body.length} is shorter than its 4 fixed bytes`);
  const id = checkContextId(body[0], where);
  let abstractSyntax: string | undefined;
  const transferSyntaxes: string[] = [];
  for (const sub of readItems(body.subarray(4), `${where} ID ${id}`)) {
    if (sub.type === ITEM_TYPE.AbstractSyntax) {
      if (abstractSyntax !== undefined) throw malformed(`${where} ID ${id} has more than one ${itemName(sub.type)}`);
      abstractSyntax = readUid(sub.body, `${itemName(sub.type)} of context ${id}`);
    } else if (sub.type === ITEM_TYPE.TransferSyntax) {
      transferSyntaxes.push(readUid(sub.body, `${itemName(sub.type)} of context ${id}`));
    } else {
      throw malformed(`${itemName(sub.type)} is not allowed inside ${where} ID ${id}`);
    }
  }
  if (abstractSyntax === undefined) throw malformed(`${where} ID ${id} has no ${itemName(ITEM_TYPE.AbstractSyntax)}`);
  if (transferSyntaxes.length === 0) throw malformed(`${where} ID ${id} has no ${itemName(ITEM_TYPE.TransferSyntax)}`);
  return { id, abstractSyntax, transferSyntaxes };
}

export function encodePresentationContextRq(pc: PresentationContextRq): Buffer {
  const where = 'Presentation Context Item (0x20)';
  checkByte(pc.id, `${where} ID`);
  checkContextId(pc.id, where);
  if (pc.transferSyntaxes.length === 0) throw malformed(`cannot encode ${where} ID ${pc.id} without transfer syntaxes`);
  const parts = [
    Buffer.from([pc.id, 0, 0, 0]),
    encodeItem(ITEM_TYPE.AbstractSyntax, uidBytes(pc.abstractSyntax, 'abstract syntax')),
    ...pc.transferSyntaxes.map((ts) => encodeItem(ITEM_TYPE.TransferSyntax, uidBytes(ts, 'transfer syntax'))),
  ];
  return encodeItem(ITEM_TYPE.PresentationContextRq, Buffer.concat(parts));
}

export function decodePresentationContextAc(body: Buffer): PresentationContextAc {
  const where = itemName(ITEM_TYPE.PresentationContextAc);
  if (body.length < 4) throw malformed(`${where} length ${body.length} is shorter than its 4 fixed bytes`);
  const id = checkContextId(body[0], where);
  const result = body[2];
  let transferSyntax: string | undefined;
  let seen = 0;
  for (const sub of readItems(body.subarray(4), `${where} ID ${id}`)) {
    if (sub.type !== ITEM_TYPE.TransferSyntax) throw malformed(`${itemName(sub.type)} is not allowed inside ${where} ID ${id}`);
    if (++seen > 1) throw malformed(`${where} ID ${id} has more than one ${itemName(sub.type)}`);
    // PS3.8 §9.3.3.2: for a rejected context the transfer syntax is not significant and not tested.
    if (result === PRESENTATION_CONTEXT_RESULT.Acceptance) transferSyntax = readUid(sub.body, `${itemName(sub.type)} of context ${id}`);
  }
  if (result === PRESENTATION_CONTEXT_RESULT.Acceptance && transferSyntax === undefined) {
    throw malformed(`${where} ID ${id} is accepted but has no ${itemName(ITEM_TYPE.TransferSyntax)}`);
  }
  return transferSyntax === undefined ? { id, result } : { id, result, transferSyntax };
}

export function encodePresentationContextAc(pc: PresentationContextAc): Buffer {
  const where = 'Presentation Context Item (0x21)';
  checkByte(pc.id, `${where} ID`);
  checkContextId(pc.id, where);
  checkByte(pc.result, `${where} result`);
  if (pc.result === PRESENTATION_CONTEXT_RESULT.Acceptance && pc.transferSyntax === undefined) {
    throw malformed(`cannot encode accepted ${where} ID ${pc.id} without a transfer syntax`);
  }
  // A rejected context still carries an (empty) transfer syntax sub-item, as PS3.8 Table 9-18 lists it.
  const ts = pc.transferSyntax === undefined ? Buffer.alloc(0) : uidBytes(pc.transferSyntax, 'transfer syntax');
  return encodeItem(ITEM_TYPE.PresentationContextAc, Buffer.concat([Buffer.from([pc.id, 0, pc.result, 0]), encodeItem(ITEM_TYPE.TransferSyntax, ts)]));
}
