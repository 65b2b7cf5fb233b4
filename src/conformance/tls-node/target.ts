import { isIP } from 'node:net';
import { WardgateError } from '../../errors.ts';
import type { Endpoint } from '../tls/raw-probe.ts';

/** Parses ADDR:PORT, [IPv6]:PORT or NAME:PORT. */
export function parseTarget(text: string, serverName?: string): Endpoint {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text) ?? /^([^:\s]+):(\d+)$/.exec(text);
  if (!m) throw new WardgateError('CLI_ARGUMENT', `target "${text}" is not ADDR:PORT (IPv6 as [ADDR]:PORT)`);
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new WardgateError('CLI_ARGUMENT', `target port ${m[2]} is not 1-65535`);
  const host = m[1];
  if (text.startsWith('[') && isIP(host) !== 6) throw new WardgateError('CLI_ARGUMENT', `"${host}" is not an IPv6 address`);
  return { host, port, ...(serverName ? { serverName } : {}) };
}
