/**
 * Targets from a real `nmap -oG` run (the pipeline "nmap/masscan finds open ports, wardgate probes
 * them"): only the ports nmap reported open are probed.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { runScan } from '../../src/scan/run.ts';
import { tempDir } from '../helpers/tmp.ts';
import { which } from '../protocols/fixtures/helpers.ts';

if (!which('nmap')) {
  if (process.env.CI) t.fail('nmap is missing in CI');
  else t.skip('nmap is not installed', () => {});
} else {
  t.test('nmap -oG output as the target list', async (t) => {
    const accepted: number[] = [];
    const servers = await Promise.all([39300, 39302].map((port) => new Promise<net.Server>((resolve) => {
      const s = net.createServer((c) => { accepted.push(port); c.destroy(); });
      s.listen(port, '127.20.0.62', () => resolve(s));
    })));
    t.teardown(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));
    const r = spawnSync('nmap', ['-n', '-Pn', '-sT', '-p', '39300-39303', '-oG', '-', '127.20.0.62'], { encoding: 'utf8', timeout: 60000 });
    t.equal(r.status, 0, r.stderr);
    t.match(r.stdout, /Ports: .*39300\/open\/tcp/);
    const file = join(tempDir(t), 'scan.gnmap');
    writeFileSync(file, r.stdout);
    accepted.length = 0;
    const result = await runScan({ targets: [file], ports: [1], timeoutMs: 500, format: 'json', out: '/dev/null' });
    t.same(result.services.map((s) => `${s.address}:${s.port}`).sort(), ['127.20.0.62:39300', '127.20.0.62:39302'], 'the two open ports, and not --ports');
    t.equal(result.scan.portsProbed, 2, 'closed ports from the nmap file are not probed again');
  });
}
