/**
 * Scan targets: single IPv4/IPv6 addresses, IPv4 CIDR blocks, IPv4 ranges (a.b.c.d-e or
 * a.b.c.d-w.x.y.z), hostnames (resolved once, to every address they have; the name is kept for the
 * certificate hostname check),
 * and files of targets: a plain list, `nmap -oG` greppable output, or `masscan -oL`/`-oG` output
 * (their open ports then restrict what is probed on that host, so large pipelines can hand over
 * discovery to masscan). Expansion is lazy, so a /8 never sits in memory.
 */
import { lookup } from 'node:dns/promises';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { WardgateError } from '../errors.ts';
import { canonicalIp, unmapIpv4 } from '../pki/ip.ts';

export interface Target {
  address: string;
  hostname?: string;
  /** Ports known open from an nmap/masscan file; undefined means "use --ports". */
  ports?: number[];
}

/** A parsed target spec: an IPv4 interval, one IPv6 address, or a hostname to resolve. */
export type TargetSpec =
  | { kind: 'range'; text: string; first: number; last: number; ports?: number[] }
  | { kind: 'ipv6'; text: string; address: string; ports?: number[] }
  | { kind: 'hostname'; text: string; hostname: string; ports?: number[] };

/** Ceiling on one spec's size: a /8. Larger blocks are almost certainly a typo in a hospital. */
export const MAX_SPEC_ADDRESSES = 1 << 24;

/** Default ceiling on the hosts one run may scan (a /16); `--max-hosts` raises it. */
export const DEFAULT_MAX_HOSTS = 65536;

/**
 * Resolves a hostname to all its addresses. A seam so tests can give a name several addresses
 * without a writable /etc/hosts; the default asks the system resolver, as a browser or PACS would.
 */
export type Resolver = (hostname: string) => Promise<Array<{ address: string }>>;

export const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true });

function bad(message: string): WardgateError {
  return new WardgateError('SCAN_TARGET_INVALID', message);
}

export function ipv4ToInt(text: string): number | undefined {
  if (isIP(text) !== 4) return undefined;
  return text.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * One spelling per address, so that --exclude, duplicate removal and the per-device connection limit
 * compare devices, not texts: IPv6 in RFC 5952 form (lower case, longest zero run compressed), and an
 * IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2, which Linux connects over IPv4) as the IPv4 address it
 * reaches. A zone index (`%eth0`) is kept as given.
 */
export function canonicalAddress(text: string): string {
  if (isIP(text) !== 6) return text;
  const [address, zone] = text.split('%', 2);
  const v4 = unmapIpv4(address);
  if (v4 !== address) return v4;
  const canonical = canonicalIp(address);
  return zone === undefined ? canonical : `${canonical}%${zone}`;
}

// RFC 1123 §2.1 host names: labels of letters, digits and hyphens, not starting or ending with a hyphen.
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** Parse one target word (not a file). Throws SCAN_TARGET_INVALID with the offending text. */
export function parseTargetSpec(text: string, ports?: number[]): TargetSpec {
  const s = text.trim();
  const withPorts = <T extends TargetSpec>(spec: T): T => (ports ? { ...spec, ports } : spec);
  if (s.includes('/')) {
    const [base, bitsText] = s.split('/');
    const start = ipv4ToInt(base);
    const bits = Number(bitsText);
    if (start === undefined || !/^\d{1,2}$/.test(bitsText) || bits > 32) throw bad(`${JSON.stringify(text)} is not an IPv4 CIDR block (a.b.c.d/0-32)`);
    const size = 2 ** (32 - bits);
    if (size > MAX_SPEC_ADDRESSES) throw bad(`${text} holds ${size} addresses, more than the ${MAX_SPEC_ADDRESSES} (a /8) allowed per target`);
    const first = start - (start % size);
    return withPorts({ kind: 'range', text: s, first, last: first + size - 1 });
  }
  if (isIP(s) === 4) {
    const n = ipv4ToInt(s)!;
    return withPorts({ kind: 'range', text: s, first: n, last: n });
  }
  if (isIP(s) === 6) {
    const address = canonicalAddress(s);
    if (isIP(address) === 4) {
      const n = ipv4ToInt(address)!;
      return withPorts({ kind: 'range', text: s, first: n, last: n });
    }
    return withPorts({ kind: 'ipv6', text: s, address });
  }
  const dash = s.match(/^(\d+\.\d+\.\d+\.\d+)-(\d+(?:\.\d+\.\d+\.\d+)?)$/);
  if (dash) {
    const first = ipv4ToInt(dash[1]);
    const end = dash[2].includes('.') ? ipv4ToInt(dash[2]) : first === undefined || Number(dash[2]) > 255 ? undefined : first - (first % 256) + Number(dash[2]);
    if (first === undefined || end === undefined || end < first) throw bad(`${JSON.stringify(text)} is not an IPv4 range (a.b.c.d-e or a.b.c.d-w.x.y.z, ascending)`);
    if (end - first + 1 > MAX_SPEC_ADDRESSES) throw bad(`${text} holds more than the ${MAX_SPEC_ADDRESSES} addresses allowed per target`);
    return withPorts({ kind: 'range', text: s, first, last: end });
  }
  if (HOSTNAME.test(s) && !/^[\d.]+$/.test(s)) return withPorts({ kind: 'hostname', text: s, hostname: s.replace(/\.$/, '') });
  throw bad(`${JSON.stringify(text)} is not an address, CIDR block, range, hostname or readable file`);
}

function parsePortField(field: string): number[] {
  // nmap -oG "Ports:" entries: port/state/protocol/owner/service/rpc/version/
  const open: number[] = [];
  for (const entry of field.split(',')) {
    const [port, state, proto] = entry.trim().split('/');
    if (state === 'open' && proto === 'tcp' && /^\d+$/.test(port)) open.push(Number(port));
  }
  return open;
}

/**
 * Parse a targets file. Recognises, line by line: `nmap -oG` / `masscan -oG` ("Host: ADDR (...) Ports: ..."),
 * `masscan -oL` ("open tcp PORT ADDR TIMESTAMP"), and plain target words (comments with #).
 * Open ports from the same host are merged.
 */
export function parseTargetsFile(content: string, source = 'targets file'): TargetSpec[] {
  const plain: TargetSpec[] = [];
  const withPorts = new Map<string, Set<number>>();
  const addPorts = (address: string, ports: number[]) => {
    const set = withPorts.get(address) ?? new Set<number>();
    for (const p of ports) set.add(p);
    withPorts.set(address, set);
  };
  content.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const grep = line.match(/^Host:\s+(\S+)\s+\([^)]*\)\s+(.*)$/);
    if (grep) {
      const ports = grep[2].match(/Ports:\s*(.*?)(\t|$|\s+Ignored State:)/);
      // "Status: Up" lines carry no ports; they add nothing beyond the Ports line of the same host.
      if (ports) addPorts(grep[1], parsePortField(ports[1]));
      return;
    }
    const masscan = line.match(/^open\s+tcp\s+(\d+)\s+(\S+)(\s+\d+)?$/);
    if (masscan) {
      addPorts(masscan[2], [Number(masscan[1])]);
      return;
    }
    if (/^(closed|banner)\s/.test(line)) return;
    for (const word of line.split(/[\s,]+/)) {
      try {
        plain.push(parseTargetSpec(word));
      } catch (err) {
        throw bad(`${source} line ${i + 1}: ${(err as Error).message}`);
      }
    }
  });
  const fromScans = [...withPorts].filter(([, ports]) => ports.size > 0).map(([address, ports]) => {
    try {
      return parseTargetSpec(address, [...ports].sort((a, b) => a - b));
    } catch (err) {
      throw bad(`${source}: ${(err as Error).message}`);
    }
  });
  return [...plain, ...fromScans];
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** A CLI word is a file when it starts with @ or names an existing file; anything else is one spec. */
export function parseTargetArgs(words: string[]): TargetSpec[] {
  const specs: TargetSpec[] = [];
  for (const word of words) {
    const path = word.startsWith('@') ? word.slice(1) : isFile(word) ? word : undefined;
    if (path !== undefined) {
      let content: string;
      try {
        content = readFileSync(path, 'utf8');
      } catch (err) {
        throw new WardgateError('SCAN_TARGET_INVALID', `cannot read targets file ${path}: ${(err as Error).message}`, { cause: err });
      }
      specs.push(...parseTargetsFile(content, path));
    } else {
      specs.push(parseTargetSpec(word));
    }
  }
  return specs;
}

/** The --exclude list: membership test over IPv4 intervals, IPv6 addresses and hostnames. */
export class ExcludeList {
  private ranges: Array<[number, number]> = [];
  private exact = new Set<string>();

  constructor(specs: TargetSpec[] = []) {
    for (const s of specs) {
      if (s.kind === 'range') this.ranges.push([s.first, s.last]);
      else if (s.kind === 'ipv6') this.exact.add(s.address.toLowerCase());
      else this.exact.add(s.hostname.toLowerCase());
    }
  }

  /** Excluded hostnames are also checked against the addresses they resolve to (see resolveExcludes). */
  addAddress(text: string): void {
    const address = canonicalAddress(text);
    const n = ipv4ToInt(address);
    if (n !== undefined) this.ranges.push([n, n]);
    else this.exact.add(address.toLowerCase());
  }

  get hostnames(): string[] {
    return [...this.exact].filter((e) => isIP(e) === 0);
  }

  has(text: string, hostname?: string): boolean {
    if (hostname && this.exact.has(hostname.toLowerCase())) return true;
    const address = canonicalAddress(text);
    const n = ipv4ToInt(address);
    if (n === undefined) return this.exact.has(address.toLowerCase());
    return this.ranges.some(([a, b]) => n >= a && n <= b);
  }
}

/** Resolve excluded hostnames so a device named in --exclude is skipped whatever name or address it is scanned by. */
export async function resolveExcludes(list: ExcludeList, resolve: Resolver = systemResolver): Promise<void> {
  for (const name of list.hostnames) {
    try {
      for (const r of await resolve(name)) list.addAddress(r.address);
    } catch {
      // An unresolvable exclude cannot match a scanned address; the name itself still matches.
    }
  }
}

export interface ShardSpec {
  /** 1-based. */
  index: number;
  count: number;
}

export function parseShard(text: string): ShardSpec {
  const m = text.match(/^(\d+)\/(\d+)$/);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) throw bad(`--shard ${JSON.stringify(text)} must be I/N with 1 <= I <= N`);
  return { index, count };
}

/**
 * Upper bound of the hosts `expandTargets` yields for this shard, before --exclude and duplicate
 * removal (a hostname counts once, whatever it resolves to). Cheap: no expansion, no lookup.
 */
export function countHosts(specs: TargetSpec[], shard?: ShardSpec): number {
  const n = specs.reduce((acc, s) => acc + (s.kind === 'range' ? s.last - s.first + 1 : 1), 0);
  return shard ? Math.ceil(n / shard.count) : n;
}

/**
 * Refuse a run above `maxHosts` addresses before anything is resolved or sent: each spec is capped at
 * a /8, but `10.0.0.0/8 11.0.0.0/8 ...` would otherwise sweep millions of addresses.
 */
export function checkHostCount(specs: TargetSpec[], maxHosts: number, shard?: ShardSpec): number {
  const n = countHosts(specs, shard);
  if (n > maxHosts) {
    const share = shard ? ` in shard ${shard.index}/${shard.count}` : '';
    throw bad(`the targets hold ${n} addresses${share} (counted before --exclude), more than the ${maxHosts} allowed; raise --max-hosts if that is intended`);
  }
  return n;
}

export interface ExpandOptions {
  exclude?: ExcludeList;
  shard?: ShardSpec;
  resolve?: Resolver;
  /**
   * A hostname of this shard resolved to `addresses` distinct addresses (before --exclude): countHosts
   * counted it as one host, so a running total grows by `addresses - 1` here.
   */
  onResolved?: (hostname: string, addresses: number) => void;
}

/**
 * Expand specs into hosts, lazily, skipping excluded ones and those of other shards. Shards are
 * assigned by position in the expansion (host k goes to shard k mod N), so N machines given the same
 * arguments split the work without overlap and with even sizes. A hostname takes one position for
 * all its addresses: resolvers rotate and differ between machines, so per-address positions could
 * put one address in two shards and another in none.
 */
export async function* expandTargets(specs: TargetSpec[], options: ExpandOptions = {}): AsyncGenerator<Target> {
  let position = 0;
  const seen = new Set<string>();
  const mine = () => {
    const k = position++;
    return !options.shard || k % options.shard.count === options.shard.index - 1;
  };
  const resolve = options.resolve ?? systemResolver;
  for (const spec of specs) {
    if (spec.kind === 'range') {
      for (let n = spec.first; n <= spec.last; n++) {
        const address = intToIpv4(n);
        if (seen.has(address)) continue;
        if (spec.last - spec.first < 65536) seen.add(address);
        if (!mine() || options.exclude?.has(address)) continue;
        yield spec.ports ? { address, ports: spec.ports } : { address };
      }
    } else if (spec.kind === 'ipv6') {
      if (seen.has(spec.address)) continue;
      seen.add(spec.address);
      if (!mine() || options.exclude?.has(spec.address)) continue;
      yield spec.ports ? { address: spec.address, ports: spec.ports } : { address: spec.address };
    } else {
      if (!mine()) continue;
      let resolved: Array<{ address: string }>;
      try {
        resolved = await resolve(spec.hostname);
      } catch (err) {
        throw new WardgateError('SCAN_TARGET_INVALID', `cannot resolve ${spec.hostname}: ${(err as Error).message}`, { cause: err });
      }
      if (resolved.length === 0) throw bad(`cannot resolve ${spec.hostname}: no addresses`);
      options.onResolved?.(spec.hostname, new Set(resolved.map((r) => canonicalAddress(r.address))).size);
      // Every address is its own device (a name with an A and an AAAA record, or a round-robin
      // pair, can be two differently configured services). Keyed by name too: the same address by
      // another name, or by no name, is checked against another certificate name.
      for (const r of resolved) {
        const address = canonicalAddress(r.address);
        const key = `${spec.hostname.toLowerCase()} ${address}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (options.exclude?.has(address, spec.hostname)) continue;
        const t: Target = { address, hostname: spec.hostname };
        if (spec.ports) t.ports = spec.ports;
        yield t;
      }
    }
  }
}
