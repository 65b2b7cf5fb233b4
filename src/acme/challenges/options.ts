import { isIP } from 'node:net';
import { WardgateError } from '../../errors.ts';
import { parseNetworks } from './networks.ts';
import { DEFAULT_VALIDATION_OPTIONS, type ValidationOptions } from './types.ts';

function checkPort(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1 || v > 65535) throw new WardgateError('CLI_ARGUMENT', `${name} must be a TCP port (1-65535), got ${v}`);
}

/** 'ADDR', 'ADDR:PORT' (IPv4) or '[V6]:PORT' / bare 'V6', as node:dns setServers accepts them. */
function checkResolver(entry: string): void {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(entry) ?? /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(entry);
  const addr = m ? m[1] : entry;
  if (!isIP(addr) || (m && (Number(m[2]) < 1 || Number(m[2]) > 65535))) {
    throw new WardgateError('CLI_ARGUMENT', `--dns-resolver "${entry}" is not ADDR or ADDR:PORT (IPv6 with a port: [ADDR]:PORT)`);
  }
}

/**
 * Fills in defaults and checks every field, so a bad flag stops `serve` at start instead of failing every
 * validation later. Throws WardgateError CLI_ARGUMENT naming the bad value.
 */
export function resolveValidationOptions(partial: Partial<ValidationOptions> = {}): ValidationOptions {
  const opts: ValidationOptions = { ...DEFAULT_VALIDATION_OPTIONS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) };
  checkPort('--http01-port', opts.http01Port);
  checkPort('--tlsalpn01-port', opts.tlsAlpn01Port);
  opts.dnsResolvers.forEach(checkResolver);
  parseNetworks(opts.allowedNetworks);
  if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs < 1) throw new WardgateError('CLI_ARGUMENT', `validation timeout must be a positive number of milliseconds, got ${opts.timeoutMs}`);
  if (!Number.isInteger(opts.attempts) || opts.attempts < 1 || opts.attempts > 10) throw new WardgateError('CLI_ARGUMENT', `validation attempts must be 1-10, got ${opts.attempts}`);
  return { ...opts, dnsResolvers: [...opts.dnsResolvers], allowedNetworks: [...opts.allowedNetworks] };
}
