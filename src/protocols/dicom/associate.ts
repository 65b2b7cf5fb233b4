/**
 * A-ASSOCIATE-RQ (PS3.8 §9.3.2) and A-ASSOCIATE-AC (PS3.8 §9.3.3) PDUs. Decoders take the PDU body
 * (as PduReader yields it); encoders return the whole PDU.
 */
import { aeTitleField, readAeTitleField } from './ae-title.ts';
import { ITEM_TYPE, type RawItem, checkByte, checkUint16, encodeItem, itemName, malformed, readItems, readUid, uidBytes } from './items.ts';
import { PDU_HEADER_LENGTH, PDU_TYPE, PDU_TYPE_NAMES } from './pdu.ts';
import {
  type PresentationContextAc,
  type PresentationContextRq,
  decodePresentationContextAc,
  decodePresentationContextRq,
  encodePresentationContextAc,
  encodePresentationContextRq,
} from './presentation-context.ts';
import { type UserInformation, decodeUserInformation, encodeUserInformation } from './user-information.ts';
import { APPLICATION_CONTEXT_UID } from './uids.ts';

/** PS3.8 §9.3.2: protocol version 0001H (bit 0 set). */
export const PROTOCOL_VERSION = 0x0001;

/** Protocol version, reserved, called AE, calling AE, 32 reserved bytes: PS3.8 Table 9-11. */
const FIXED_FIELDS_LENGTH = 68;

interface AssociateCommon {
  /**
   * PS3.8 §9.3.2: a bit field, bit 0 = version 1. Not enforced here: an acceptor that does not
   * support it answers A-ASSOCIATE-RJ with REJECTION.protocolVersionNotSupported.
   */
  protocolVersion: number;
  calledAeTitle: string;
  callingAeTitle: string;
  applicationContext: string;
  userInformation: UserInformation;
  /** Top-level items of types PS3.8 does not define, kept raw in received order. */
  otherItems?: RawItem[];
}

export interface AssociateRq extends AssociateCommon {
  presentationContexts: PresentationContextRq[];
}

export interface AssociateAc extends AssociateCommon {
  presentationContexts: PresentationContextAc[];
}

/** Input to the encoders: protocol version and application context default to the DICOM values. */
export type AssociateRqInit = Omit<AssociateRq, 'protocolVersion' | 'applicationContext'> & Partial<Pick<AssociateRq, 'protocolVersion' | 'applicationContext'>>;
export type AssociateAcInit = Omit<AssociateAc, 'protocolVersion' | 'applicationContext'> & Partial<Pick<AssociateAc, 'protocolVersion' | 'applicationContext'>>;

function pdu(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(PDU_HEADER_LENGTH);
  head[0] = type;
  head.writeUInt32BE(body.length, 2);
  return Buffer.concat([head, body]);
}

function aeField(value: string, what: string): Buffer {
  const field = aeTitleField(value);
  if (!field) throw malformed(`cannot encode ${what} ${JSON.stringify(value)}: not a valid AE title`);
  return field;
}

function encodeFixed(init: AssociateCommon | AssociateRqInit | AssociateAcInit): Buffer {
  const fixed = Buffer.alloc(FIXED_FIELDS_LENGTH);
  fixed.writeUInt16BE(checkUint16(init.protocolVersion ?? PROTOCOL_VERSION, 'protocol version'), 0);
  aeField(init.calledAeTitle, 'called AE title').copy(fixed, 4);
  aeField(init.callingAeTitle, 'calling AE title').copy(fixed, 20);
  return fixed;
}

function encodeAssociate(type: number, init: AssociateRqInit | AssociateAcInit, contexts: Buffer[]): Buffer {
  const items = [
    encodeFixed(init),
    encodeItem(ITEM_TYPE.ApplicationContext, uidBytes(init.applicationContext ?? APPLICATION_CONTEXT_UID, 'application context name')),
    ...contexts,
    encodeUserInformation(init.userInformation),
    ...(init.otherItems ?? []).map((item) => encodeItem(checkByte(item.type, 'item type'), item.body)),
  ];
  return pdu(type, Buffer.concat(items));
}

export function encodeAssociateRq(init: AssociateRqInit): Buffer {
  return encodeAssociate(PDU_TYPE.AssociateRq, init, init.presentationContexts.map(encodePresentationContextRq));
}

export function encodeAssociateAc(init: AssociateAcInit): Buffer {
  return encodeAssociate(PDU_TYPE.AssociateAc, init, init.presentationContexts.map(encodePresentationContextAc));
}

const DEFINED_ITEM_TYPES: ReadonlySet<number> = new Set(Object.values(ITEM_TYPE));

interface Parsed<C> {
  common: AssociateCommon;
  contexts: C[];
}

function decodeAssociate<C extends { id: number }>(
  body: Buffer,
  pduType: typeof PDU_TYPE.AssociateRq | typeof PDU_TYPE.AssociateAc,
  contextType: number,
  decodeContext: (b: Buffer) => C,
): Parsed<C> {
  const name = PDU_TYPE_NAMES[pduType];
  if (body.length < FIXED_FIELDS_LENGTH) {
    throw malformed(`${name} PDU length ${body.length} is shorter than its ${FIXED_FIELDS_LENGTH} bytes of fixed fields`);
  }
  const protocolVersion = body.readUInt16BE(0);
  let calledAeTitle: string;
  let callingAeTitle: string;
  if (pduType === PDU_TYPE.AssociateRq) {
    const called = readAeTitleField(body.subarray(4, 20));
    if (!called.ok) throw malformed(`${name} Called AE Title: ${called.reason}`);
    const calling = readAeTitleField(body.subarray(20, 36));
    if (!calling.ok) throw malformed(`${name} Calling AE Title: ${calling.reason}`);
    calledAeTitle = called.value;
    callingAeTitle = calling.value;
  } else {
    // PS3.8 §9.3.3: the AC echoes the RQ's titles, which "shall not be tested" on receipt.
    calledAeTitle = body.toString('latin1', 4, 20).replace(/[\0 ]+$/, '').trim();
    callingAeTitle = body.toString('latin1', 20, 36).replace(/[\0 ]+$/, '').trim();
  }
  let applicationContext: string | undefined;
  let userInformation: UserInformation | undefined;
  const contexts: C[] = [];
  const ids = new Set<number>();
  const otherItems: RawItem[] = [];
  for (const item of readItems(body.subarray(FIXED_FIELDS_LENGTH), `${name} PDU`)) {
    if (item.type === ITEM_TYPE.ApplicationContext) {
      if (applicationContext !== undefined) throw malformed(`${name} has more than one ${itemName(item.type)}`);
      applicationContext = readUid(item.body, itemName(item.type));
    } else if (item.type === contextType) {
      const pc = decodeContext(item.body);
      // Two contexts with one ID would let a gateway and the device disagree on what was negotiated.
      if (ids.has(pc.id)) throw malformed(`${name} has two ${itemName(item.type)}s with ID ${pc.id}`);
      ids.add(pc.id);
      contexts.push(pc);
    } else if (item.type === ITEM_TYPE.UserInformation) {
      if (userInformation !== undefined) throw malformed(`${name} has more than one ${itemName(item.type)}`);
      userInformation = decodeUserInformation(item.body);
    } else if (DEFINED_ITEM_TYPES.has(item.type)) {
      throw malformed(`${itemName(item.type)} is not allowed at the top level of ${name}`);
    } else {
      otherItems.push({ type: item.type, body: Buffer.from(item.body) });
    }
  }
  // PS3.8 §9.3.2/§9.3.3: one Application Context item, one or more Presentation Context items, one User Information item.
  if (applicationContext === undefined) throw malformed(`${name} has no ${itemName(ITEM_TYPE.ApplicationContext)}`);
  if (contexts.length === 0) throw malformed(`${name} has no ${itemName(contextType)}`);
  if (userInformation === undefined) throw malformed(`${name} has no ${itemName(ITEM_TYPE.UserInformation)}`);
  const common: AssociateCommon = { protocolVersion, calledAeTitle, callingAeTitle, applicationContext, userInformation };
  if (otherItems.length > 0) common.otherItems = otherItems;
  return { common, contexts };
}

export function decodeAssociateRq(body: Buffer): AssociateRq {
  const { common, contexts } = decodeAssociate(body, PDU_TYPE.AssociateRq, ITEM_TYPE.PresentationContextRq, decodePresentationContextRq);
  return { ...common, presentationContexts: contexts };
}

export function decodeAssociateAc(body: Buffer): AssociateAc {
  const { common, contexts } = decodeAssociate(body, PDU_TYPE.AssociateAc, ITEM_TYPE.PresentationContextAc, decodePresentationContextAc);
  return { ...common, presentationContexts: contexts };
}
