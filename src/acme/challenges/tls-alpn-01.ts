import type net from 'node:net';
import tls from 'node:tls';
import { ipToBytes } from '../../pki/ip.ts';
import { x509 } from '../../pki/x509.ts';
import { connectTcp, socketErrorText } from './connect.ts';
import { failure, hostPort, ValidationFailure } from './failure.ts';
import { keyAuthorizationDigest } from './key-authorization.ts';
import { reverseDnsName } from './reverse-dns.ts';
import { checkIdentifierShape, validationTargets } from './targets.ts';
import type { Identifier, ValidationOptions } from './types.ts';

/** RFC 8737 §6.2 ALPN protocol id and §6.1 id-pe-acmeIdentifier. */
export const ACME_TLS_ALPN = 'acme-tls/1';
export const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';

/** RFC 8737 §3 SNI; RFC 8738 §6: the reverse-DNS name for IP identifiers. */
export function tlsAlpnServerName(identifier: Identifier): string {
  return identifier.type === 'ip' ? reverseDnsName(identifier.value) : identifier.value.replace(/\.$/, '').toLowerCase();
}

function handshake(socket: net.Socket, servername: string, signal: AbortSignal, timeoutMs: number, where: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    // RFC 8737 §3: TLS 1.2 or higher, ALPN offering only acme-tls/1, SNI set. The certificate is
    // self-signed by design, so chain validation is off; the checks below are the whole trust decision.
    const conn = tls.connect({ socket, servername, ALPNProtocols: [ACME_TLS_ALPN], rejectUnauthorized: false, minVersion: 'TLSv1.2' });
    const onAbort = () => {
      conn.destroy();
      reject(failure('connection', `timed out after ${timeoutMs} ms in the TLS handshake with ${where}`, true));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    conn.once('secureConnect', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(conn);
    });
    conn.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      conn.destroy();
      reject(failure('tls', `TLS handshake with ${where} failed: ${socketErrorText(err)}`, true));
    });
  });
}

function sameIp(a: string, b: string): boolean {
  try {
    const x = ipToBytes(a); const y = ipToBytes(b);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  } catch {
    return false;
  }
}

/**
 * RFC 8737 §3 checks on the presented certificate: a subjectAltName with exactly the one identifier
 * (dNSName, or iPAddress for RFC 8738 §6), and a critical acmeIdentifier extension whose value is the
 * DER OCTET STRING of SHA-256(keyAuthorization).
 */
export function checkAcmeTlsCertificate(der: Uint8Array, identifier: Identifier, keyAuthorization: string, where: string): void {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der as Uint8Array<ArrayBuffer>);
  } catch (err) {
    throw failure('incorrectResponse', `${where} presented a certificate that cannot be parsed: ${(err as Error).message}`);
  }
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.items ?? [];
  const shown = names.map((n) => `${n.type}:${n.value}`).join(', ') || 'none';
  const wantType = identifier.type === 'ip' ? 'ip' : 'dns';
  const matches = names.length === 1 && names[0].type === wantType
    && (wantType === 'ip' ? sameIp(names[0].value, identifier.value) : names[0].value.toLowerCase() === tlsAlpnServerName(identifier));
  if (!matches) {
    throw failure('incorrectResponse', `${where} presented a certificate whose subjectAltName is [${shown}]; RFC 8737 §3 requires exactly one ${wantType === 'ip' ? 'iPAddress' : 'dNSName'} ${identifier.value}`);
  }
  const ext = cert.extensions.find((e) => e.type === ACME_IDENTIFIER_OID);
  if (!ext) throw failure('incorrectResponse', `${where} presented a certificate without the acmeIdentifier extension (${ACME_IDENTIFIER_OID}, RFC 8737 §3)`);
  if (!ext.critical) throw failure('incorrectResponse', `${where} presented an acmeIdentifier extension that is not critical (RFC 8737 §3 requires critical)`);
  const value = Buffer.from(ext.value);
  const digest = keyAuthorizationDigest(keyAuthorization);
  if (value.length !== 34 || value[0] !== 0x04 || value[1] !== 0x20) {
    throw failure('incorrectResponse', `${where} presented an acmeIdentifier value that is not a 32-byte OCTET STRING (got ${value.toString('hex')})`);
  }
  if (!value.subarray(2).equals(digest)) {
    throw failure('unauthorized', `${where} presented acmeIdentifier ${value.subarray(2).toString('hex')}, not SHA-256 of the key authorization (${digest.toString('hex')})`);
  }
}

/** RFC 8737 §3: connect to each allowed address in turn until one completes a handshake; that answer is final. */
export async function validateTlsAlpn01(identifier: Identifier, _token: string, keyAuthorization: string, opts: ValidationOptions, signal: AbortSignal): Promise<string> {
  checkIdentifierShape(identifier);
  const targets = await validationTargets(identifier, opts, signal);
  const servername = tlsAlpnServerName(identifier);
  const failures: string[] = [];
  for (const address of targets.addresses) {
    const where = `${hostPort(address, opts.tlsAlpn01Port)} (SNI ${servername})`;
    let socket: net.Socket;
    try {
      socket = await connectTcp(address, opts.tlsAlpn01Port, signal, opts.timeoutMs);
    } catch (err) {
      if (!(err instanceof ValidationFailure) || signal.aborted) throw err;
      failures.push(err.problem.detail);
      continue;
    }
    let conn: tls.TLSSocket | undefined;
    try {
      conn = await handshake(socket, servername, signal, opts.timeoutMs, where);
      if (conn.alpnProtocol !== ACME_TLS_ALPN) {
        throw failure('tls', `${where} did not negotiate ALPN "${ACME_TLS_ALPN}" (got ${conn.alpnProtocol ? `"${conn.alpnProtocol}"` : 'no ALPN'}): the device is not answering the tls-alpn-01 challenge`);
      }
      const peer = conn.getPeerCertificate(false);
      if (!peer?.raw) throw failure('tls', `${where} presented no certificate`);
      checkAcmeTlsCertificate(peer.raw, identifier, keyAuthorization, where);
      return address;
    } finally {
      conn?.destroy();
      socket.destroy();
    }
  }
  throw failure('connection', `tls-alpn-01 for ${identifier.value}: ${failures.join('; ')}${targets.note}`, true);
}
