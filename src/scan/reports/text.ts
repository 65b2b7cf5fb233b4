/** Plain text report for terminals and e-mail: one block per open port, findings with their fix. */
import type { BaselineDiff } from './baseline.ts';
import { labels } from './labels.ts';
import { SEVERITY_ORDER } from '../findings.ts';
import type { Lang, ScanMeta, ServiceResult } from '../types.ts';

/**
 * Notes, certificate names and finding details quote what devices sent. A terminal executes control
 * characters (ESC sequences retitle the window, clear the screen, hide lines), so every C0/C1 control
 * character, DEL and bidirectional override is shown as an escape instead.
 */
export function printable(line: string): string {
  return line.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

export function renderText(scan: ScanMeta, services: ServiceResult[], lang: Lang, baseline?: BaselineDiff): string {
  const L = labels(lang);
  const lines: string[] = [];
  const all = services.flatMap((s) => s.findings);
  lines.push(`${L.title}: ${scan.hostsScanned} ${L.hosts}, ${services.length} ${L.services}, ${all.length} ${L.findings} (${(scan.durationMs / 1000).toFixed(1)} s)`);
  lines.push(SEVERITY_ORDER.map((s) => `${L.severities[s]} ${all.filter((f) => f.severity === s).length}`).join(', '));
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
  return `${lines.map(printable).join('\n')}\n`;
}
