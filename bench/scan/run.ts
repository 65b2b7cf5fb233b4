/**
 * bench/scan: the simulated hospital network (test/scan/fixtures/hospital.ts) scanned in one run by
 * wardgate at its default per-host and rate limits, and by `nmap -sV --script dicom-ping,ssl-cert`.
 * Prints wall times, their ratio, and correct detections for each: a detection is correct when the
 * tool names the port's protocol (dicom / hl7 / other) and whether it speaks TLS.
 *
 *   node --import tsx bench/scan/run.ts            (needs dcmtk, stunnel4, socat, python3-hl7, nmap)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScan } from '../../src/scan/run.ts';
import { DEFAULTS } from '../../src/scan/scanner.ts';
import { EXPECTED, SCAN_PORTS, missingBinaries, startHospital } from '../../test/scan/fixtures/hospital.ts';

interface Detection { protocol: string; tls: boolean }

/** Read nmap's XML: service name/tunnel from -sV, dicom-ping and ssl-cert script output. */
export function parseNmapXml(xml: string): Map<string, Detection> {
  const out = new Map<string, Detection>();
  for (const host of xml.split('<host ').slice(1)) {
    const address = host.match(/<address addr="([^"]+)" addrtype="ipv4"/)?.[1];
    if (!address) continue;
    for (const port of host.split('<port ').slice(1)) {
      const portid = port.match(/portid="(\d+)"/)?.[1];
      if (!/state="open"/.test(port) || !portid) continue;
      // A name nmap only looked up in its port table (method="table") is a guess, not a detection.
      const service = port.match(/<service [^>]*>/)?.[0] ?? '';
      const probed = /method="probed"/.test(service);
      const name = probed ? service.match(/name="([^"]*)"/)?.[1] ?? '' : '';
      const tunnel = /tunnel="ssl"/.test(service);
      const dicomPing = /<script id="dicom-ping" output="[^"]*DICOM Service Provider discovered/.test(port);
      const sslCert = /<script id="ssl-cert"/.test(port);
      const protocol = dicomPing || /dicom|acr-nema/.test(name) ? 'dicom' : /hl7/.test(name) ? 'hl7' : 'other';
      out.set(`${address}:${portid}`, { protocol, tls: tunnel || sslCert || /ssl|https/.test(name) });
    }
  }
  return out;
}

function score(found: Map<string, Detection>): { correct: number; wrong: string[] } {
  let correct = 0;
  const wrong: string[] = [];
  for (const e of EXPECTED) {
    const d = found.get(`${e.address}:${e.port}`);
    if (d && d.protocol === e.protocol && d.tls === e.tls) correct++;
    else wrong.push(`${e.address}:${e.port} ${e.what}: expected ${e.protocol}${e.tls ? '+tls' : ''}, got ${d ? `${d.protocol}${d.tls ? '+tls' : ''}` : 'nothing'}`);
  }
  return { correct, wrong };
}

const missing = [...missingBinaries(), ...(spawnSync('nmap', ['--version']).status === 0 ? [] : ['nmap'])];
if (missing.length) {
  console.error(`bench/scan needs: ${missing.join(', ')}`);
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'wardgate-bench-scan-'));
const hospital = await startHospital(join(dir, 'net'));
try {
  const targets = '127.20.0.0/26';
  let t0 = performance.now();
  const r = await runScan({ targets: [targets], ports: SCAN_PORTS, trust: [hospital.trustPem], format: 'json', out: join(dir, 'wardgate.json') });
  const wardgateMs = performance.now() - t0;
  const ours = score(new Map(r.services.map((s) => [`${s.address}:${s.port}`, { protocol: s.protocol, tls: s.tls }])));

  t0 = performance.now();
  const nmap = spawnSync('nmap', ['-n', '-Pn', '-sV', '--script', 'dicom-ping,ssl-cert', '-p', SCAN_PORTS.join(','), '-oX', join(dir, 'nmap.xml'), targets], { encoding: 'utf8', timeout: 1_800_000 });
  const nmapMs = performance.now() - t0;
  if (nmap.status !== 0) throw new Error(`nmap failed: ${nmap.stderr}`);
  const xml = readFileSync(join(dir, 'nmap.xml'), 'utf8');
  if (process.env.WARDGATE_BENCH_KEEP) writeFileSync(process.env.WARDGATE_BENCH_KEEP, xml);
  const theirs = score(parseNmapXml(xml));

  console.log(`network: ${EXPECTED.length} open ports on ${targets} (ports ${SCAN_PORTS.join(',')})`);
  console.log(`wardgate scan (rate ${DEFAULTS.ratePerSecond}/s, per-host ${DEFAULTS.perHost}, timeout ${DEFAULTS.timeoutMs} ms): ${(wardgateMs / 1000).toFixed(1)} s, ${r.scan.connections} connections, correct ${ours.correct}/${EXPECTED.length}`);
  console.log(`nmap -sV --script dicom-ping,ssl-cert: ${(nmapMs / 1000).toFixed(1)} s, correct ${theirs.correct}/${EXPECTED.length}`);
  console.log(`ratio nmap/wardgate wall time: ${(nmapMs / wardgateMs).toFixed(1)}x`);
  for (const w of ours.wrong) console.log(`  wardgate missed: ${w}`);
  for (const w of theirs.wrong) console.log(`  nmap missed: ${w}`);
  console.log(`storescp objects after both scans: ${hospital.storedObjects().length}, HL7 messages stored: ${hospital.storedHl7().length}`);
} finally {
  await hospital.stop();
  rmSync(dir, { recursive: true, force: true });
}
