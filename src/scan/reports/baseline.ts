/**
 * What changed since a previous report (--baseline): findings new in this run and findings fixed
 * since, keyed by address, port and finding id. Only ports probed in this run can have fixed
 * findings: a host left out (excluded, other shard) or a port not probed (another --ports list, a
 * shorter nmap file) proves nothing.
 */
import { readFileSync } from 'node:fs';
import { WardgateError } from '../../errors.ts';
import type { Finding, ScanReport, ServiceResult } from '../types.ts';

export interface DiffEntry {
  address: string;
  port: number;
  finding: Pick<Finding, 'id' | 'severity' | 'title'>;
}

export interface BaselineDiff {
  baselineStartedAt: string;
  new: DiffEntry[];
  fixed: DiffEntry[];
  unchanged: number;
}

export function loadBaseline(file: string): ScanReport {
  let doc: ScanReport;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new WardgateError('SCAN_OPTION_INVALID', `--baseline ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!doc || typeof doc !== 'object' || !doc.scan || !Array.isArray(doc.services)) {
    throw new WardgateError('SCAN_OPTION_INVALID', `--baseline ${file} is not a wardgate scan report (no "scan" object and "services" array)`);
  }
  return doc;
}

function entries(services: ServiceResult[]): Map<string, DiffEntry> {
  const m = new Map<string, DiffEntry>();
  for (const s of services) {
    for (const f of s.findings ?? []) m.set(`${s.address}|${s.port}|${f.id}`, { address: s.address, port: s.port, finding: { id: f.id, severity: f.severity, title: f.title } });
  }
  return m;
}

export function diffBaseline(
  baseline: ScanReport, current: ServiceResult[], scannedAddresses: ReadonlySet<string>,
  portProbed: (address: string, port: number) => boolean = () => true,
): BaselineDiff {
  const before = entries(baseline.services);
  const now = entries(current);
  const diff: BaselineDiff = { baselineStartedAt: baseline.scan.startedAt ?? '', new: [], fixed: [], unchanged: 0 };
  for (const [key, e] of now) {
    if (before.has(key)) diff.unchanged++;
    else diff.new.push(e);
  }
  for (const [key, e] of before) if (!now.has(key) && scannedAddresses.has(e.address) && portProbed(e.address, e.port)) diff.fixed.push(e);
  return diff;
}
