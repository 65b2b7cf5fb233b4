/**
 * Route configuration: the typed form of route-schema.ts, loading `--config FILE`, and address parsing.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { WardgateError } from '../errors.ts';
import { isLoopback } from '../net/loopback.ts';
import { unusableCharset } from '../protocols/hl7/charset.ts';
import { gatewaySchema, routeSchema } from './route-schema.ts';
import { checkSchema, parseJsonFile } from './schema-check.ts';

export type Direction = 'inbound' | 'outbound';
export type Protocol = 'dicom' | 'hl7';
export type ClientAuth = 'required' | 'optional' | 'none';

export interface AllowRule {
  peerSubjects?: string[];
  peerSans?: string[];
  peerAddresses?: string[];
  callingAeTitles?: string[];
  calledAeTitles?: string[];
  sendingApplications?: string[];
  sendingFacilities?: string[];
  messageTypes?: string[];
}

export interface AcmeSettings {
  directory: string;
  names: string[];
  email?: string;
  stateDir?: string;
  directoryCa?: string;
  http01Listen?: string;
}

export interface RouteLimits {
  maxConnections: number;
  maxConnectionsPerPeer: number;
  handshakeTimeoutMs: number;
  artimTimeoutMs: number;
  idleTimeoutMs: number;
  maxPduLength: number;
  maxFrameSize: number;
  frameTimeoutMs: number;
  ackTimeoutMs: number;
}

export interface RouteConfig {
  name: string;
  direction: Direction;
  protocol: Protocol;
  listen: string;
  upstream: string;
  tls: {
    cert?: string[];
    key?: string[];
    ca: string;
    crl?: string;
    profile: string;
    clientAuth?: ClientAuth;
    serverName?: string;
    acme?: AcmeSettings;
  };
  allow?: AllowRule[];
  /** Move destination AE title -> inbound route carrying the reverse association. */
  moveDestinations?: Record<string, string>;
  hl7?: Hl7Settings;
  limits: RouteLimits;
}

export interface Hl7Settings {
  /** The receiver's character set when MSH-18 is empty (HL7 Table 0211 value or encoding label). */
  defaultCharset?: string;
}

export interface SyslogSettings {
  address: string;
  ca: string;
  cert?: string;
  key?: string;
  serverName?: string;
  /** Longest syslog message the collector accepts (octets); default 8096, rsyslog's default maxMessageSize. */
  maxMessageBytes?: number;
  /** First reconnection delay (ms); doubles per failed attempt. */
  reconnectMs?: number;
  /** Records sent within this many ms before an unexpected close are sent again. */
  resendWindowMs?: number;
}

export interface GatewayConfig {
  routes: RouteConfig[];
  audit?: { file?: string; syslog?: SyslogSettings; sourceId?: string };
  metrics?: { listen: string; tokenFile?: string };
}

export interface HostPort {
  host: string;
  port: number;
}

export function parseAddress(text: string, what = 'address'): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new WardgateError('CONFIG_INVALID', `${what} "${text}" is not HOST:PORT with a port in 1..65535`);
  return { host: m[1] ?? m[2], port };
}

/** Semantic checks the schema cannot express; `where` prefixes messages with the file. */
function checkRoute(route: RouteConfig, where: string, index: number): void {
  const field = (f: string) => `${where}: field "routes.${index}.${f}" (route "${route.name}")`;
  parseAddress(route.listen, field('listen'));
  parseAddress(route.upstream, field('upstream'));
  const { cert = [], key = [], acme } = route.tls;
  if (!acme && cert.length === 0) throw new WardgateError('CONFIG_INVALID', `${field('tls.cert')} is required unless tls.acme is set`);
  if (acme && cert.length > 0) throw new WardgateError('CONFIG_INVALID', `${field('tls.acme')} and tls.cert are exclusive`);
  if (cert.length !== key.length) throw new WardgateError('CONFIG_INVALID', `${field('tls.key')} must list one key per certificate (${cert.length} cert, ${key.length} key)`);
  if (route.tls.clientAuth && route.direction === 'outbound') {
    throw new WardgateError('CONFIG_INVALID', `${field('tls.clientAuth')} applies to inbound routes only (outbound presents the certificate as a client)`);
  }
  if (acme?.http01Listen) parseAddress(acme.http01Listen, field('tls.acme.http01Listen'));
  if (route.hl7 && route.protocol !== 'hl7') throw new WardgateError('CONFIG_INVALID', `${field('hl7')} applies to HL7 routes only`);
  (route.allow ?? []).forEach((rule, r) => checkAllowRule(rule, route, (f) => field(`allow.${r}.${f}`)));
  const charset = route.hl7?.defaultCharset;
  const unusable = charset === undefined ? undefined : unusableCharset(charset);
  if (unusable) throw new WardgateError('CONFIG_INVALID', `${field('hl7.defaultCharset')}: ${unusable}`);
}

const DICOM_ONLY = ['callingAeTitles', 'calledAeTitles'] as const;
const HL7_ONLY = ['sendingApplications', 'sendingFacilities', 'messageTypes'] as const;
const CERTIFICATE_FIELDS = ['peerSubjects', 'peerSans'] as const;

/**
 * A condition the route can never evaluate is refused, not ignored: a rule's absent conditions match
 * everything, so `callingAeTitles` on an HL7 route (or `messageTypes` on a DICOM one) would silently admit
 * every peer the admin meant to restrict. Certificate conditions on an outbound route, or an inbound one
 * that asks for no client certificate, would instead never match, refusing everything: named too.
 */
function checkAllowRule(rule: AllowRule, route: RouteConfig, field: (f: string) => string): void {
  // A zone ID names an interface of this host, not the peer; matching drops the peer's zone, so a rule's would be ignored.
  const zoned = (rule.peerAddresses ?? []).find((a) => isIP(a) === 6 && a.includes('%'));
  if (zoned) throw new WardgateError('CONFIG_INVALID', `${field('peerAddresses')} "${zoned}" carries a zone ID (%...): write the address alone`);
  const foreign = route.protocol === 'hl7' ? DICOM_ONLY : HL7_ONLY;
  for (const f of foreign) {
    if (rule[f]) throw new WardgateError('CONFIG_INVALID', `${field(f)} is ${route.protocol === 'hl7' ? 'a DICOM' : 'an HL7'} condition; this route speaks ${route.protocol.toUpperCase()}, where it would match every peer`);
  }
  if (route.direction === 'outbound') {
    for (const f of CERTIFICATE_FIELDS) {
      if (rule[f]) throw new WardgateError('CONFIG_INVALID', `${field(f)} needs a client certificate, and the clients of an outbound route are plaintext: use peerAddresses`);
    }
  } else if (route.tls.clientAuth === 'none') {
    for (const f of CERTIFICATE_FIELDS) {
      if (rule[f]) throw new WardgateError('CONFIG_INVALID', `${field(f)} needs a client certificate, and tls.clientAuth "none" asks for none: set clientAuth to "required" or use peerAddresses`);
    }
  }
}

/** Validate a whole gateway config object; errors name `file` and the field. */
export function validateGatewayConfig(data: unknown, file: string): GatewayConfig {
  const config = checkSchema<GatewayConfig>(gatewaySchema, data, file);
  const names = new Set<string>();
  config.routes.forEach((route, i) => {
    if (names.has(route.name)) throw new WardgateError('CONFIG_INVALID', `${file}: field "routes.${i}.name" repeats route name "${route.name}"`);
    names.add(route.name);
    checkRoute(route, file, i);
  });
  // Reverse associations (C-MOVE sub-operations) must come back through a TLS-terminating route.
  config.routes.forEach((route, i) => {
    for (const [ae, target] of Object.entries(route.moveDestinations ?? {})) {
      const back = config.routes.find((r) => r.name === target);
      if (!back) throw new WardgateError('CONFIG_INVALID', `${file}: field "routes.${i}.moveDestinations.${ae}" names route "${target}", which does not exist`);
      if (back.direction !== 'inbound' || back.protocol !== 'dicom') {
        throw new WardgateError('CONFIG_INVALID', `${file}: field "routes.${i}.moveDestinations.${ae}" names route "${target}", which is not an inbound DICOM route`);
      }
    }
  });
  if (config.audit?.syslog) parseAddress(config.audit.syslog.address, `${file}: field "audit.syslog.address"`);
  if (config.metrics) {
    const { host } = parseAddress(config.metrics.listen, `${file}: field "metrics.listen"`);
    if (!config.metrics.tokenFile && !isLoopback(host)) {
      throw new WardgateError('CONFIG_INVALID', `${file}: field "metrics.tokenFile" is required when "metrics.listen" (${config.metrics.listen}) is not a loopback address: the endpoint would be open to the network`);
    }
  }
  return config;
}

/** The metrics bearer token from its file (trimmed); short tokens are refused. */
export function readMetricsToken(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new WardgateError('CONFIG_INVALID', `metrics token file ${file} cannot be read: ${(err as Error).message}`);
  }
  if (token.length < 16 || /\s/.test(token)) throw new WardgateError('CONFIG_INVALID', `metrics token in ${file} must be at least 16 characters without whitespace (e.g. openssl rand -hex 32 > ${file})`);
  return token;
}

/** Validate one route built from the command line (the CLI names flags, not JSON fields). */
export function validateRoute(data: unknown, where = 'command line'): RouteConfig {
  const route = checkSchema<RouteConfig>(routeSchema, data, where);
  checkRoute(route, where, 0);
  return route;
}

export function loadGatewayConfig(file: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new WardgateError('CONFIG_INVALID', `${file}: cannot read (${(err as Error).message})`);
  }
  return validateGatewayConfig(parseJsonFile(file, text), file);
}

/** PS3.8 / HL7 clients expect clientAuth required on inbound routes unless the config says otherwise. */
export function effectiveClientAuth(route: RouteConfig): ClientAuth {
  return route.tls.clientAuth ?? (route.direction === 'inbound' ? 'required' : 'none');
}
