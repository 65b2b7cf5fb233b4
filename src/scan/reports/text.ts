/** Plain text report for terminals and e-mail: one block per open port, findings with their fix. */
import type { BaselineDiff } from './baseline.ts';
import { printable } from '../../printable.ts';
import { labels } from './labels.ts';
import { SEVERITY_ORDER } from '../findings.ts';
import type { Lang, ScanMeta, ServiceResult } from '../types.ts';

export function renderText(scan: ScanMeta, services: ServiceResult[], lang: Lang, baseline?: BaselineDiff): string {
  const L = labels(lang);
  const lines: string[] = [];
  const all = services.flatMap((s) => s.findings);
  lines.push(`${L.title}: ${scan.hostsScanned} ${L.hosts}, ${services.length} ${L.services}, ${all.length} ${L.findings} (${(scan.durationMs / 1000).toFixed(1)} s)`);
  lines.push(SEVERITY_ORDER.map((s) => `${L.severities[s]} ${all.filter((f) => f.severity === s).length}`).join(', '));
  if (scan.interrupted) lines.push(`${L.interrupted}: ${scan.interrupted}`);
  for (const s of services) {
    const cert = s.certificate ? `, ${s.certificate.subject || '-'} (${s.certificate.notAfter.slice(0, 10)})` : '';
    lines.push('', `${s.hostname ?? s.address}:${s.port}  ${s.protocol}${s.tls ? ` over ${s.tlsVersion ?? 'TLS'}` : ''}${cert}`);
    if (s.findings.length === 0) lines.push(`  ${L.noFindings}`);
    for (const f of s.findings) {
      lines.push(`  [${L.severities[f.severity]}] ${f.id}: ${f.title}${f.detail ? ` (${f.detail})` : ''}`);
      lines.push(`      ${f.recommendation}`);
    }
    if (s.note && s.protocol === 'other') lines.push(`  (${s.note})`);
  }
  if (baseline) {
    lines.push('', `${L.changes} (${L.baselineOf} ${baseline.baselineStartedAt}): ${baseline.new.length} ${L.new}, ${baseline.fixed.length} ${L.fixed}, ${baseline.unchanged} ${L.unchanged}`);
    for (const e of baseline.new) lines.push(`  + ${e.address}:${e.port} ${e.finding.id}`);
    for (const e of baseline.fixed) lines.push(`  - ${e.address}:${e.port} ${e.finding.id}`);
  }
  // Notes, certificate names and finding details quote what devices sent.
  return `${lines.map(printable).join('\n')}\n`;
}
