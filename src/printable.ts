/** C0/C1 controls, DEL, line/paragraph separators and bidirectional marks and overrides. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text a peer sent (a device's certificate name, a target's stderr, a reproducer file), made safe to
 * print: a terminal executes control characters (ESC sequences retitle the window, clear the screen,
 * hide lines) and bidirectional overrides reorder what is shown, so every C0/C1 control character,
 * DEL, line/paragraph separator and directional mark or override is shown as an escape instead.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** printable() for multi-line output (a client's stdout echoed to the terminal): line feeds are kept. */
export function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}

/** What printable() escapes beyond C0: JSON.stringify already escapes C0 inside strings (RFC 8259 §7). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON text from JSON.stringify with every other character printable() escapes written as a \uXXXX
 * escape: JSON.stringify leaves DEL, C1 controls (U+009B is CSI) and bidi overrides raw, so a report
 * viewed with `cat` could drive the terminal. Such characters only occur inside strings (the text
 * between tokens is ASCII whitespace), so the result parses to the same value.
 */
export function printableJson(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
