/**
 * Default ports: where medical devices listen for DICOM and HL7 v2, with where each is documented.
 * Scanning only these keeps a scan short and quiet; --ports overrides them.
 */
import { WardgateError } from '../errors.ts';

export const MEDICAL_PORTS: ReadonlyArray<{ port: number; why: string }> = [
  { port: 104, why: 'DICOM upper layer, IANA "acr-nema"/"dicom" well-known port (PS3.8 §9.1.2)' },
  { port: 2575, why: 'HL7 v2 over MLLP, IANA "hl7"' },
  { port: 2761, why: 'DICOM ISCL, IANA "dicom-iscl" (PS3.15 Annex B.2)' },
  { port: 2762, why: 'DICOM over TLS, IANA "dicom-tls" (PS3.15 Annex B.1)' },
  { port: 4242, why: 'Orthanc PACS default DICOM port (Orthanc configuration "DicomPort")' },
  { port: 5678, why: 'Conquest DICOM server default port' },
  { port: 6661, why: 'HL7 MLLP port of Mirth Connect / NextGen Connect channel examples and many interface engines' },
  { port: 11112, why: 'DICOM registered port, IANA "dicom" (PS3.8 §9.1.2), default of dcmtk and dcm4che' },
  { port: 12575, why: 'HL7 MLLP over TLS in dcm4chee-arc defaults' },
];

export const DEFAULT_PORTS: readonly number[] = MEDICAL_PORTS.map((p) => p.port).sort((a, b) => a - b);

/** Parse "104,2575,11000-11010". */
export function parsePorts(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = part.match(/^(\d{1,5})(?:-(\d{1,5}))?$/);
    const a = m ? Number(m[1]) : NaN;
    const b = m?.[2] ? Number(m[2]) : a;
    if (!m || a < 1 || b > 65535 || b < a) throw new WardgateError('SCAN_OPTION_INVALID', `--ports entry ${JSON.stringify(part)} is not a port (1-65535) or ascending range`);
    for (let p = a; p <= b; p++) out.add(p);
  }
  if (out.size === 0) throw new WardgateError('SCAN_OPTION_INVALID', '--ports is empty');
  return [...out].sort((x, y) => x - y);
}

/** HL7 ports are probed for MLLP first, all others for DICOM first (saves one timeout on the common case). */
export const HL7_FIRST_PORTS: ReadonlySet<number> = new Set([2575, 6661, 12575]);
