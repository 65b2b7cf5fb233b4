/**
 * DIMSE command sets (PS3.7 §9.3, §10.3, Annex E): typed view over the group 0000 elements, with
 * encoders and checked decoders for C-ECHO and C-STORE.
 */
import { WardgateError } from '../../errors.ts';
import { readAt, readCommandElements, readText, readUi, readUs, tagName, text, ui, us, writeCommandElements } from './command-elements.ts';
import { SOP_CLASS } from './uids.ts';

// PS3.7 Annex E, Table E.1-1: command element numbers (group 0000).
export const COMMAND_TAG = {
  CommandGroupLength: 0x0000,
  AffectedSopClassUid: 0x0002,
  RequestedSopClassUid: 0x0003,
  CommandField: 0x0100,
  MessageId: 0x0110,
  MessageIdBeingRespondedTo: 0x0120,
  MoveDestination: 0x0600,
  Priority: 0x0700,
  CommandDataSetType: 0x0800,
  Status: 0x0900,
  OffendingElement: 0x0901,
  ErrorComment: 0x0902,
  ErrorId: 0x0903,
  AffectedSopInstanceUid: 0x1000,
  RequestedSopInstanceUid: 0x1001,
  EventTypeId: 0x1002,
  ActionTypeId: 0x1008,
  NumberOfRemainingSuboperations: 0x1020,
  NumberOfCompletedSuboperations: 0x1021,
  NumberOfFailedSuboperations: 0x1022,
  NumberOfWarningSuboperations: 0x1023,
  MoveOriginatorApplicationEntityTitle: 0x1030,
  MoveOriginatorMessageId: 0x1031,
} as const;

// PS3.7 Annex E: CommandField values.
export const COMMAND_FIELD = {
  CStoreRq: 0x0001, CStoreRsp: 0x8001,
  CGetRq: 0x0010, CGetRsp: 0x8010,
  CFindRq: 0x0020, CFindRsp: 0x8020,
  CMoveRq: 0x0021, CMoveRsp: 0x8021,
  CEchoRq: 0x0030, CEchoRsp: 0x8030,
  NEventReportRq: 0x0100, NEventReportRsp: 0x8100,
  NGetRq: 0x0110, NGetRsp: 0x8110,
  NSetRq: 0x0120, NSetRsp: 0x8120,
  NActionRq: 0x0130, NActionRsp: 0x8130,
  NCreateRq: 0x0140, NCreateRsp: 0x8140,
  NDeleteRq: 0x0150, NDeleteRsp: 0x8150,
  CCancelRq: 0x0fff,
} as const;

const COMMAND_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(COMMAND_FIELD).map(([key, value]) => [value, key.replace(/(?!^)([A-Z])/g, '-$1').toUpperCase()]),
);

export function commandName(field: number): string {
  return COMMAND_NAMES[field] ?? `command 0x${field.toString(16).padStart(4, '0')}`;
}

/** PS3.7 §9.3.1.1 / Annex E: 0101H means no data set follows; any other value means one does. */
export const DATA_SET_TYPE = { Present: 0x0001, Absent: 0x0101 } as const;

// PS3.7 §9.3.1.1: C-STORE/C-FIND priority.
export const PRIORITY = { Medium: 0x0000, High: 0x0001, Low: 0x0002 } as const;

// PS3.7 Annex C: a few status codes every gateway meets.
export const STATUS = {
  Success: 0x0000,
  Cancel: 0xfe00,
  Pending: 0xff00,
  SopClassNotSupported: 0x0122,
  DuplicateSopInstance: 0x0111,
  ProcessingFailure: 0x0110,
  UnrecognizedOperation: 0x0211,
  RefusedOutOfResources: 0xa700,
  DataSetDoesNotMatchSopClass: 0xa900,
  CannotUnderstand: 0xc000,
  CoercionOfDataElements: 0xb000,
} as const;

export type StatusCategory = 'success' | 'warning' | 'failure' | 'cancel' | 'pending';

/** PS3.7 Annex C.1: classify a status code. */
export function statusCategory(status: number): StatusCategory {
  if (status === 0x0000) return 'success';
  if (status === 0xfe00) return 'cancel';
  if (status === 0xff00 || status === 0xff01) return 'pending';
  if (status === 0x0001 || status === 0x0107 || status === 0x0116 || (status >= 0xb000 && status <= 0xbfff)) return 'warning';
  return 'failure';
}

/** Typed command set fields. Only CommandField and CommandDataSetType are present in every command. */
export interface CommandFields {
  commandField: number;
  dataSetType: number;
  messageId?: number;
  messageIdBeingRespondedTo?: number;
  affectedSopClassUid?: string;
  requestedSopClassUid?: string;
  affectedSopInstanceUid?: string;
  requestedSopInstanceUid?: string;
  priority?: number;
  status?: number;
  moveDestination?: string;
  moveOriginatorAeTitle?: string;
  moveOriginatorMessageId?: number;
  errorComment?: string;
  errorId?: number;
  offendingElement?: number;
  eventTypeId?: number;
  actionTypeId?: number;
  remainingSuboperations?: number;
  completedSuboperations?: number;
  failedSuboperations?: number;
  warningSuboperations?: number;
}

export interface CommandSet extends CommandFields {
  hasDataSet: boolean;
  /** Every element as received, element number -> raw value (group length included). */
  elements: Map<number, Buffer>;
}

type Kind = 'us' | 'ui' | 'ae' | 'lo' | 'at';
const FIELDS: ReadonlyArray<readonly [keyof CommandFields, number, Kind]> = [
  ['affectedSopClassUid', COMMAND_TAG.AffectedSopClassUid, 'ui'],
  ['requestedSopClassUid', COMMAND_TAG.RequestedSopClassUid, 'ui'],
  ['commandField', COMMAND_TAG.CommandField, 'us'],
  ['messageId', COMMAND_TAG.MessageId, 'us'],
  ['messageIdBeingRespondedTo', COMMAND_TAG.MessageIdBeingRespondedTo, 'us'],
  ['moveDestination', COMMAND_TAG.MoveDestination, 'ae'],
  ['priority', COMMAND_TAG.Priority, 'us'],
  ['dataSetType', COMMAND_TAG.CommandDataSetType, 'us'],
  ['status', COMMAND_TAG.Status, 'us'],
  ['offendingElement', COMMAND_TAG.OffendingElement, 'at'],
  ['errorComment', COMMAND_TAG.ErrorComment, 'lo'],
  ['errorId', COMMAND_TAG.ErrorId, 'us'],
  ['affectedSopInstanceUid', COMMAND_TAG.AffectedSopInstanceUid, 'ui'],
  ['requestedSopInstanceUid', COMMAND_TAG.RequestedSopInstanceUid, 'ui'],
  ['eventTypeId', COMMAND_TAG.EventTypeId, 'us'],
  ['actionTypeId', COMMAND_TAG.ActionTypeId, 'us'],
  ['remainingSuboperations', COMMAND_TAG.NumberOfRemainingSuboperations, 'us'],
  ['completedSuboperations', COMMAND_TAG.NumberOfCompletedSuboperations, 'us'],
  ['failedSuboperations', COMMAND_TAG.NumberOfFailedSuboperations, 'us'],
  ['warningSuboperations', COMMAND_TAG.NumberOfWarningSuboperations, 'us'],
  ['moveOriginatorAeTitle', COMMAND_TAG.MoveOriginatorApplicationEntityTitle, 'ae'],
  ['moveOriginatorMessageId', COMMAND_TAG.MoveOriginatorMessageId, 'us'],
];

function malformed(message: string): WardgateError {
  return new WardgateError('DIMSE_MALFORMED', message);
}

/**
 * Decode any command set. Unknown group 0000 elements are kept in `elements` only.
 * Throws DIMSE_MALFORMED when CommandField or CommandDataSetType is missing (PS3.7 Annex E).
 */
export function decodeCommand(buf: Buffer): CommandSet {
  const elements = readCommandElements(buf);
  const out: Record<string, unknown> = {};
  for (const [key, tag, kind] of FIELDS) {
    const value = elements.get(tag);
    if (value === undefined) continue;
    out[key] = kind === 'us' ? readUs(value, tag) : kind === 'ui' ? readUi(value, tag) : kind === 'at' ? readAt(value, tag) : readText(value);
  }
  if (out.commandField === undefined) throw malformed(`command set has no CommandField ${tagName(COMMAND_TAG.CommandField)}`);
  if (out.dataSetType === undefined) throw malformed(`command set has no CommandDataSetType ${tagName(COMMAND_TAG.CommandDataSetType)}`);
  const fields = out as unknown as CommandFields;
  return { ...fields, hasDataSet: fields.dataSetType !== DATA_SET_TYPE.Absent, elements };
}

/** Encode typed fields (plus optional raw extra elements) as an implicit VR LE command set. */
export function encodeCommand(fields: CommandFields, extra?: ReadonlyMap<number, Buffer>): Buffer {
  const elements = new Map<number, Buffer>(extra ?? []);
  for (const [key, tag, kind] of FIELDS) {
    const value = fields[key];
    if (value === undefined) continue;
    if (kind === 'us') elements.set(tag, us(value as number, tag));
    else if (kind === 'ui') elements.set(tag, ui(value as string, tag));
    else if (kind === 'ae') elements.set(tag, text(value as string, tag, 16));
    else if (kind === 'lo') elements.set(tag, text(value as string, tag, 64));
    else {
      const b = Buffer.alloc(4);
      b.writeUInt16LE(((value as number) >>> 16) & 0xffff, 0);
      b.writeUInt16LE((value as number) & 0xffff, 2);
      elements.set(tag, b);
    }
  }
  return writeCommandElements(elements);
}

type Required<T, K extends keyof T> = T & { [P in K]-?: NonNullable<T[P]> };

function expect<K extends keyof CommandFields>(cmd: CommandSet, field: number, required: readonly K[]): Required<CommandSet, K> {
  if (cmd.commandField !== field) throw malformed(`expected ${commandName(field)}, got ${commandName(cmd.commandField)}`);
  for (const key of required) {
    if (cmd[key] === undefined) throw malformed(`${commandName(field)} lacks required field ${key}`);
  }
  return cmd as Required<CommandSet, K>;
}

// PS3.7 §9.3.5: C-ECHO.
export type CEchoRq = Required<CommandSet, 'messageId' | 'affectedSopClassUid'>;
export type CEchoRsp = Required<CommandSet, 'messageIdBeingRespondedTo' | 'status'>;

export function encodeCEchoRq(p: { messageId: number; affectedSopClassUid?: string }): Buffer {
  return encodeCommand({
    commandField: COMMAND_FIELD.CEchoRq,
    messageId: p.messageId,
    affectedSopClassUid: p.affectedSopClassUid ?? SOP_CLASS.Verification,
    dataSetType: DATA_SET_TYPE.Absent,
  });
}

export function encodeCEchoRsp(p: { messageIdBeingRespondedTo: number; status?: number; affectedSopClassUid?: string }): Buffer {
  return encodeCommand({
    commandField: COMMAND_FIELD.CEchoRsp,
    messageIdBeingRespondedTo: p.messageIdBeingRespondedTo,
    affectedSopClassUid: p.affectedSopClassUid ?? SOP_CLASS.Verification,
    status: p.status ?? STATUS.Success,
    dataSetType: DATA_SET_TYPE.Absent,
  });
}

export function decodeCEchoRq(buf: Buffer): CEchoRq {
  return expect(decodeCommand(buf), COMMAND_FIELD.CEchoRq, ['messageId', 'affectedSopClassUid']);
}

export function decodeCEchoRsp(buf: Buffer): CEchoRsp {
  return expect(decodeCommand(buf), COMMAND_FIELD.CEchoRsp, ['messageIdBeingRespondedTo', 'status']);
}

// PS3.7 §9.3.1: C-STORE.
export type CStoreRq = Required<CommandSet, 'messageId' | 'affectedSopClassUid' | 'affectedSopInstanceUid' | 'priority'>;
export type CStoreRsp = Required<CommandSet, 'messageIdBeingRespondedTo' | 'status'>;

export function encodeCStoreRq(p: {
  messageId: number;
  affectedSopClassUid: string;
  affectedSopInstanceUid: string;
  priority?: number;
  moveOriginatorAeTitle?: string;
  moveOriginatorMessageId?: number;
}): Buffer {
  return encodeCommand({
    commandField: COMMAND_FIELD.CStoreRq,
    messageId: p.messageId,
    affectedSopClassUid: p.affectedSopClassUid,
    affectedSopInstanceUid: p.affectedSopInstanceUid,
    priority: p.priority ?? PRIORITY.Medium,
    dataSetType: DATA_SET_TYPE.Present,
    moveOriginatorAeTitle: p.moveOriginatorAeTitle,
    moveOriginatorMessageId: p.moveOriginatorMessageId,
  });
}

export function encodeCStoreRsp(p: {
  messageIdBeingRespondedTo: number;
  status: number;
  affectedSopClassUid?: string;
  affectedSopInstanceUid?: string;
  errorComment?: string;
}): Buffer {
  return encodeCommand({
    commandField: COMMAND_FIELD.CStoreRsp,
    messageIdBeingRespondedTo: p.messageIdBeingRespondedTo,
    affectedSopClassUid: p.affectedSopClassUid,
    affectedSopInstanceUid: p.affectedSopInstanceUid,
    status: p.status,
    errorComment: p.errorComment,
    dataSetType: DATA_SET_TYPE.Absent,
  });
}

export function decodeCStoreRq(buf: Buffer): CStoreRq {
  const cmd = expect(decodeCommand(buf), COMMAND_FIELD.CStoreRq, ['messageId', 'affectedSopClassUid', 'affectedSopInstanceUid', 'priority']);
  // PS3.7 §9.3.1.1: a C-STORE-RQ always carries the instance to store.
  if (!cmd.hasDataSet) throw malformed('C-STORE-RQ declares no data set (CommandDataSetType 0101H)');
  return cmd;
}

export function decodeCStoreRsp(buf: Buffer): CStoreRsp {
  return expect(decodeCommand(buf), COMMAND_FIELD.CStoreRsp, ['messageIdBeingRespondedTo', 'status']);
}
