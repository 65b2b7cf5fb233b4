/**
 * CSV for spreadsheets (RFC 4180: CRLF rows, fields quoted when they hold quotes, commas or line
 * breaks). One row per finding; a service without findings still gets one row, so the sheet lists
 * every open port.
 */
import type { ServiceResult } from '../types.ts';

export const CSV_COLUMNS = ['address', 'hostname', 'port', 'protocol', 'tls', 'tlsVersion', 'certSubject', 'certIssuer', 'certNotAfter', 'findingId', 'severity', 'title', 'recommendation'] as const;

function field(value: unknown): string {
  let s = value === undefined || value === null ? '' : String(value);
  // Spreadsheet formula injection (OWASP CSV Injection): a cell starting with = + - @ is prefixed.
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderCsv(services: ServiceResult[]): string {
  const rows = [CSV_COLUMNS.join(',')];
  for (const s of services) {
    const base = [s.address, s.hostname, s.port, s.protocol, s.tls, s.tlsVersion, s.certificate?.subject, s.certificate?.issuer, s.certificate?.notAfter];
    const findings = s.findings.length ? s.findings : [undefined];
    for (const f of findings) rows.push([...base, f?.id, f?.severity, f?.title, f?.recommendation].map(field).join(','));
  }
  return `${rows.join('\r\n')}\r\n`;
}
