/**
 * Report building and rendering: rows follow requirements.json for the kit in use, the summary
 * counts statuses, conformance means "no SHALL failed", and evidence is escaped in HTML.
 */
import t from 'tap';
import { buildReport, loadRequirements, reportHtml, reportJson, type Verdict } from '../../src/conformance/index.ts';

const requirements = loadRequirements();

function report(verdicts: Record<string, Verdict>) {
  return buildReport({
    kit: 'tls-node', target: '127.0.0.1:2762', requirements, actors: ['Relying Node'], verdicts: new Map(Object.entries(verdicts)),
    claimedOptions: [], startedAt: new Date(0), finishedAt: new Date(1000),
  });
}

t.test('one row per tls-node requirement; unjudged checks are inconclusive', async (t) => {
  const r = report({ 'tls-node:tls12-supported': { status: 'pass', evidence: 'ok' } });
  const expected = requirements.requirements.filter((x) => x.check.startsWith('tls-node:')).map((x) => x.id);
  t.same(r.rows.map((row) => row.id), expected);
  t.equal(r.rows.find((row) => row.id === 'ICM-TLS-002')?.status, 'pass');
  t.equal(r.summary.pass, 1);
  t.equal(r.summary.inconclusive, expected.length - 1);
  t.ok(r.manual.length > 0 && r.manual.every((m) => m.actor === 'Relying Node' && m.reason));
  t.same(JSON.parse(reportJson(r)), JSON.parse(JSON.stringify(r)), 'JSON round-trips');
});

t.test('a failed SHOULD keeps the product conformant, a failed SHALL does not', async (t) => {
  t.equal(report({ 'tls-node:tls13-supported': { status: 'fail', evidence: 'no 1.3' } }).conformant, true, 'ICM-TLS-003 is a SHOULD');
  t.equal(report({ 'tls-node:tls12-supported': { status: 'fail', evidence: 'no 1.2' } }).conformant, false, 'ICM-TLS-002 is a SHALL');
});

t.test('HTML escapes evidence from the network', async (t) => {
  const html = reportHtml(report({ 'tls-node:chain-to-ca': { status: 'fail', evidence: 'subject CN=<script>alert(1)</script> & "x"' } }));
  t.notMatch(html, /<script>/);
  t.match(html, /CN=&lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; &quot;x&quot;/);
  t.match(html, /<tr class="fail" id="ICM-TLS-007">/);
});
