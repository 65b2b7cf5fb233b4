/**
 * CSV for spreadsheets (RFC 4180: CRLF rows, fields quoted when they hold quotes, commas or line
 * breaks). One row per finding; a service without findings still gets one row, so the sheet lists
 * every open port.
 */
import { printable } from '../../printable.ts';
import type { ServiceResult } from '../types.ts';

export const CSV_COLUMNS = ['address', 'hostname', 'port', 'protocol', 'tls', 'tlsVersion', 'certSubject', 'certIssuer', 'certNotAfter', 'findingId', 'severity', 'title', 'recommendation'] as const;

function field(value: unknown): string {
  // Certificate names are the device's text: a NUL or line break would cut or split the row, and
  // bidi overrides would reorder what the sheet shows, so controls are shown as escapes (printable.ts).
  let s = printable(value === undefined || value === null ? '' : String(value));
  // Spreadsheet formula injection (OWASP CSV Injection): a cell starting with = + - @ is prefixed.
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  // Excel where the list separator is ";" (German locales) splits a row at ";": a field holding one is
  // quoted, and for readers that split inside quotes too, no ";" piece may start a formula (nor a quote,
  // which would reopen a quoted cell whose tail is then evaluated).
  s = s.replace(/;(?=\s*["=+\-@])/g, ";'");
  return /[",;\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
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
