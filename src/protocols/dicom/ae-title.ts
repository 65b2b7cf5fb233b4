/**
 * Application Entity titles (PS3.5 §6.2 VR "AE"; PS3.8 §9.3.2 called/calling AE title fields).
 */

/** PS3.5 §6.2: an AE title is at most 16 bytes. */
export const MAX_AE_TITLE_LENGTH = 16;

export type AeTitleCheck = { ok: true; value: string } | { ok: false; reason: string };

/**
 * Validate and normalise an AE title. Leading and trailing spaces are not significant (PS3.5 §6.2),
 * so they are trimmed; the value must then be 1..16 characters of the default character repertoire
 * (ISO 646 G0, 0x20..0x7E) without backslash, the multi-value delimiter. A title of only spaces is
 * not allowed (PS3.8 §9.3.2).
 */
export function checkAeTitle(input: string): AeTitleCheck {
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return { ok: false, reason: `character 0x${c.toString(16).padStart(2, '0')} at offset ${i} is outside the default character repertoire` };
    if (c === 0x5c) return { ok: false, reason: `backslash at offset ${i} is not allowed in an AE title` };
  }
  const value = input.trim();
  if (value.length === 0) return { ok: false, reason: 'AE title is empty or only spaces' };
  if (value.length > MAX_AE_TITLE_LENGTH) return { ok: false, reason: `AE title is ${value.length} characters, the maximum is ${MAX_AE_TITLE_LENGTH}` };
  return { ok: true, value };
}

export function isValidAeTitle(input: string): boolean {
  return checkAeTitle(input).ok;
}

/** The 16-byte space-padded form used in PDU fixed fields (PS3.8 §9.3.2); undefined when invalid. */
export function aeTitleField(input: string): Buffer | undefined {
  const check = checkAeTitle(input);
  if (!check.ok) return undefined;
  return Buffer.from(check.value.padEnd(MAX_AE_TITLE_LENGTH, ' '), 'latin1');
}

/**
 * Read a 16-byte AE title field. Trailing NULs are treated like spaces: some legacy stacks pad with
 * them, and they carry no meaning.
 */
export function readAeTitleField(field: Buffer): AeTitleCheck {
  let end = field.length;
  while (end > 0 && (field[end - 1] === 0 || field[end - 1] === 0x20)) end--;
  return checkAeTitle(field.toString('latin1', 0, end));
}
