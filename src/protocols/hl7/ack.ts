/**
 * Original-mode acknowledgments (HL7 v2.5 §2.9.2, §2.14.8 MSA, §2.14.5 ERR): build an ACK for a
 * received message and read the ACK a peer returns.
 */
import { randomBytes } from 'node:crypto';
import { WardgateError } from '../../errors.ts';
import { type Msh, parseMsh } from './msh.ts';
import { type EncodingCharacters, escapeText, splitComponents, splitSegments, unescapeText } from './segments.ts';

// HL7 Table 0008: acknowledgment codes (original mode A*, enhanced mode C*).
export const ACK_CODES = ['AA', 'AE', 'AR', 'CA', 'CE', 'CR'] as const;
export type AckCode = (typeof ACK_CODES)[number];

// HL7 Table 0357: message error condition codes.
export const HL7_ERROR = {
  SegmentSequenceError: '100',
  RequiredFieldMissing: '101',
  DataTypeError: '102',
  TableValueNotFound: '103',
  UnsupportedMessageType: '200',
  UnsupportedEventCode: '201',
  UnsupportedProcessingId: '202',
  UnsupportedVersionId: '203',
  UnknownKeyIdentifier: '204',
  DuplicateKeyIdentifier: '205',
  ApplicationRecordLocked: '206',
  ApplicationInternalError: '207',
} as const;

const HL7_ERROR_TEXT: Record<string, string> = {
  '100': 'Segment sequence error', '101': 'Required field missing', '102': 'Data type error',
  '103': 'Table value not found', '200': 'Unsupported message type', '201': 'Unsupported event code',
  '202': 'Unsupported processing id', '203': 'Unsupported version id', '204': 'Unknown key identifier',
  '205': 'Duplicate key identifier', '206': 'Application record locked', '207': 'Application internal error',
};

export interface AckOptions {
  code?: AckCode;
  /** Reason text for an error ACK: ERR-8 from v2.5, MSA-3 before v2.7 (see buildAck). */
  text?: string;
  /** HL7 Table 0357 code for the ERR segment (v2.3.1+ error ACKs); default 207, application internal error. */
  errorCode?: string;
  /** MSH-10 of the ACK; default a random ID. */
  controlId?: string;
  /** MSH-7 of the ACK; default now. */
  dateTime?: Date;
}

function versionAtLeast(version: string, encoding: EncodingCharacters, wanted: number[]): boolean {
  const parts = splitComponents(version, encoding)[0].split('.').map((p) => Number.parseInt(p, 10));
  for (let i = 0; i < wanted.length; i++) {
    const have = Number.isFinite(parts[i]) ? parts[i] : 0;
    if (have !== wanted[i]) return have > wanted[i];
  }
  return true;
}

function hl7Timestamp(date: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(date.getUTCFullYear(), 4)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}+0000`;
}

/**
 * Build the ACK for `original`: sender and receiver swapped, MSH-9 ACK^<trigger>^ACK (the
 * structure component exists from v2.3.1), MSA echoing the original control ID and, for error
 * codes, the reason where the message's version (MSH-12) puts it (see errorSegments). Segments end with CR.
 */
export function buildAck(original: Msh | string | Buffer, options: AckOptions = {}): string {
  const msh = typeof original === 'string' || Buffer.isBuffer(original) ? parseMsh(original) : original;
  const enc = msh.encoding;
  const code = options.code ?? 'AA';
  if (!ACK_CODES.includes(code)) throw new WardgateError('HL7_MESSAGE_INVALID', `acknowledgment code ${JSON.stringify(code)} is not in HL7 Table 0008`);
  const controlId = options.controlId ?? `WG${randomBytes(8).toString('hex')}`;
  const c = enc.component;
  const trigger = msh.messageType.trigger;
  const messageType = versionAtLeast(msh.version, enc, [2, 3, 1]) ? `ACK${c}${trigger}${c}ACK` : trigger ? `ACK${c}${trigger}` : 'ACK';
  const encodingField = `${enc.component}${enc.repetition}${enc.escape}${enc.subcomponent}${enc.truncation ?? ''}`;
  const mshFields = [
    'MSH', encodingField,
    msh.receivingApplication, msh.receivingFacility, msh.sendingApplication, msh.sendingFacility,
    hl7Timestamp(options.dateTime ?? new Date()), '',
    messageType, escapeText(controlId, enc), msh.processingId, msh.version,
  ];
  // HL7 v2.5 §2.14.9.18: MSH-18 names the character set of the whole message, ASCII when empty. The
  // ACK echoes the original's MSH-3..6 bytes, so it declares the same set the sender wrote them in.
  const charset = msh.fields[18] ?? '';
  if (charset) mshFields.push('', '', '', '', '', charset);
  const segments = [mshFields.join(enc.field)];
  if (code === 'AA' || code === 'CA') segments.push(['MSA', code, msh.controlId].join(enc.field));
  else segments.push(...errorSegments(msh, code, options));
  return segments.map((s) => `${s}\r`).join('');
}

/**
 * MSA and ERR of an error ACK, as the message's version defines them (HL7 v2.5 §2.14.8 MSA, §2.14.5 ERR):
 * - MSA-3 (Text Message) carries the reason up to v2.6. It is deprecated from v2.4 and withdrawn in
 *   v2.7, whose receivers may treat a valued MSA-3 as an error: from v2.7 it stays empty.
 * - v2.5+: ERR-3 (HL7 Error Code, CWE of Table 0357), ERR-4 (Severity, Table 0516: E) and ERR-8 (User
 *   Message); ERR-1 stays empty (backward compatible only in v2.5, withdrawn in v2.7).
 * - v2.3.1 to v2.4: ERR-1 (Error Code and Location, ELD) is the only field; its 4th component is the
 *   Table 0357 code as CE, written with subcomponents. The location (components 1-3) is left empty:
 *   the gateway refuses the message as a whole, not one field of it.
 * - Before v2.3.1 Table 0357 does not exist (its codes were added in v2.3.1), so there is no standard
 *   code for ERR-1: MSA-3 alone carries the reason.
 */
function errorSegments(msh: Msh, code: AckCode, options: AckOptions): string[] {
  const enc = msh.encoding;
  const c = enc.component;
  const s = enc.subcomponent;
  const text = options.text === undefined ? '' : escapeText(options.text, enc);
  const errorCode = escapeText(options.errorCode ?? HL7_ERROR.ApplicationInternalError, enc);
  const errorText = escapeText(HL7_ERROR_TEXT[options.errorCode ?? HL7_ERROR.ApplicationInternalError] ?? '', enc);
  const msa = ['MSA', code, msh.controlId];
  if (text && !versionAtLeast(msh.version, enc, [2, 7])) msa.push(text);
  const out = [msa.join(enc.field)];
  if (versionAtLeast(msh.version, enc, [2, 5])) {
    const err = ['ERR', '', '', `${errorCode}${c}${errorText}${c}HL70357`, 'E', '', '', '', text];
    while (err[err.length - 1] === '') err.pop();
    out.push(err.join(enc.field));
  } else if (versionAtLeast(msh.version, enc, [2, 3, 1])) {
    out.push(['ERR', `${c}${c}${c}${errorCode}${s}${errorText}${s}HL70357`].join(enc.field));
  }
  return out;
}

/** HL7 Table 0155: when MSH-15/MSH-16 ask for an acknowledgment. */
type AckCondition = 'AL' | 'NE' | 'ER' | 'SU';

function condition(value: string | undefined): AckCondition {
  const v = (value ?? '').trim().toUpperCase();
  // Enhanced mode requires both fields (HL7 v2.5 §2.14.9.15-16); empty or unknown asks for all ACKs.
  return v === 'NE' || v === 'ER' || v === 'SU' ? v : 'AL';
}

/** HL7 v2.5 §2.9.3: MSH-15 or MSH-16 valued selects enhanced mode; both empty is original mode. */
export function isEnhancedMode(msh: Msh): boolean {
  return (msh.fields[15] ?? '') !== '' || (msh.fields[16] ?? '') !== '';
}

/**
 * Whether the receiver answers every message at once on the connection: original mode (the ACK,
 * §2.9.2) or enhanced mode with MSH-15 AL (the accept ACK, §2.9.3). With ER, SU or NE an accept ACK
 * comes only on error, on success or never, and an application ACK (MSH-16) may follow at any time.
 */
export function expectsAcceptAcknowledgment(msh: Msh): boolean {
  return !isEnhancedMode(msh) || condition(msh.fields[15]) === 'AL';
}

/** Enhanced mode with MSH-15 and MSH-16 both NE: the sender waits for no acknowledgment at all. */
export function wantsNoAcknowledgment(msh: Msh): boolean {
  return isEnhancedMode(msh) && condition(msh.fields[15]) === 'NE' && condition(msh.fields[16]) === 'NE';
}

/**
 * The code of the acknowledgment owed for a message refused before the receiving application saw
 * it, or undefined when the sender asked not to be told.
 * - Original mode (HL7 v2.5 §2.9.2): AR.
 * - Enhanced mode (§2.9.3): the refusal happens at accept level, so CR when MSH-15 asks for accept
 *   ACKs on errors (AL, ER). Otherwise (NE, SU) the sender still learns of it through MSH-16: the
 *   message will never reach the application, so its application ACK is AR when MSH-16 asks for
 *   error ACKs (AL, ER). With neither, no acknowledgment is sent: the refusal is audited only.
 */
export function refusalAckCode(msh: Msh): AckCode | undefined {
  if (!isEnhancedMode(msh)) return 'AR';
  const accept = condition(msh.fields[15]);
  if (accept === 'AL' || accept === 'ER') return 'CR';
  const application = condition(msh.fields[16]);
  if (application === 'AL' || application === 'ER') return 'AR';
  return undefined;
}

export interface ParsedAck {
  code: AckCode;
  /** MSA-2: the control ID of the message acknowledged. */
  controlIdReferenced: string;
  /** MSA-3, else the first ERR-8 (v2.7+), unescaped; empty if neither. */
  text: string;
  /** ERR-3.1 (v2.5+) or ERR-1.4.1 (v2.3.1-v2.4) codes, one per ERR segment that has one. */
  errorCodes: string[];
  msh: Msh;
}

/** Read an ACK. Throws HL7_MESSAGE_INVALID without a valid MSH and MSA. */
export function parseAck(message: string | Buffer): ParsedAck {
  const text = typeof message === 'string' ? message : message.toString('latin1');
  const segments = splitSegments(text);
  const msh = parseMsh(text);
  const enc = msh.encoding;
  const msaSegment = segments.find((s) => s.startsWith(`MSA${enc.field}`));
  if (!msaSegment) throw new WardgateError('HL7_MESSAGE_INVALID', 'acknowledgment has no MSA segment');
  const msa = msaSegment.split(enc.field);
  const code = msa[1] as AckCode;
  if (!ACK_CODES.includes(code)) throw new WardgateError('HL7_MESSAGE_INVALID', `MSA-1 (Acknowledgment Code) ${JSON.stringify(msa[1])} is not in HL7 Table 0008`);
  const controlIdReferenced = msa[2] ?? '';
  if (!controlIdReferenced) throw new WardgateError('HL7_MESSAGE_INVALID', 'MSA-2 (Message Control ID) is missing');
  const errs = segments.filter((s) => s.startsWith(`ERR${enc.field}`)).map((s) => s.split(enc.field));
  // ERR-3.1 (v2.5+), or the first subcomponent of ERR-1.4 (ELD, v2.3.1-v2.4).
  const errorCodes = errs
    .map((f) => splitComponents(f[3] ?? '', enc)[0] || (splitComponents(f[1] ?? '', enc)[3] ?? '').split(enc.subcomponent)[0])
    .filter((v) => v.length > 0)
    .map((v) => unescapeText(v, enc));
  // MSA-3, or from v2.7 (where MSA-3 is withdrawn) the first ERR-8 User Message.
  const reason = msa[3] || errs.map((f) => f[8] ?? '').find((v) => v.length > 0) || '';
  return { code, controlIdReferenced, text: unescapeText(reason, enc), errorCodes, msh };
}
