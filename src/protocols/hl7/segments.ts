/**
 * HL7 v2 message structure (HL7 v2.5 §2.5-§2.7): segments, encoding characters and escape sequences.
 */

export interface EncodingCharacters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
  /** HL7 v2.7 §2.5.5.6: optional fifth encoding character. */
  truncation?: string;
}

/** HL7 v2.5 §2.5.4: the recommended delimiters `|^~\&`. */
export const DEFAULT_ENCODING: Readonly<EncodingCharacters> = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

/**
 * Split a message into segments. HL7 v2.5 §2.5 terminates segments with CR; LF and CR LF are
 * tolerated because files and some interface engines use them. Empty lines are dropped.
 */
export function splitSegments(message: string): string[] {
  return message.split(/\r\n|\r|\n/).filter((segment) => segment.length > 0);
}

/**
 * Every line break some receiver splits a message at: CR (HL7 v2.5 §2.5), LF and CR LF (tolerated
 * above), and what general-purpose line splitters also break on (Python's str.splitlines, used by
 * python-hl7's parse_batch: VT, FF, FS, GS, RS, NEL, U+2028, U+2029), both as characters and as the
 * UTF-8 bytes read as latin1.
 */
const ANY_LINE_BREAK = /\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]|\xe2\x80[\xa8\xa9]/;
/** What receivers strip before a segment ID: whitespace, controls, no-break space, a BOM (also as UTF-8 bytes). */
const LEADING_JUNK = /^(?:[\x00-\x20\x7f-\xa0\ufeff]|\xef\xbb\xbf)+/;
/** Segments that begin a message, a batch or a file, or end one (HL7 v2.5 §2.14.9 MSH, §2.10.3 BHS/BTS/FHS/FTS). */
const HEADER_SEGMENT = /^(MSH|BHS|BTS|FHS|FTS)/;

/**
 * The header segments (MSH, BHS, BTS, FHS, FTS) of a message, in order, as the most liberal receiver
 * would find them: lines split at any line break, leading whitespace and controls ignored. One MLLP
 * frame carries one message (HL7 v2 Implementation Guide, Appendix C), so a well-formed payload has
 * exactly one, its MSH; any other is a second message or a batch a receiver may process on its own.
 */
export function headerSegments(message: string): string[] {
  const out: string[] = [];
  for (const line of message.split(ANY_LINE_BREAK)) {
    const m = HEADER_SEGMENT.exec(line.replace(LEADING_JUNK, ''));
    if (m) out.push(m[1]);
  }
  return out;
}

/** Split a field into its components (HL7 v2.5 §2.5.3). */
export function splitComponents(field: string, encoding: EncodingCharacters = DEFAULT_ENCODING): string[] {
  return field.split(encoding.component);
}

function escapeCodes(encoding: EncodingCharacters): Array<[string, string]> {
  // HL7 v2.5 §2.7.1 (v2.7 adds \P\ for the truncation character).
  const codes: Array<[string, string]> = [
    ['F', encoding.field],
    ['S', encoding.component],
    ['T', encoding.subcomponent],
    ['R', encoding.repetition],
    ['E', encoding.escape],
  ];
  if (encoding.truncation) codes.push(['P', encoding.truncation]);
  return codes;
}

/** Replace delimiter characters in text with their escape sequences (HL7 v2.5 §2.7.1). */
export function escapeText(text: string, encoding: EncodingCharacters = DEFAULT_ENCODING): string {
  const byChar = new Map(escapeCodes(encoding).map(([code, ch]) => [ch, `${encoding.escape}${code}${encoding.escape}`]));
  let out = '';
  for (const ch of text) out += byChar.get(ch) ?? ch;
  return out;
}

/**
 * Resolve the delimiter escape sequences \F\ \S\ \T\ \R\ \E\ (and \P\). Other sequences
 * (\H\, \N\, \Xhh\, \.br\, ...) carry formatting or charset switches that only the receiving
 * application can interpret, so they are left verbatim; an unterminated escape is literal text.
 */
export function unescapeText(text: string, encoding: EncodingCharacters = DEFAULT_ENCODING): string {
  const esc = encoding.escape;
  if (!text.includes(esc)) return text;
  const byCode = new Map(escapeCodes(encoding));
  let out = '';
  let pos = 0;
  while (pos < text.length) {
    const start = text.indexOf(esc, pos);
    if (start < 0) break;
    const end = text.indexOf(esc, start + 1);
    if (end < 0) break;
    out += text.slice(pos, start);
    const replacement = byCode.get(text.slice(start + 1, end));
    out += replacement ?? text.slice(start, end + 1);
    pos = end + 1;
  }
  return out + text.slice(pos);
}
