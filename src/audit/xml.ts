/** Minimal XML writing for audit messages: escaping and attribute lists, no pretty-printing (one line per record). */
const ENTITIES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' };

/**
 * What peer text (AE titles, HL7 fields read as latin1, certificate subjects) may hold that would break
 * the record, in one pass:
 * - characters XML 1.0 forbids (§2.2 Char: C0 controls but TAB/LF/CR, lone surrogates, U+FFFE, U+FFFF):
 *   one makes the whole record not well-formed, so a collector or SIEM rejects it;
 * - line breaks: TAB, LF, CR, NEL (U+0085), U+2028/U+2029 (what line readers such as Python's
 *   splitlines() or HL7 receivers split at, see hl7/segments.ts) would cut the file sink's one-line record;
 * - DEL, C1 controls (U+009B is CSI) and bidirectional marks/overrides, which drive or reorder a
 *   terminal showing the file (as printable.ts guards against).
 */
const UNSAFE = /[<>&"'\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** XML 1.0 §2.2 Char: the C0 controls other than TAB, LF and CR. */
const C0_FORBIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

/**
 * Escape `value` for an attribute (`quotes`) or text content. A character XML allows is kept exactly,
 * as a character reference where it is unsafe raw (a parser reads back the same value; attribute
 * normalisation would turn a raw TAB/LF/CR into a space). A character XML forbids cannot be written at
 * all, not even as a reference: it becomes U+FFFD, visibly, rather than vanishing (dropped, "CT1\0"
 * would read as the AE title "CT1").
 */
export function escapeXml(value: string, quotes = true): string {
  return value.replace(UNSAFE, (c) => {
    if (ENTITIES[c]) return quotes || (c !== '"' && c !== "'") ? ENTITIES[c] : c;
    const code = c.charCodeAt(0);
    if (C0_FORBIDDEN.test(c) || (code >= 0xd800 && code <= 0xdfff) || code >= 0xfffe) return '\ufffd';
    return `&#${code};`;
  });
}

export function element(name: string, attrs: Record<string, string | number | boolean | undefined>, children = ''): string {
  const list = Object.entries(attrs).filter(([, v]) => v !== undefined).map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`).join('');
  return children ? `<${name}${list}>${children}</${name}>` : `<${name}${list}/>`;
}
