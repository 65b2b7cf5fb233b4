import { printableLines } from '../printable.ts';
import type { Report } from './report.ts';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Control and bidi characters from the product are shown as visible escapes (line breaks kept), then HTML-escaped. */
function esc(text: string): string {
  return printableLines(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.pass{background:#e6f4ea}.fail{background:#fce8e6}.not-applicable{background:#f1f3f4}.inconclusive{background:#fef7e0}
td.status{font-weight:600;white-space:nowrap}.incomplete{background:#fef7e0;padding:.5em}code{font-size:12px}.summary span{margin-right:1.5em}
.partial{font-weight:400;font-size:12px}`;

/** A self-contained HTML page (no scripts, no external resources) for people; same content as the JSON. */
export function reportHtml(report: Report): string {
  const rows = report.rows.map((r) => `<tr class="${r.status}" id="${esc(r.id)}"><td><code>${esc(r.id)}</code></td><td>${r.level}</td><td>${esc(r.summary)}${r.option ? ` <em>(option: ${esc(r.option)})</em>` : ''}</td><td class="status">${r.status}${r.partialEvidence ? '<br><span class="partial">partial evidence</span>' : ''}</td><td>${esc(r.evidence)}</td><td><code>${esc(r.check)}</code></td></tr>`).join('\n');
  const manual = report.manual.map((m) => `<tr><td><code>${esc(m.id)}</code></td><td>${m.level}</td><td>${esc(m.summary)}</td><td>${esc(m.reason)}</td></tr>`).join('\n');
  const s = report.summary;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ICM conformance: ${esc(report.kit)} ${esc(report.target)}</title><style>${STYLE}</style></head>
<body>
<h1>ICM conformance report — ${esc(report.kit)} ${esc(report.target)}</h1>
<p>Profile ${esc(report.profile.id)} ${esc(report.profile.version)} (draft). Run ${esc(report.startedAt)} to ${esc(report.finishedAt)}.
Claimed options: ${report.claimedOptions.length ? esc(report.claimedOptions.join(', ')) : 'none'}.</p>
${report.incomplete ? `<p class="incomplete"><strong>Incomplete run:</strong> ${esc(report.incomplete)}. Rows that needed what did not run are inconclusive, unless what ran before already proves a failure: those fail, marked “partial evidence”.</p>
` : ''}<p class="summary"><strong>${report.conformant ? 'No SHALL requirement failed' : 'At least one SHALL requirement failed'}.</strong>
<span>pass ${s.pass}</span><span>fail ${s.fail}</span><span>not applicable ${s['not-applicable']}</span><span>inconclusive ${s.inconclusive}</span></p>
<table><thead><tr><th>Requirement</th><th>Level</th><th>Summary</th><th>Result</th><th>Evidence</th><th>Check</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<h2>For the assessor (not machine-checkable)</h2>
<table><thead><tr><th>Requirement</th><th>Level</th><th>Summary</th><th>Why manual</th></tr></thead>
<tbody>
${manual}
</tbody></table>
</body></html>
`;
}
