/** Report headings in English and German (finding texts come from recommendations.ts). */
import type { Lang, Severity } from '../types.ts';

export const LABELS = {
  en: {
    title: 'wardgate scan report', summary: 'Summary', hosts: 'hosts scanned', services: 'open ports', findings: 'findings',
    plaintext: 'plaintext DICOM/HL7', bySeverity: 'Findings by severity', expiry: 'Certificate expiry', perHost: 'Hosts',
    changes: 'Changes since baseline', new: 'new', fixed: 'fixed', unchanged: 'unchanged', none: 'none',
    port: 'Port', protocol: 'Protocol', tls: 'TLS', certificate: 'Certificate', finding: 'Finding', severity: 'Severity', recommendation: 'Recommendation',
    noFindings: 'no findings', interrupted: 'INTERRUPTED', started: 'started', duration: 'duration', today: 'today', expired: 'expired', baselineOf: 'baseline from',
    severities: { critical: 'critical', high: 'high', medium: 'medium', low: 'low', info: 'info' } as Record<Severity, string>,
  },
  de: {
    title: 'wardgate Scan-Bericht', summary: 'Übersicht', hosts: 'Hosts gescannt', services: 'offene Ports', findings: 'Befunde',
    plaintext: 'DICOM/HL7 unverschlüsselt', bySeverity: 'Befunde nach Schweregrad', expiry: 'Zertifikatsablauf', perHost: 'Hosts',
    changes: 'Änderungen seit der Baseline', new: 'neu', fixed: 'behoben', unchanged: 'unverändert', none: 'keine',
    port: 'Port', protocol: 'Protokoll', tls: 'TLS', certificate: 'Zertifikat', finding: 'Befund', severity: 'Schweregrad', recommendation: 'Empfehlung',
    noFindings: 'keine Befunde', interrupted: 'ABGEBROCHEN', started: 'begonnen', duration: 'Dauer', today: 'heute', expired: 'abgelaufen', baselineOf: 'Baseline vom',
    severities: { critical: 'kritisch', high: 'hoch', medium: 'mittel', low: 'niedrig', info: 'Info' } as Record<Severity, string>,
  },
} as const satisfies Record<Lang, unknown>;

export type Labels = (typeof LABELS)['en'];

export function labels(lang: Lang): Labels {
  return LABELS[lang] as Labels;
}
