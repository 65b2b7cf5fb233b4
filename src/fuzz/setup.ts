/**
 * From command-line style options to a ready target: a peer at an address (optionally started by
 * `--spawn`), or a gateway route from a config with its instrumented backend. Also derives the
 * generators' dictionaries from the route's allow rules, so the fuzzer mixes admitted and refused
 * AE titles and MSH values, and the policy oracle knows what must be refused.
 */
import { readFileSync } from 'node:fs';
import { WardgateError } from '../errors.ts';
import { type AllowRule, loadGatewayConfig, parseAddress } from '../proxy/route-config.ts';
import type { DicomDictionary } from './dicom-generator.ts';
import type { Protocol, Side } from './exchange.ts';
import type { Hl7Dictionary } from './hl7-generator.ts';
import type { FuzzPeer } from './oracles.ts';
import { RouteTarget } from './route-target.ts';
import { type LookupAll, checkScope } from './scope.ts';
import { AddressTarget, type FuzzTarget, SpawnTarget } from './target.ts';

export interface TargetFlags {
  target?: string;
  protocol?: string;
  spawn?: string;
  route?: string;
  config?: string;
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  lab?: boolean;
  side?: string;
  inProcess?: boolean;
  /** With inProcess: the gateway on a worker thread of this process (route-target.ts). */
  thread?: boolean;
  /** Route targets: the TLS-free harness (route-target.ts, route.ts WithoutTls). */
  plaintext?: boolean;
  /** Tests: how --target names resolve for the scope check (scope.ts). */
  lookup?: LookupAll;
}

export interface PreparedTarget {
  target: FuzzTarget;
  protocol: Protocol;
  sides: Side[];
  policy?: { rules?: AllowRule[]; peer: FuzzPeer };
  dicom?: DicomDictionary;
  hl7?: Hl7Dictionary;
}

function invalid(message: string): WardgateError {
  return new WardgateError('CLI_ARGUMENT', message);
}

/** `60s`, `2m`, `500ms`, `1h`, or a bare number of seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw invalid(`--duration "${text}" is not a duration like 60s, 5m or 500ms`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000));
}

export function parseSeed(text: string | undefined): number {
  if (text === undefined) return (Date.now() ^ (process.pid << 16)) >>> 0;
  if (!/^\d{1,10}$/.test(text) || Number(text) > 0xffffffff) throw invalid(`--seed "${text}" is not an integer in 0..4294967295`);
  return Number(text);
}

function readPem(file: string | undefined, what: string): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

function unionOf(rules: AllowRule[] | undefined, pick: (r: AllowRule) => string[] | undefined): string[] {
  return [...new Set((rules ?? []).flatMap((r) => pick(r) ?? []))];
}

/** Values the route admits, plus a default when the rules say nothing (everything is admitted then). */
export function dictionariesFor(rules: AllowRule[] | undefined): { dicom: DicomDictionary; hl7: Hl7Dictionary } {
  const or = (list: string[], fallback: string) => (list.length > 0 ? list : [fallback]);
  return {
    dicom: { callingAeTitles: or(unionOf(rules, (r) => r.callingAeTitles), 'FUZZSCU'), calledAeTitles: or(unionOf(rules, (r) => r.calledAeTitles), 'ANY-SCP') },
    hl7: { sendingApplications: or(unionOf(rules, (r) => r.sendingApplications), 'FUZZAPP'), sendingFacilities: or(unionOf(rules, (r) => r.sendingFacilities), 'FUZZFAC'), messageTypes: or(unionOf(rules, (r) => r.messageTypes), 'ADT^A01') },
  };
}

function sidesOf(flag: string | undefined, fallback: Side[]): Side[] {
  if (flag === undefined) return fallback;
  if (flag === 'client' || flag === 'server') return [flag];
  if (flag === 'both') return ['client', 'server'];
  throw invalid(`--side "${flag}" is not client, server or both`);
}

export function prepareTarget(o: TargetFlags): PreparedTarget {
  if (o.route) {
    if (!o.config) throw invalid('--route needs --config FILE (the gateway config that defines the route)');
    if (o.target || o.spawn) throw invalid('--route and --target/--spawn are exclusive');
    const config = loadGatewayConfig(o.config);
    const target = new RouteTarget({ config, configFile: o.config, route: o.route, identity: { cert: readPem(o.cert, 'certificate'), key: readPem(o.key, 'key'), ca: readPem(o.ca, 'trust bundle') }, inProcess: o.inProcess, thread: o.thread, lab: o.lab, plaintext: o.plaintext });
    const rules = target.route.allow;
    const sides = sidesOf(o.side, target.route.direction === 'outbound' ? ['client', 'server'] : ['client']);
    if (sides.includes('server') && !target.backend) throw invalid('--side server needs a route target');
    return { target, protocol: target.protocol, sides, policy: { rules, peer: target.peer() }, ...dictionariesFor(rules) };
  }
  if (!o.target) throw invalid('give --route NAME --config FILE, or --target ADDR:PORT --protocol dicom|hl7');
  if (o.plaintext) throw invalid('--plaintext applies to --route targets (a --target without --tls is fuzzed in plaintext already)');
  if (o.protocol !== 'dicom' && o.protocol !== 'hl7') throw invalid('--target needs --protocol dicom or hl7');
  let at;
  try {
    at = parseAddress(o.target, '--target');
  } catch (err) {
    throw invalid((err as Error).message);
  }
  checkScope(at.host, Boolean(o.lab));
  if (o.side && o.side !== 'client') throw invalid('--side server needs a route target (the fuzzer plays the server behind the route)');
  const wantTls = o.tls || Boolean(o.cert);
  if (o.cert && !o.key) throw invalid('--cert needs --key');
  const endpoint = { host: at.host, port: at.port, ...(wantTls ? { tls: { ca: readPem(o.ca, 'trust bundle'), cert: readPem(o.cert, 'certificate'), key: readPem(o.key, 'key'), servername: at.host } } : {}) };
  // The synchronous check above refuses by spelling; the target resolves a name before it connects.
  const scope = { lab: Boolean(o.lab), lookup: o.lookup };
  const target = o.spawn ? new SpawnTarget(o.protocol, endpoint, o.spawn, undefined, scope) : new AddressTarget(o.protocol, endpoint, scope);
  return { target, protocol: o.protocol, sides: ['client'], ...dictionariesFor(undefined) };
}
