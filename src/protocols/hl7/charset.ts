/**
 * The character set of an HL7 v2 message (HL7 v2.5 §2.14.9.18 MSH-18, HL7 Table 0211) and how a
 * receiver that honours it reads the message.
 *
 * The gateway reads a message byte by byte (latin1), which is also how any receiver has to find
 * MSH-18 before it can decode. For ASCII, the ISO 8859 sets and UTF-8 that byte view splits exactly
 * like the decoded text, because no byte of a multi-byte character is below 0x80. BIG-5, GB 18030,
 * Shift_JIS and ISO 2022 (ISO IR87/IR159, and any ESC switch of §2.15.9.18's code extension) put
 * bytes 0x21-0x7E inside characters: a second byte 0x7C is `|` to the gateway and part of a CJK
 * character to the receiver, so the two would see different fields. (UTF-16/UTF-32, "UNICODE",
 * cannot be read as bytes at all: such a payload has no MSH the gateway accepts.)
 */
import { type Msh, parseMsh } from './msh.ts';
import { type EncodingCharacters, headerSegments, splitComponents } from './segments.ts';

/** HL7 Table 0211 value -> WHATWG encoding label (TextDecoder). */
const TABLE_0211: Record<string, string> = {
  'ASCII': 'windows-1252',
  '8859/1': 'iso-8859-1', '8859/2': 'iso-8859-2', '8859/3': 'iso-8859-3', '8859/4': 'iso-8859-4', '8859/5': 'iso-8859-5',
  '8859/6': 'iso-8859-6', '8859/7': 'iso-8859-7', '8859/8': 'iso-8859-8', '8859/9': 'iso-8859-9', '8859/15': 'iso-8859-15',
  'UNICODE UTF-8': 'utf-8',
  'BIG-5': 'big5',
  'GB 18030': 'gb18030',
  'ISO IR58': 'gbk',
  'KS X 1001': 'euc-kr',
  'ISO IR87': 'iso-2022-jp',
  'ISO IR159': 'iso-2022-jp',
};

const ESC = 0x1b;

/** Decoders by label, made once: only labels TextDecoder knows are kept, so peers cannot grow it. */
const decoders = new Map<string, TextDecoder>();

function decoderFor(value: string): TextDecoder | undefined {
  const label = TABLE_0211[value.trim().toUpperCase()] ?? value.trim();
  if (!label) return undefined;
  let decoder = decoders.get(label);
  if (decoder) return decoder;
  try {
    decoder = new TextDecoder(label);
  } catch {
    // Neither an HL7 Table 0211 value nor a label TextDecoder knows: only the byte view exists.
    return undefined;
  }
  decoders.set(label, decoder);
  return decoder;
}

export interface DecodedView {
  /** The MSH-18 value (or `ESC` for an undeclared ISO 2022 switch) this view decodes with. */
  charset: string;
  text: string;
}

/**
 * Why `value` cannot be a receiver's fixed character set, or undefined when it can: it must be an HL7
 * Table 0211 value or a WHATWG encoding label, and one whose text can be read byte by byte, since
 * the gateway finds MSH in the bytes (UTF-16/UTF-32 cannot be; "replacement" decodes nothing).
 */
export function unusableCharset(value: string): string | undefined {
  const decoder = decoderFor(value);
  if (!decoder) return `${JSON.stringify(value)} is neither an HL7 Table 0211 value (e.g. "UNICODE UTF-8", "8859/1", "ISO IR87") nor a known encoding label (e.g. "shift_jis")`;
  if (/^utf-16|^utf-32|^replacement$/.test(decoder.encoding)) return `${JSON.stringify(value)} (${decoder.encoding}) is not a byte-oriented character set an MLLP receiver can find MSH in`;
  return undefined;
}

/**
 * MSH-18 as a receiver that ends segments at CR only reads it (HL7 v2.5 §2.5; python-hl7's `parse`).
 * The gateway's MSH ends at the first CR or LF (splitSegments), so after an LF that receiver's MSH
 * runs on, and its 18th field may lie beyond the gateway's MSH: a character set the gateway never
 * decoded with, in which delimiter bytes inside characters move MSH-9 (`...|ADT^A01|ORU^R01|P|2.5 LF
 * ||||||BIG-5 CR` is ADT^A01 to the gateway and ORU^R01 to a BIG-5 receiver). Each repetition is
 * also taken up to an LF, as a receiver that trims the value would.
 */
function crOnlyCharsets(payload: Buffer, msh: Msh): string[] {
  const text = payload.toString('latin1').replace(/^[\r\n]+/, '');
  const end = text.indexOf('\r');
  const field = (end < 0 ? text : text.slice(0, end)).split(msh.encoding.field)[17] ?? '';
  return field.split(msh.encoding.repetition).flatMap((value) => {
    const name = splitComponents(value, msh.encoding)[0];
    return [name, name.split('\n')[0]];
  });
}

/**
 * The texts receivers may read `payload` as, beyond the latin1 byte view: decoded with each
 * repetition of MSH-18 that names a known character set, as the gateway and as a receiver ending
 * segments at CR only find MSH-18 (see crOnlyCharsets; the first is the message's default, the
 * others are reached by ISO 2022 escape sequences, §2.15.9.18), and as ISO 2022 whenever the payload
 * holds an ESC byte, since that is how such a switch is spelled. Invalid bytes decode to U+FFFD.
 * `receiverDefault` is the set the receiver reads when the first repetition of MSH-18 is empty
 * (HL7 says ASCII; a receiver fixed to another set, e.g. a Japanese lab system, reads that instead).
 */
export function decodedViews(payload: Buffer, msh: Msh, receiverDefault?: string): DecodedView[] {
  const views: DecodedView[] = [];
  const seen = new Set<string>();
  const add = (charset: string, decoder: TextDecoder | undefined) => {
    if (!decoder || seen.has(decoder.encoding)) return;
    seen.add(decoder.encoding);
    views.push({ charset, text: decoder.decode(payload) });
  };
  const declared = (msh.fields[18] ?? '').split(msh.encoding.repetition);
  for (const [i, value] of declared.entries()) {
    const name = splitComponents(value, msh.encoding)[0];
    if (i === 0 && name.trim() === '' && receiverDefault) add(receiverDefault, decoderFor(receiverDefault));
    else add(name, decoderFor(name));
  }
  for (const name of crOnlyCharsets(payload, msh)) add(name, decoderFor(name));
  if (payload.includes(ESC)) add('ESC', decoderFor('ISO IR87'));
  return views;
}

/**
 * The message's structure: its delimiters (HL7 v2.5 §2.5.4) and segment terminators in order. Two
 * readings with the same structure split into the same segments, fields and components, and every
 * ASCII-only field reads the same in both.
 */
export function structureOf(text: string, encoding: EncodingCharacters): string {
  const delimiters = new Set([encoding.field, encoding.component, encoding.repetition, encoding.escape, encoding.subcomponent, '\r', '\n']);
  if (encoding.truncation) delimiters.add(encoding.truncation);
  let out = '';
  for (const ch of text) if (delimiters.has(ch)) out += ch;
  return out;
}

/** MSH-3/MSH-4 are HD (HL7 v2.5 §2.A.33): the namespace ID (first component) and the whole HD, `^`-joined. */
export function hierarchicDesignator(value: string, encoding: EncodingCharacters): { first: string; full: string } {
  const parts = splitComponents(value, encoding);
  while (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  return { first: parts[0] ?? '', full: parts.join('^') };
}

/** Why a message reads differently to a receiver that honours MSH-18 and to one that reads bytes. */
export interface AmbiguousReading { reason: string; text: string }

/**
 * The MSH a receiver reads (HL7 v2.5 §2.14.9.18: it decodes by MSH-18 before it splits), or why the
 * message is ambiguous: where a multi-byte set puts delimiter bytes inside characters the decoded
 * message has other fields than the bytes; and where one reading of a routing field (MSH-3/4/9) is
 * plain ASCII and the other differs (ISO 2022 escapes vanish when decoded: `L ESC ( B AB` is LAB to
 * one receiver and not to another), the two readings could name different senders. Non-ASCII names
 * (UTF-8, BIG-5) read as bytes are no rule's ASCII name, so those are judged decoded. Without
 * MSH-18 the receiver reads `receiverDefault` (the route's hl7.defaultCharset), judged the same way.
 */
export function receiverReading(payload: Buffer, bytes: string, msh: Msh, receiverDefault?: string): { msh: Msh } | AmbiguousReading {
  const views = decodedViews(payload, msh, receiverDefault);
  if (views.length === 0) return { msh };
  const structure = structureOf(bytes, msh.encoding);
  const split = views.find((v) => structureOf(v.text, msh.encoding) !== structure || headerSegments(v.text).length !== 1);
  if (split) return { reason: `read as ${split.charset} the message splits into other segments or fields than its bytes do`, text: `delimiters inside ${split.charset} characters` };
  const declared = views[0];
  if (declared.charset === 'ESC') return { msh };
  let decoded: Msh;
  try {
    decoded = parseMsh(declared.text);
  } catch (err) {
    return { reason: `read as ${declared.charset} the MSH is invalid: ${(err as Error).message}`, text: `MSH invalid in ${declared.charset}` };
  }
  const routing = (m: Msh) => [hierarchicDesignator(m.sendingApplication, m.encoding).full, hierarchicDesignator(m.sendingFacility, m.encoding).full, m.messageType.code, m.messageType.trigger];
  const ascii = (v: string) => /^[\x00-\x7f]*$/.test(v);
  const fromBytes = routing(msh);
  if (routing(decoded).some((v, i) => v !== fromBytes[i] && (ascii(v) || ascii(fromBytes[i])))) {
    return { reason: `read as ${declared.charset} the routing fields (MSH-3/4/9) name other values than their bytes`, text: `routing fields differ in ${declared.charset}` };
  }
  return { msh: decoded };
}
