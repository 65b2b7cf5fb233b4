import { Resolver } from 'node:dns/promises';
import { failure, ValidationFailure } from './failure.ts';
import type { ValidationOptions } from './types.ts';

/** c-ares codes that mean "the name or record does not exist" rather than "DNS is broken". */
const ABSENT = new Set(['ENODATA', 'ENOTFOUND']);

const DESCRIPTIONS: Record<string, string> = {
  ENODATA: 'no records of that type', ENOTFOUND: 'the name does not exist (NXDOMAIN)', ETIMEOUT: 'the resolver did not answer',
  ESERVFAIL: 'the resolver answered SERVFAIL', EREFUSED: 'the resolver refused the query', ECONNREFUSED: 'the resolver is not listening',
  EBADRESP: 'the resolver sent a malformed reply', ECANCELLED: 'timed out',
};

function describe(err: unknown): { code: string; text: string } {
  const code = (err as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
  return { code, text: `${code}: ${DESCRIPTIONS[code] ?? (err as Error).message}` };
}

function resolversText(opts: ValidationOptions): string {
  return opts.dnsResolvers.length ? `resolver ${opts.dnsResolvers.join(', ')}` : 'the system resolvers';
}

/**
 * A resolver bound to the configured servers (hospital DNS, split horizon). Node's setServers accepts
 * 'ADDR', 'ADDR:PORT' and '[V6]:PORT'. One try per query: attempts are counted by the caller.
 */
export function createResolver(opts: ValidationOptions): Resolver {
  const resolver = new Resolver({ timeout: Math.max(1, opts.timeoutMs), tries: 1 });
  if (opts.dnsResolvers.length) resolver.setServers(opts.dnsResolvers);
  return resolver;
}

/** Runs one query, cancelling it when the attempt's signal fires. */
async function query<T>(resolver: Resolver, signal: AbortSignal, run: () => Promise<T>): Promise<T> {
  if (signal.aborted) throw Object.assign(new Error('aborted'), { code: 'ECANCELLED' });
  const cancel = () => resolver.cancel();
  signal.addEventListener('abort', cancel, { once: true });
  try {
    return await run();
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}

/** The configured addresses of a name (exact entry first, then the longest matching `*.suffix`). */
export function staticAddresses(name: string, hosts: Record<string, string[]> | undefined): string[] | undefined {
  if (!hosts) return undefined;
  const n = name.toLowerCase().replace(/\.$/, '');
  if (hosts[n]) return hosts[n];
  let best: string | undefined;
  for (const key of Object.keys(hosts)) {
    if (key.startsWith('*.') && n.endsWith(key.slice(1)) && (!best || key.length > best.length)) best = key;
  }
  return best ? hosts[best] : undefined;
}

/**
 * A and AAAA records of a name (RFC 8555 §8.3 and §8.4 look the name up in DNS). IPv4 first: hospital
 * intranets are IPv4 first, and a device with a stale AAAA record should not cost an attempt.
 */
export async function resolveAddresses(name: string, opts: ValidationOptions, signal: AbortSignal): Promise<string[]> {
  const fixed = staticAddresses(name, opts.staticHosts);
  if (fixed) return fixed;
  const resolver = createResolver(opts);
  const [v4, v6] = await Promise.allSettled([
    query(resolver, signal, () => resolver.resolve4(name)),
    query(resolver, signal, () => resolver.resolve6(name)),
  ]);
  const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
  if (addresses.length) return addresses;
  const errors = [v4, v6].map((r) => (r.status === 'rejected' ? describe(r.reason) : { code: 'ENODATA', text: 'ENODATA: no records of that type' }));
  const absent = errors.every((e) => ABSENT.has(e.code));
  const detail = `DNS lookup of ${name} via ${resolversText(opts)} found no address: A ${errors[0].text}; AAAA ${errors[1].text}`;
  throw failure('dns', detail, !absent);
}

/** TXT records of a name, each record's strings joined (RFC 7208 §3.3 style concatenation). */
export async function resolveTxtRecords(name: string, opts: ValidationOptions, signal: AbortSignal): Promise<string[]> {
  const resolver = createResolver(opts);
  try {
    const records = await query(resolver, signal, () => resolver.resolveTxt(name));
    return records.map((chunks) => chunks.join(''));
  } catch (err) {
    if (err instanceof ValidationFailure) throw err;
    const e = describe(err);
    if (ABSENT.has(e.code)) return [];
    throw failure('dns', `DNS TXT lookup of ${name} via ${resolversText(opts)} failed: ${e.text}`, true);
  }
}
