/**
 * Findings, deduplicated by oracle and location, and their files: `DIR/findings.json`
 * (`{ execs, execsPerSecond, findings: [{ id, oracle, protocol, reproducer, count }] }`) and one
 * reproducer per finding under `DIR/reproducers/` that `wardgate fuzz replay FILE` runs again.
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { WardgateError } from '../errors.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { type Exchange, type ExchangeJson, type Protocol, exchangeFromJson, exchangeToJson } from './exchange.ts';
import { printable } from '../printable.ts';
import type { OracleName, Verdict } from './oracles.ts';
import type { TargetDescription } from './target.ts';

export const REPRODUCER_FORMAT = 'wardgate-fuzz-reproducer/1';

const ORACLES: readonly OracleName[] = ['exit', 'hang', 'memory', 'policy'];

/** Far above the largest reproducer (an unminimized ~14 MiB flood, hex-encoded) and below Node's string limit. */
export const MAX_REPRODUCER_BYTES = 256 * 1024 * 1024;

export interface Reproducer {
  format: typeof REPRODUCER_FORMAT;
  id: string;
  oracle: OracleName;
  protocol: Protocol;
  location: string;
  detail: string;
  seed: number;
  /** Index of the exec that first showed the failure. */
  exec: number;
  target: TargetDescription;
  minimized: boolean;
  /** Client exchange first; for server-side findings the hostile backend's answer second. */
  exchanges: Exchange[];
}

export interface FindingSummary {
  id: string;
  oracle: OracleName;
  protocol: Protocol;
  reproducer: string;
  count: number;
}

export interface FindingsFile {
  execs: number;
  execsPerSecond: number;
  findings: FindingSummary[];
}

/** FNV-1a, 32 bits: a short stable id from the dedup key. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

export function findingId(protocol: Protocol, verdict: Pick<Verdict, 'oracle' | 'location'>): string {
  return `${verdict.oracle}-${protocol}-${fnv1a(`${verdict.oracle}\0${verdict.location}`)}`;
}

export class FindingStore {
  private readonly byId = new Map<string, { summary: FindingSummary; reproducer: Reproducer }>();

  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'reproducers'), { recursive: true });
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Count another hit of a known finding. */
  hit(id: string): void {
    const f = this.byId.get(id);
    if (f) f.summary.count++;
  }

  add(reproducer: Reproducer): FindingSummary {
    const file = join(this.dir, 'reproducers', `${reproducer.id}.json`);
    writeReproducer(file, reproducer);
    const summary: FindingSummary = { id: reproducer.id, oracle: reproducer.oracle, protocol: reproducer.protocol, reproducer: relative(this.dir, file), count: 1 };
    this.byId.set(reproducer.id, { summary, reproducer });
    return summary;
  }

  /** Replace a finding's reproducer (after minimization), keeping its count. */
  update(reproducer: Reproducer): void {
    const f = this.byId.get(reproducer.id);
    if (!f) return;
    f.reproducer = reproducer;
    writeReproducer(join(this.dir, f.summary.reproducer), reproducer);
  }

  reproducers(): Reproducer[] {
    return [...this.byId.values()].map((f) => f.reproducer);
  }

  summaries(): FindingSummary[] {
    return [...this.byId.values()].map((f) => ({ ...f.summary }));
  }

  write(execs: number, seconds: number): FindingsFile {
    const out: FindingsFile = { execs, execsPerSecond: seconds > 0 ? Math.round((execs / seconds) * 10) / 10 : 0, findings: this.summaries() };
    // Written beside it and renamed over it: a symlink planted under the name (a shared --out) is replaced,
    // never followed, so the fuzzer cannot be made to overwrite another file.
    writeFileAtomic(join(this.dir, 'findings.json'), `${JSON.stringify(out, null, 2)}\n`);
    return out;
  }
}

export function writeReproducer(file: string, r: Reproducer): void {
  const json = { ...r, exchanges: r.exchanges.map(exchangeToJson) };
  writeFileAtomic(file, `${JSON.stringify(json, null, 2)}\n`);
}

/** The file's text, refused unless it is a regular file of bounded size (`/dev/zero` or a FIFO would never end). */
function readBounded(file: string): string {
  // O_NONBLOCK: opening a FIFO with no writer would otherwise block before fstat can refuse it.
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_REPRODUCER_BYTES) throw new Error(`${st.size} bytes, more than the ${MAX_REPRODUCER_BYTES} a reproducer can hold`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

export function readReproducer(file: string): Reproducer {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(readBounded(file));
  } catch (err) {
    // JSON.parse quotes the file's text in its message: no terminal escapes from a hostile file.
    throw new WardgateError('FUZZ_REPRODUCER_INVALID', `${file}: cannot read (${printable((err as Error).message)})`);
  }
  if (data?.format !== REPRODUCER_FORMAT) throw new WardgateError('FUZZ_REPRODUCER_INVALID', `${file}: field "format" is not ${REPRODUCER_FORMAT}`);
  // Fields that are printed or steer the replay: a file from elsewhere may hold anything.
  const bad = (field: string, want: string) => new WardgateError('FUZZ_REPRODUCER_INVALID', `${file}: field "${field}" is not ${want}`);
  if (!ORACLES.includes(data.oracle as OracleName)) throw bad('oracle', ORACLES.join(', '));
  if (data.protocol !== 'dicom' && data.protocol !== 'hl7') throw bad('protocol', 'dicom or hl7');
  if (typeof data.id !== 'string' || !/^[a-z]+-(dicom|hl7)-[0-9a-f]{8}$/.test(data.id)) throw bad('id', 'an id like exit-dicom-1a2b3c4d');
  if (typeof data.location !== 'string') throw bad('location', 'a string');
  if (typeof data.detail !== 'string') throw bad('detail', 'a string');
  if (!Number.isInteger(data.seed) || (data.seed as number) < 0 || (data.seed as number) > 0xffffffff) throw bad('seed', 'an integer in 0..4294967295');
  if (!Array.isArray(data.exchanges) || data.exchanges.length === 0) throw new WardgateError('FUZZ_REPRODUCER_INVALID', `${file}: field "exchanges" is missing or empty`);
  const target = data.target as TargetDescription | undefined;
  if (!target || typeof target !== 'object' || typeof target.kind !== 'string') throw new WardgateError('FUZZ_REPRODUCER_INVALID', `${file}: field "target" is missing`);
  if (!['address', 'spawn', 'route'].includes(target.kind)) throw bad('target.kind', 'address, spawn or route');
  for (const field of ['address', 'command', 'route', 'config'] as const) {
    if (target[field] !== undefined && typeof target[field] !== 'string') throw bad(`target.${field}`, 'a string');
  }
  // Absent in reproducers written before replay honoured it: those replay in plaintext, as they did.
  if (target.tls !== undefined && typeof target.tls !== 'boolean') throw bad('target.tls', 'true or false');
  if (target.plaintext !== undefined && typeof target.plaintext !== 'boolean') throw bad('target.plaintext', 'true or false');
  return {
    ...(data as unknown as Reproducer),
    // Printed by replay: no terminal escapes, whoever wrote the file.
    location: printable(data.location),
    detail: printable(data.detail),
    exchanges: (data.exchanges as ExchangeJson[]).map((e, i) => exchangeFromJson(e, `${file}: exchanges.${i}`)),
  };
}
