import { randomBytes } from 'node:crypto';

/**
 * 128 random bits (CA/B BR §7.1 asks for at least 64 bits of CSPRNG output). Hex without a leading zero
 * byte; when the top bit is set DER needs a 0x00 pad so the INTEGER stays positive (RFC 5280 §4.1.2.2).
 */
export function newSerial(): { hex: string; der: string } {
  const bytes = randomBytes(16);
  if (bytes[0] === 0) bytes[0] = 1; // keeps every serial exactly 128 bits long, so hex forms compare as strings
  const hex = bytes.toString('hex');
  return { hex, der: bytes[0] & 0x80 ? `00${hex}` : hex };
}

/** Normalizes a serial typed by a person or read from a certificate: lower-case, no colons, no pad byte. */
export function normalizeSerial(text: string): string {
  return text.trim().toLowerCase().replace(/[:\s]/g, '').replace(/^(00)+(?=[0-9a-f])/, '');
}
