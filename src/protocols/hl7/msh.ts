/**
 * The MSH segment of an HL7 v2 message (HL7 v2.5 §2.14.9): delimiters, routing fields, message
 * type, control ID, processing ID and version.
 */
import { WardgateError } from '../../errors.ts';
import { type EncodingCharacters, splitComponents, splitSegments } from './segments.ts';

export interface MessageType {
  /** MSH-9.1, e.g. ADT. */
  code: string;
  /** MSH-9.2, e.g. A01. */
  trigger: string;
  /** MSH-9.3, e.g. ADT_A01 (empty before v2.3.1). */
  structure: string;
}

/** Field values are as sent: components and escape sequences are left intact. */
export interface Msh {
  encoding: EncodingCharacters;
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  dateTime: string;
  messageType: MessageType;
  controlId: string;
  processingId: string;
  version: string;
  /** fields[n] is MSH-n; fields[0] is the segment ID "MSH". */
  fields: string[];
}

function invalid(message: string): WardgateError {
  return new WardgateError('HL7_MESSAGE_INVALID', message);
}

/** A delimiter must be printable ASCII punctuation: letters, digits, spaces and controls would be read as data. */
function isDelimiter(ch: string): boolean {
  return /^[!-\/:-@\[-`{-~]$/.test(ch);
}

function readEncoding(segment: string): EncodingCharacters {
  const field = segment[3];
  if (field === undefined || !isDelimiter(field)) {
    throw invalid(`MSH-1 (Field Separator) ${JSON.stringify(field ?? '')} is not a printable delimiter character`);
  }
  const end = segment.indexOf(field, 4);
  const chars = segment.slice(4, end < 0 ? segment.length : end);
  // HL7 v2.5 §2.14.9.2: four characters; v2.7 §2.14.9.2 allows a fifth (truncation).
  if (chars.length < 4 || chars.length > 5) {
    throw invalid(`MSH-2 (Encoding Characters) ${JSON.stringify(chars)} must be 4 or 5 characters`);
  }
  const all = [field, ...chars];
  for (const ch of chars) {
    if (!isDelimiter(ch)) throw invalid(`MSH-2 (Encoding Characters) contains ${JSON.stringify(ch)}, not a delimiter character`);
  }
  if (new Set(all).size !== all.length) throw invalid(`MSH-1/MSH-2 delimiters ${JSON.stringify(all.join(''))} are not distinct`);
  const [component, repetition, escape, subcomponent, truncation] = chars;
  return truncation === undefined
    ? { field, component, repetition, escape, subcomponent }
    : { field, component, repetition, escape, subcomponent, truncation };
}

function required(fields: string[], n: number, name: string, value = fields[n] ?? ''): string {
  if (value.length === 0) throw invalid(`MSH-${n} (${name}) is missing`);
  return value;
}

/**
 * Parse the MSH segment of a message. A Buffer is read as latin1 so that every byte maps to one
 * character and nothing is lost before MSH-18 (Character Set) is known.
 * Throws HL7_MESSAGE_INVALID when the first segment is not MSH or a required field is empty.
 */
export function parseMsh(message: string | Buffer): Msh {
  const text = typeof message === 'string' ? message : message.toString('latin1');
  const first = splitSegments(text)[0];
  if (first === undefined) throw invalid('message is empty');
  if (!first.startsWith('MSH')) throw invalid(`message starts with segment ${JSON.stringify(first.slice(0, 3))}, not MSH`);
  return parseMshSegment(first);
}

export function parseMshSegment(segment: string): Msh {
  if (!segment.startsWith('MSH')) throw invalid(`segment ${JSON.stringify(segment.slice(0, 3))} is not MSH`);
  const encoding = readEncoding(segment);
  // MSH-1 is the separator itself, so MSH-n is the (n-1)th piece of the split.
  const pieces = segment.split(encoding.field);
  const fields = ['MSH', encoding.field, ...pieces.slice(1)];
  const type = splitComponents(required(fields, 9, 'Message Type'), encoding);
  return {
    encoding,
    sendingApplication: fields[3] ?? '',
    sendingFacility: fields[4] ?? '',
    receivingApplication: fields[5] ?? '',
    receivingFacility: fields[6] ?? '',
    dateTime: fields[7] ?? '',
    messageType: {
      code: required(fields, 9, 'Message Type', type[0]),
      trigger: type[1] ?? '',
      structure: type[2] ?? '',
    },
    controlId: required(fields, 10, 'Message Control ID'),
    processingId: required(fields, 11, 'Processing ID'),
    version: required(fields, 12, 'Version ID'),
    fields,
  };
}
