import type net from 'node:net';
import tls from 'node:tls';
import { checkAcmeTlsCertificate } from './acme-tls-certificate.ts';
import { connectFirst, socketErrorText } from './connect.ts';
import { failure, ValidationFailure } from './failure.ts';
import { hostPort } from '../../net/host-port.ts';
import { reverseDnsName } from './reverse-dns.ts';
import { checkIdentifierShape, validationTargets } from './targets.ts';
import type { Identifier, ValidationOptions } from './types.ts';

/** RFC 8737 §6.2 ALPN protocol id. */
export const ACME_TLS_ALPN = 'acme-tls/1';

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

/** RFC 8737 §3: a handshake with the first allowed address that accepts a connection (connectFirst); that answer is final. */
export async function validateTlsAlpn01(identifier: Identifier, _token: string, keyAuthorization: string, opts: ValidationOptions, signal: AbortSignal): Promise<string> {
  checkIdentifierShape(identifier);
  const targets = await validationTargets(identifier, opts, signal);
  const servername = tlsAlpnServerName(identifier);
  const { socket, address } = await connectFirst(targets.addresses, opts.tlsAlpn01Port, signal, opts.timeoutMs).catch((err: unknown) => {
    if (!(err instanceof ValidationFailure) || signal.aborted) throw err;
    throw failure('connection', `tls-alpn-01 for ${identifier.value}: ${err.problem.detail}${targets.note}`, true);
  });
  const where = `${hostPort(address, opts.tlsAlpn01Port)} (SNI ${servername})`;
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
