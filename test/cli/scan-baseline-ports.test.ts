/**
 * docs/scan-report.md, `baseline`: a finding is fixed only where this run looked. A port that was not
 * probed this time (another --ports list) proves nothing; a probed port that is closed now counts its
 * old findings as fixed. Runs the real CLI against closed ports on 127.58.9.1 (nothing listens there).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const HOST = '127.58.9.1';

function service(port: number) {
  return {
    address: HOST, port, protocol: 'dicom', tls: false,
    findings: [{ id: 'plaintext-dicom', severity: 'high', title: 'DICOM in plaintext', recommendation: '-' }],
  };
}

t.test('only probed ports have fixed findings', async (t) => {
  const dir = tempDir(t);
  const previous = join(dir, 'week47.json');
  writeFileSync(previous, JSON.stringify({
    scan: { tool: 'wardgate', startedAt: '2026-11-20T08:00:00.000Z' },
    services: [service(15991), service(15992)],
  }));
  const out = join(dir, 'week48.json');
  const r = wardgate(['scan', HOST, '--ports', '15991', '--timeout', '500', '--format', 'json', '--out', out, '--baseline', previous]);
  t.equal(r.status, 0, r.stderr);
  const report = JSON.parse(readFileSync(out, 'utf8'));
  t.same(report.services, [], 'nothing listens');
  t.same(report.baseline.fixed.map((e: { port: number }) => e.port), [15991], 'the probed, now closed port is fixed; 15992 was not probed');
  t.same(report.baseline.new, []);
});
