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
