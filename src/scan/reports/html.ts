/**
 * Self-contained HTML report for people: summary, findings by severity (inline SVG bar chart),
 * certificate expiry timeline (inline SVG), one table per host, and the baseline diff. No script
 * (a Content-Security-Policy meta forbids it should device text ever slip through unescaped),
 * no external resource: it opens from a mail attachment on an air-gapped workstation.
 */
import { printable } from '../../printable.ts';
import type { BaselineDiff } from './baseline.ts';
import { type Labels, labels } from './labels.ts';
import { SEVERITY_ORDER } from '../findings.ts';
import type { Lang, ScanMeta, ServiceResult, Severity } from '../types.ts';

const COLORS: Record<Severity, string> = { critical: '#7f1d1d', high: '#dc2626', medium: '#f59e0b', low: '#3b82f6', info: '#6b7280' };
const DAY = 86_400_000;

/**
 * Text for HTML text and attribute values. Certificate names are the device's text: controls,
 * line/paragraph separators and bidi overrides (which would reorder the rest of the cell, spoofing a
 * name) are shown as escapes (printable.ts) before the markup characters are escaped.
 */
export function escapeHtml(value: unknown): string {
  return printable(String(value ?? '')).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function severityChart(services: ServiceResult[], L: Labels): string {
  const counts = SEVERITY_ORDER.map((s) => ({ s, n: services.reduce((acc, x) => acc + x.findings.filter((f) => f.severity === s).length, 0) }));
  const max = Math.max(1, ...counts.map((c) => c.n));
  const rowH = 28;
  const width = 520;
  const bars = counts.map(({ s, n }, i) => {
    const w = Math.round((n / max) * (width - 170));
    const y = i * rowH + 6;
    return `<g class="bar" data-severity="${s}" data-count="${n}"><text x="0" y="${y + 15}" font-size="13">${escapeHtml(L.severities[s])}</text>`
      + `<rect x="90" y="${y}" width="${Math.max(w, n > 0 ? 2 : 0)}" height="${rowH - 10}" fill="${COLORS[s]}" rx="3"/>`
      + `<text x="${96 + w}" y="${y + 15}" font-size="13">${n}</text></g>`;
  }).join('');
  return `<svg id="severity-chart" role="img" aria-label="${escapeHtml(L.bySeverity)}" width="${width}" height="${counts.length * rowH + 8}" viewBox="0 0 ${width} ${counts.length * rowH + 8}" xmlns="http://www.w3.org/2000/svg">${bars}</svg>`;
}

function expiryTimeline(services: ServiceResult[], now: Date, L: Labels): string {
  const certs = services.filter((s) => s.certificate).map((s) => ({ s, t: Date.parse(s.certificate!.notAfter) }));
  const width = 760;
  const height = 70 + certs.length * 16;
  const t0 = Math.min(now.getTime() - 30 * DAY, ...certs.map((c) => c.t));
  const t1 = Math.max(now.getTime() + 400 * DAY, ...certs.map((c) => Math.min(c.t, now.getTime() + 3650 * DAY)));
  const x = (t: number) => 20 + ((Math.min(t, t1) - t0) / (t1 - t0)) * (width - 40);
  const nowX = x(now.getTime());
  const ticks: string[] = [];
  for (let y = new Date(t0).getUTCFullYear(); y <= new Date(t1).getUTCFullYear() + 1; y++) {
    const t = Date.UTC(y, 0, 1);
    if (t < t0 || t > t1) continue;
    ticks.push(`<line x1="${x(t)}" y1="30" x2="${x(t)}" y2="${height - 10}" stroke="#e5e7eb"/><text x="${x(t) + 2}" y="24" font-size="11" fill="#6b7280">${y}</text>`);
  }
  const dots = certs.map(({ s, t }, i) => {
    const days = Math.floor((t - now.getTime()) / DAY);
    const color = days < 0 ? COLORS.high : s.findings.some((f) => f.id === 'cert-expiring-soon') ? COLORS.medium : '#16a34a';
    const y = 44 + i * 16;
    const label = `${s.hostname ?? s.address}:${s.port} ${s.certificate!.notAfter.slice(0, 10)} (${days < 0 ? L.expired : `${days} d`})`;
    return `<g class="cert" data-days="${days}"><circle cx="${x(t)}" cy="${y}" r="5" fill="${color}"><title>${escapeHtml(label)}</title></circle>`
      + (x(t) > width - 260
        ? `<text x="${x(t) - 9}" y="${y + 4}" font-size="11" text-anchor="end">${escapeHtml(label)}</text></g>`
        : `<text x="${x(t) + 9}" y="${y + 4}" font-size="11">${escapeHtml(label)}</text></g>`);
  }).join('');
  return `<svg id="expiry-timeline" role="img" aria-label="${escapeHtml(L.expiry)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">`
    + `${ticks.join('')}<line x1="20" y1="34" x2="${width - 20}" y2="34" stroke="#9ca3af"/>`
    + `<line x1="${nowX}" y1="28" x2="${nowX}" y2="${height - 6}" stroke="#111827" stroke-dasharray="4 3"/><text x="${nowX + 3}" y="${height - 8}" font-size="11">${escapeHtml(L.today)}</text>${dots}</svg>`;
}

function hostTables(services: ServiceResult[], L: Labels): string {
  const byHost = new Map<string, ServiceResult[]>();
  for (const s of services) byHost.set(s.address, [...(byHost.get(s.address) ?? []), s]);
  return [...byHost].map(([address, list]) => {
    const rows = list.map((s) => {
      const cert = s.certificate ? `${escapeHtml(s.certificate.subject || '-')}<br><small>${escapeHtml(s.certificate.keyType)} ${s.certificate.keyBits}, ${escapeHtml(s.certificate.signatureAlgorithm)}, ${escapeHtml(s.certificate.notAfter.slice(0, 10))}</small>` : '';
      const findings = s.findings.length
        ? s.findings.map((f) => `<div class="finding"><span class="sev" style="background:${COLORS[f.severity]}">${escapeHtml(L.severities[f.severity])}</span> <code>${escapeHtml(f.id)}</code> ${escapeHtml(f.title)}<div class="rec">${escapeHtml(f.recommendation)}</div></div>`).join('')
        : `<span class="ok">${escapeHtml(L.noFindings)}</span>`;
      return `<tr><td>${s.port}</td><td>${escapeHtml(s.protocol)}</td><td>${s.tls ? escapeHtml(s.tlsVersion ?? 'TLS') : '-'}</td><td>${cert}</td><td>${findings}</td></tr>`;
    }).join('');
    const name = list[0].hostname ? `${list[0].hostname} (${address})` : address;
    return `<section class="host" data-address="${escapeHtml(address)}"><h3>${escapeHtml(name)}</h3><table><thead><tr><th>${L.port}</th><th>${L.protocol}</th><th>${L.tls}</th><th>${L.certificate}</th><th>${L.findings}</th></tr></thead><tbody>${rows}</tbody></table></section>`;
  }).join('');
}

function diffSection(diff: BaselineDiff | undefined, L: Labels): string {
  if (!diff) return '';
  const list = (items: BaselineDiff['new'], cls: string) => items.length
    ? `<ul class="${cls}">${items.map((e) => `<li><code>${escapeHtml(e.finding.id)}</code> ${escapeHtml(e.address)}:${e.port} ${escapeHtml(e.finding.title)}</li>`).join('')}</ul>`
    : `<p>${escapeHtml(L.none)}</p>`;
  return `<section id="baseline"><h2>${escapeHtml(L.changes)}</h2><p>${escapeHtml(L.baselineOf)} ${escapeHtml(diff.baselineStartedAt)}: <b>${diff.new.length}</b> ${escapeHtml(L.new)}, <b>${diff.fixed.length}</b> ${escapeHtml(L.fixed)}, ${diff.unchanged} ${escapeHtml(L.unchanged)}</p>`
    + `<h3>${escapeHtml(L.new)}</h3>${list(diff.new, 'new')}<h3>${escapeHtml(L.fixed)}</h3>${list(diff.fixed, 'fixed')}</section>`;
}

export function renderHtml(scan: ScanMeta, services: ServiceResult[], lang: Lang, baseline?: BaselineDiff, now = new Date(scan.finishedAt)): string {
  const L = labels(lang);
  const all = services.flatMap((s) => s.findings);
  const plaintext = services.filter((s) => !s.tls && (s.protocol === 'dicom' || s.protocol === 'hl7')).length;
  const card = (n: number, what: string, id: string) => `<div class="card" id="${id}"><b>${n}</b><span>${escapeHtml(what)}</span></div>`;
  return `<!doctype html>
<html lang="${lang}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(L.title)} ${escapeHtml(scan.startedAt)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#111827;max-width:1100px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb} h3{font-size:15px;margin:18px 0 6px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #e5e7eb;border-radius:8px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:24px}.card span{color:#6b7280}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e5e7eb;text-align:left;padding:6px;vertical-align:top}
.sev{color:#fff;border-radius:4px;padding:0 6px;font-size:12px}.rec{color:#374151;font-size:12px;margin:2px 0 6px}.ok{color:#16a34a}
code{background:#f3f4f6;padding:0 3px;border-radius:3px} ul.new li{color:#b91c1c} ul.fixed li{color:#15803d}
</style></head><body>
<h1>${escapeHtml(L.title)}</h1>
<p>${escapeHtml(L.started)} ${escapeHtml(scan.startedAt)}, ${escapeHtml(L.duration)} ${(scan.durationMs / 1000).toFixed(1)} s, ${escapeHtml(scan.targets.join(' '))}</p>
${scan.interrupted ? `<p class="interrupted"><strong>${escapeHtml(L.interrupted)}</strong>: ${escapeHtml(scan.interrupted)}</p>` : ''}
<h2>${escapeHtml(L.summary)}</h2>
<div class="cards">${card(scan.hostsScanned, L.hosts, 'card-hosts')}${card(services.length, L.services, 'card-services')}${card(all.length, L.findings, 'card-findings')}${card(plaintext, L.plaintext, 'card-plaintext')}</div>
<h2>${escapeHtml(L.bySeverity)}</h2>
${severityChart(services, L)}
<h2>${escapeHtml(L.expiry)}</h2>
${expiryTimeline(services, now, L)}
${diffSection(baseline, L)}
<h2>${escapeHtml(L.perHost)}</h2>
${hostTables(services, L)}
</body></html>
`;
}
