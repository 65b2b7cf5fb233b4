import { children, oidText, readTlv, type Tlv } from './der-reader.ts';
import { bytesToIp } from './ip.ts';

/**
 * The parts of a PKCS#10 request (RFC 2986 §4.1) issuance needs, read straight from the DER. Hostile
 * input only ever throws (the caller turns that into CSR_INVALID).
 */
export interface CsrParts {
  der: Uint8Array;
  spki: Uint8Array;
  /** Every CN of the subject, in order (more than one is the caller's to refuse). */
  commonNames: string[];
  /** SAN entries in order; anything but dNSName / iPAddress is returned with its GeneralName kind. */
  sanEntries: ({ type: 'dns' | 'ip'; value: string } | { type: 'other'; kind: string })[];
}

const CN_OID = '2.5.4.3';
const EXTENSION_REQUEST_OID = '1.2.840.113549.1.9.14';
const SAN_OID = '2.5.29.17';
const GENERAL_NAME_KINDS: Record<number, string> = {
  0xa0: 'otherName', 0x81: 'email', 0x83: 'x400Address', 0xa4: 'directoryName', 0xa5: 'ediPartyName', 0x86: 'url', 0x88: 'registeredID',
};

function text(der: Uint8Array, t: Tlv): string {
  const v = der.subarray(t.valueStart, t.end);
  if (t.tag === 0x1e) return Buffer.from(v).swap16().toString('utf16le'); // BMPString is UTF-16BE
  return Buffer.from(v).toString(t.tag === 0x0c ? 'utf8' : 'latin1');
}

function expect(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new Error(`${what} is missing or has the wrong type`);
  return t;
}

export function readCsr(der: Uint8Array): CsrParts {
  const outer = expect(readTlv(der, 0), 0x30, 'CertificationRequest');
  if (outer.end !== der.length) throw new Error('trailing bytes after the request');
  const [info] = children(der, outer);
  const [version, subject, spkiTlv, attrs] = children(der, expect(info, 0x30, 'certificationRequestInfo'));
  expect(version, 0x02, 'version');
  expect(subject, 0x30, 'subject');
  expect(spkiTlv, 0x30, 'subjectPKInfo');

  const commonNames: string[] = [];
  for (const rdn of children(der, subject)) {
    for (const atv of children(der, expect(rdn, 0x31, 'RDN'))) {
      const [type, value] = children(der, expect(atv, 0x30, 'AttributeTypeAndValue'));
      if (oidText(der.subarray(expect(type, 0x06, 'attribute type').valueStart, type.end)) === CN_OID) commonNames.push(text(der, value));
    }
  }

  const sanEntries: CsrParts['sanEntries'] = [];
  if (attrs) {
    for (const attr of children(der, expect(attrs, 0xa0, 'attributes'))) {
      const [type, values] = children(der, expect(attr, 0x30, 'Attribute'));
      if (oidText(der.subarray(type.valueStart, type.end)) !== EXTENSION_REQUEST_OID) continue;
      for (const exts of children(der, expect(values, 0x31, 'attribute values'))) {
        for (const ext of children(der, expect(exts, 0x30, 'Extensions'))) {
          const parts = children(der, expect(ext, 0x30, 'Extension'));
          if (oidText(der.subarray(parts[0].valueStart, parts[0].end)) !== SAN_OID) continue;
          const octets = expect(parts[parts.length - 1], 0x04, 'extnValue');
          const names = expect(readTlv(der, octets.valueStart), 0x30, 'GeneralNames');
          // Bytes after the GeneralNames (or a length running past extnValue) would hide names from this reader.
          if (names.end !== octets.end) throw new Error('subjectAltName extnValue is not exactly one GeneralNames');
          for (const n of children(der, names)) {
            const v = der.subarray(n.valueStart, n.end);
            if (n.tag === 0x82) sanEntries.push({ type: 'dns', value: Buffer.from(v).toString('latin1') });
            else if (n.tag === 0x87) {
              if (v.length !== 4 && v.length !== 16) throw new Error('iPAddress of a length other than 4 or 16');
              sanEntries.push({ type: 'ip', value: bytesToIp(v) });
            } else sanEntries.push({ type: 'other', kind: GENERAL_NAME_KINDS[n.tag] ?? `tag 0x${n.tag.toString(16)}` });
          }
        }
      }
    }
  }
  return { der: der.subarray(0, outer.end), spki: der.slice(spkiTlv.start, spkiTlv.end), commonNames, sanEntries };
}
