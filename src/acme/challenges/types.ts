/**
 * The contract between the ACME front end and challenge validation (RFC 8555 §8, RFC 8737, RFC 8738).
 * Validation never throws for a failed check: it resolves to a problem the server copies into the
 * challenge's `error`. It rejects only when the caller's AbortSignal fires (with `signal.reason`), so a
 * shutting-down server can leave the challenge `processing` and validate again after restart.
 */

export type ChallengeType = 'http-01' | 'tls-alpn-01' | 'dns-01';

export interface Identifier { type: 'dns' | 'ip'; value: string }

export interface ValidationOptions {
  /** Port http-01 connects to (RFC 8555 §8.3 fixes 80; tests and NAT setups change it). */
  http01Port: number;
  /** Port tls-alpn-01 connects to (RFC 8737 §3 fixes 443). */
  tlsAlpn01Port: number;
  /** 'ADDR:PORT' or 'ADDR' ('[v6]:PORT' for IPv6 with a port); empty = the system's resolvers. */
  dnsResolvers: string[];
  /** CIDRs validation may connect to. Addresses outside are never contacted. */
  allowedNetworks: string[];
  /** Budget of one attempt: DNS, connect, handshake and response together. */
  timeoutMs: number;
  /** Attempts for transient failures (DNS errors, connection failures, timeouts), with a short backoff. */
  attempts: number;
  /**
   * Names answered without DNS: exact names, or `*.suffix` for every name below suffix. Dev mode only
   * (`wardgate dev` maps the reserved `.test` dev domain and `localhost`, RFC 6761, to loopback).
   */
  staticHosts?: Record<string, string[]>;
}

/** RFC 8555 §6.7 problem type suffixes (`urn:ietf:params:acme:error:<type>`). */
export interface ValidationProblem {
  type: 'connection' | 'unauthorized' | 'dns' | 'incorrectResponse' | 'tls' | 'rejectedIdentifier' | 'serverInternal';
  detail: string;
}

export type ValidationResult = { ok: true; addressUsed?: string } | { ok: false; problem: ValidationProblem };

/**
 * Loopback and private ranges only (RFC 1918, RFC 4193 ULA, link-local): a hospital CA validates devices
 * on its own network, and a validator that may reach public addresses can be abused to probe them.
 */
export const DEFAULT_ALLOWED_NETWORKS: readonly string[] = Object.freeze([
  '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', '::1/128', 'fc00::/7', 'fe80::/10',
]);

export const DEFAULT_VALIDATION_OPTIONS: ValidationOptions = Object.freeze({
  http01Port: 80,
  tlsAlpn01Port: 443,
  dnsResolvers: Object.freeze([]) as unknown as string[],
  allowedNetworks: DEFAULT_ALLOWED_NETWORKS as string[],
  timeoutMs: 10_000,
  attempts: 3,
}) as ValidationOptions; // frozen, arrays too: copy (resolveValidationOptions does) before changing
