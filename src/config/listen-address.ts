import { isIP } from 'node:net';
import { WardgateError } from '../errors.ts';

export interface ListenAddress { host: string; port: number }

/** Parses ADDR:PORT (IPv6 as [ADDR]:PORT); a bad value names the option it came from. */
export function parseListenAddress(text: string, option: string): ListenAddress {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\s]+):(\d{1,5})$/.exec(text);
  if (!m) throw new WardgateError('CLI_ARGUMENT', `${option} "${text}" is not ADDR:PORT (e.g. 127.0.0.1:14000 or [::1]:14000)`);
  const port = Number(m[2]);
  if (port > 65535) throw new WardgateError('CLI_ARGUMENT', `${option} "${text}": port ${port} is above 65535`);
  return { host: m[1], port };
}

export function hostForUrl(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}
