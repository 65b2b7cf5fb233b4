/**
 * Text a peer sent (a device's certificate name, a target's stderr, a reproducer file), made safe to
 * print: a terminal executes control characters (ESC sequences retitle the window, clear the screen,
 * hide lines) and bidirectional overrides reorder what is shown, so every C0/C1 control character,
 * DEL, line/paragraph separator and directional mark or override is shown as an escape instead.
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
