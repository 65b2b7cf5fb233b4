/**
 * The JSON report (contract in docs/scan-report.md): `{ scan, services, baseline? }`, one service per
 * open port, keys of issue 5's contract first. NDJSON streams the same objects one per line.
 */
import { printableJson } from '../../printable.ts';
import type { BaselineDiff } from './baseline.ts';
import type { ScanMeta, ServiceResult } from '../types.ts';

/** Contract keys first, in the documented order, then the optional detail keys. */
export function serviceForJson(s: ServiceResult): Record<string, unknown> {
  const out: Record<string, unknown> = { address: s.address, port: s.port, protocol: s.protocol, tls: s.tls };
  if (s.tlsVersion !== undefined) out.tlsVersion = s.tlsVersion;
  if (s.certificate) {
    const c = s.certificate;
    out.certificate = { subject: c.subject, issuer: c.issuer, notAfter: c.notAfter, keyType: c.keyType, keyBits: c.keyBits, signatureAlgorithm: c.signatureAlgorithm, sans: c.sans, notBefore: c.notBefore, fingerprintSha256: c.fingerprintSha256 };
  }
  out.findings = s.findings.map((f) => {
    const o: Record<string, unknown> = { id: f.id, severity: f.severity, title: f.title, recommendation: f.recommendation };
    if (f.detail) o.detail = f.detail;
    return o;
  });
  if (s.hostname) out.hostname = s.hostname;
  if (s.tlsDetails) out.tlsDetails = s.tlsDetails;
  if (s.dicom) out.dicom = s.dicom;
  if (s.hl7) out.hl7 = s.hl7;
  if (s.note) out.note = s.note;
  out.durationMs = s.durationMs;
  return out;
}

export function renderJson(scan: ScanMeta, services: ServiceResult[], baseline?: BaselineDiff): string {
  const doc: Record<string, unknown> = { scan, services: services.map(serviceForJson) };
  if (baseline) doc.baseline = baseline;
  return `${printableJson(JSON.stringify(doc, null, 2))}\n`;
}

/** One line per service as it completes, then one summary line: shards can be concatenated. */
export function ndjsonService(s: ServiceResult): string {
  return `${printableJson(JSON.stringify({ type: 'service', ...serviceForJson(s) }))}\n`;
}

export function ndjsonSummary(scan: ScanMeta, baseline?: BaselineDiff): string {
  return `${printableJson(JSON.stringify(baseline ? { type: 'scan', scan, baseline } : { type: 'scan', scan }))}\n`;
}
