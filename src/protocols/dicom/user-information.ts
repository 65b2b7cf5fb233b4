/**
 * User Information item (0x50, PS3.8 §9.3.2.3 and Annex D; sub-items defined in PS3.7 Annex D.3.3).
 * Sub-items this codec does not interpret (extended negotiation 0x56/0x57, unknown types) are kept
 * raw so that a gateway can forward them unchanged.
 */
import { ITEM_TYPE, type RawItem, checkByte, checkUint16, encodeItem, itemName, malformed, readItems, readUid, uidBytes } from './items.ts';

export interface RoleSelection {
  sopClassUid: string;
  /** PS3.7 D.3.3.4: 1 = the requestor proposes/accepts the SCU role. */
  scuRole: number;
  scpRole: number;
}

// PS3.7 Table D.3-14: user identity types.
export const USER_IDENTITY_TYPE = {
  Username: 1,
  UsernameAndPasscode: 2,
  Kerberos: 3,
  Saml: 4,
  Jwt: 5,
} as const;

export interface UserIdentityRq {
  type: number;
  positiveResponseRequested: boolean;
  primaryField: Buffer;
  /** The passcode for type 2: a secret, never log it. */
  secondaryField: Buffer;
}

export interface UserInformation {
  /** PS3.8 D.1: largest P-DATA-TF variable field the sender accepts; 0 means unlimited. */
  maxLength?: number;
  implementationClassUid?: string;
  implementationVersionName?: string;
  asyncOperationsWindow?: { maxInvoked: number; maxPerformed: number };
  roleSelections?: RoleSelection[];
  userIdentity?: UserIdentityRq;
  /** Server response of the A-ASSOCIATE-AC User Identity sub-item (0x59). */
  userIdentityResponse?: Buffer;
  /** Sub-items kept raw, in received order. */
  otherItems?: RawItem[];
}

/** PS3.7 D.3.3.2: the implementation version name is 1..16 characters. */
const MAX_VERSION_NAME = 16;

function exactLength(body: Buffer, type: number, want: number): void {
  if (body.length !== want) throw malformed(`${itemName(type)} length is ${body.length}, it must be ${want}`);
}

function once<T>(current: T | undefined, type: number): void {
  if (current !== undefined) throw malformed(`more than one ${itemName(type)} in the User Information Item (0x50)`);
}

function readRoleSelection(body: Buffer): RoleSelection {
  const type = ITEM_TYPE.RoleSelection;
  if (body.length < 2) throw malformed(`${itemName(type)} length ${body.length} cannot hold its UID length field`);
  const uidLength = body.readUInt16BE(0);
  if (2 + uidLength + 2 !== body.length) {
    throw malformed(`${itemName(type)} UID length ${uidLength} does not match the item length ${body.length}`);
  }
  return {
    sopClassUid: readUid(body.subarray(2, 2 + uidLength), itemName(type)),
    scuRole: body[2 + uidLength],
    scpRole: body[3 + uidLength],
  };
}

function readUserIdentityRq(body: Buffer): UserIdentityRq {
  const type = ITEM_TYPE.UserIdentityRq;
  if (body.length < 4) throw malformed(`${itemName(type)} length ${body.length} is shorter than its fixed fields`);
  const primaryLength = body.readUInt16BE(2);
  if (4 + primaryLength + 2 > body.length) {
    throw malformed(`${itemName(type)} primary field length ${primaryLength} exceeds the ${body.length - 6} bytes the item can hold`);
  }
  const secondaryAt = 4 + primaryLength;
  const secondaryLength = body.readUInt16BE(secondaryAt);
  if (secondaryAt + 2 + secondaryLength !== body.length) {
    throw malformed(`${itemName(type)} secondary field length ${secondaryLength} does not match the item length ${body.length}`);
  }
  return {
    type: body[0],
    positiveResponseRequested: body[1] === 1,
    primaryField: Buffer.from(body.subarray(4, 4 + primaryLength)),
    secondaryField: Buffer.from(body.subarray(secondaryAt + 2)),
  };
}

function readUserIdentityAc(body: Buffer): Buffer {
  const type = ITEM_TYPE.UserIdentityAc;
  if (body.length < 2) throw malformed(`${itemName(type)} length ${body.length} cannot hold its response length field`);
  const responseLength = body.readUInt16BE(0);
  if (2 + responseLength !== body.length) {
    throw malformed(`${itemName(type)} server response length ${responseLength} does not match the item length ${body.length}`);
  }
  return Buffer.from(body.subarray(2));
}

export function decodeUserInformation(body: Buffer): UserInformation {
  const info: UserInformation = {};
  const roles: RoleSelection[] = [];
  const others: RawItem[] = [];
  for (const sub of readItems(body, itemName(ITEM_TYPE.UserInformation))) {
    switch (sub.type) {
      case ITEM_TYPE.MaximumLength:
        once(info.maxLength, sub.type);
        exactLength(sub.body, sub.type, 4);
        info.maxLength = sub.body.readUInt32BE(0);
        break;
      case ITEM_TYPE.ImplementationClassUid:
        once(info.implementationClassUid, sub.type);
        info.implementationClassUid = readUid(sub.body, itemName(sub.type));
        break;
      case ITEM_TYPE.AsynchronousOperationsWindow:
        once(info.asyncOperationsWindow, sub.type);
        exactLength(sub.body, sub.type, 4);
        info.asyncOperationsWindow = { maxInvoked: sub.body.readUInt16BE(0), maxPerformed: sub.body.readUInt16BE(2) };
        break;
      case ITEM_TYPE.RoleSelection:
        roles.push(readRoleSelection(sub.body));
        break;
      case ITEM_TYPE.ImplementationVersionName:
        once(info.implementationVersionName, sub.type);
        if (sub.body.length < 1 || sub.body.length > MAX_VERSION_NAME) {
          throw malformed(`${itemName(sub.type)} length is ${sub.body.length}, it must be 1..${MAX_VERSION_NAME}`);
        }
        info.implementationVersionName = sub.body.toString('latin1');
        break;
      case ITEM_TYPE.UserIdentityRq:
        once(info.userIdentity, sub.type);
        info.userIdentity = readUserIdentityRq(sub.body);
        break;
      case ITEM_TYPE.UserIdentityAc:
        once(info.userIdentityResponse, sub.type);
        info.userIdentityResponse = readUserIdentityAc(sub.body);
        break;
      case ITEM_TYPE.ApplicationContext:
      case ITEM_TYPE.PresentationContextRq:
      case ITEM_TYPE.PresentationContextAc:
      case ITEM_TYPE.AbstractSyntax:
      case ITEM_TYPE.TransferSyntax:
      case ITEM_TYPE.UserInformation:
        throw malformed(`${itemName(sub.type)} is not allowed inside the User Information Item (0x50)`);
      default:
        others.push({ type: sub.type, body: Buffer.from(sub.body) });
    }
  }
  if (roles.length > 0) info.roleSelections = roles;
  if (others.length > 0) info.otherItems = others;
  return info;
}

function u32(value: number, what: string): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw malformed(`cannot encode ${what}: ${value} is not a 32-bit value`);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value, 0);
  return b;
}

function u16(value: number, what: string): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(checkUint16(value, what), 0);
  return b;
}

/** Sub-items in ascending type order (as PS3.7 Annex D lists them), raw items before User Identity. */
export function encodeUserInformation(info: UserInformation): Buffer {
  const parts: Buffer[] = [];
  if (info.maxLength !== undefined) parts.push(encodeItem(ITEM_TYPE.MaximumLength, u32(info.maxLength, 'maximum length')));
  if (info.implementationClassUid !== undefined) {
    parts.push(encodeItem(ITEM_TYPE.ImplementationClassUid, uidBytes(info.implementationClassUid, 'implementation class UID')));
  }
  if (info.asyncOperationsWindow !== undefined) {
    const w = info.asyncOperationsWindow;
    parts.push(encodeItem(ITEM_TYPE.AsynchronousOperationsWindow, Buffer.concat([u16(w.maxInvoked, 'max operations invoked'), u16(w.maxPerformed, 'max operations performed')])));
  }
  for (const role of info.roleSelections ?? []) {
    const uid = uidBytes(role.sopClassUid, 'role selection SOP class UID');
    parts.push(encodeItem(ITEM_TYPE.RoleSelection, Buffer.concat([u16(uid.length, 'UID length'), uid, Buffer.from([checkByte(role.scuRole, 'SCU role'), checkByte(role.scpRole, 'SCP role')])])));
  }
  if (info.implementationVersionName !== undefined) {
    const name = Buffer.from(info.implementationVersionName, 'latin1');
    if (name.length < 1 || name.length > MAX_VERSION_NAME) throw malformed(`cannot encode implementation version name of ${name.length} bytes (1..16)`);
    parts.push(encodeItem(ITEM_TYPE.ImplementationVersionName, name));
  }
  for (const item of info.otherItems ?? []) parts.push(encodeItem(checkByte(item.type, 'sub-item type'), item.body));
  if (info.userIdentity !== undefined) {
    const id = info.userIdentity;
    parts.push(encodeItem(ITEM_TYPE.UserIdentityRq, Buffer.concat([
      Buffer.from([checkByte(id.type, 'user identity type'), id.positiveResponseRequested ? 1 : 0]),
      u16(id.primaryField.length, 'user identity primary field length'), id.primaryField,
      u16(id.secondaryField.length, 'user identity secondary field length'), id.secondaryField,
    ])));
  }
  if (info.userIdentityResponse !== undefined) {
    const r = info.userIdentityResponse;
    parts.push(encodeItem(ITEM_TYPE.UserIdentityAc, Buffer.concat([u16(r.length, 'user identity server response length'), r])));
  }
  return encodeItem(ITEM_TYPE.UserInformation, Buffer.concat(parts));
}
