/** Minimal DER walking: enough to slice signed structures without a full ASN.1 decode. */

export interface Tlv { tag: number; start: number; valueStart: number; end: number }

/** Reads the TLV at `offset`; throws on anything that is not definite-length DER inside `buf`. */
export function readTlv(buf: Uint8Array, offset: number): Tlv {
  if (offset + 2 > buf.length) throw new Error('DER: truncated header');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: multi-byte tags are not expected here');
  let len = buf[offset + 1];
  let valueStart = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || valueStart + n > buf.length) throw new Error('DER: bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[valueStart + i];
    valueStart += n;
  }
  const end = valueStart + len;
  if (end > buf.length) throw new Error('DER: value runs past the end');
  return { tag, start: offset, valueStart, end };
}

/** The direct children of a constructed TLV. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let off = parent.valueStart; off < parent.end;) {
    const t = readTlv(buf, off);
    out.push(t);
    off = t.end;
  }
  return out;
}

/** Dotted text of an OBJECT IDENTIFIER's value bytes. */
export function oidText(value: Uint8Array): string {
  const parts: number[] = [];
  let n = 0;
  for (const b of value) {
    n = n * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      if (parts.length === 0) parts.push(n < 80 ? Math.floor(n / 40) : 2, n < 80 ? n % 40 : n - 80);
      else parts.push(n);
      n = 0;
    }
  }
  return parts.join('.');
}
