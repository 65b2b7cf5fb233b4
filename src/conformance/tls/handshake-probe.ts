import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import tls from 'node:tls';
import type { Endpoint } from './raw-probe.ts';

export interface HandshakeOptions {
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  ciphers?: string;
  /** Client certificate chain (PEM) and key (PEM) to present, if any. */
  cert?: string;
  key?: string;
  /**
   * How long to keep a completed handshake open to see whether the server rejects it afterwards. In
   * TLS 1.3 the client finishes before the server has checked the client certificate (RFC 8446 §4.4),
   * so a refusal arrives as an alert after 'secureConnect'.
   */
  settleMs: number;
  timeoutMs: number;
  /** Send no SNI even when the endpoint has a name: a server may apply another policy to such clients. */
  withoutSni?: boolean;
}

export interface HandshakeOutcome {
  /** True when the handshake completed and the server kept the connection for settleMs. */
  accepted: boolean;
  protocol?: string;
  cipher?: string;
  /** Set when the handshake failed or the server closed the connection during the settle time. */
  error?: string;
  /**
   * True when the connection ended with neither a completed handshake nor a TLS error or alert from
   * the server: a reset, a close or silence. Such an outcome says nothing unless the endpoint is
   * still answering (tls-node/probe-run.ts checks that).
   */
  abrupt?: boolean;
  /** Set when no TCP connection could be made: the errno code, e.g. ECONNREFUSED. */
  unreachable?: string;
  /** Peer certificate chain as Node reports it, end-entity first. */
  peerChain: X509Certificate[];
}

/**
 * OpenSSL errors arrive as multi-line strings with source paths; evidence needs the alert the server
 * sent ("alert certificate expired (45)") or the first line.
 */
export function describeTlsError(err: NodeJS.ErrnoException): string {
  const alert = /alert ([a-z ]+?)(?::|$)/m.exec(err.message);
  const number = /SSL alert number (\d+)/.exec(err.message);
  if (alert) return `alert ${alert[1].trim()}${number ? ` (${number[1]})` : ''} from the server`;
  return (err.code && err.code !== 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' ? `${err.code}: ` : '') + err.message.split('\n')[0];
}

function peerChain(socket: tls.TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  let cert = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  const seen = new Set<string>();
  while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(new X509Certificate(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}

/**
 * One full TLS handshake with Node's OpenSSL. Server authentication is not enforced here
 * (rejectUnauthorized: false): the kit judges the server chain itself and must still reach the
 * server's client-certificate decision when the server's own certificate is bad.
 */
export function handshakeProbe(endpoint: Endpoint, opts: HandshakeOptions): Promise<HandshakeOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    let secure = false;
    let connected = false;
    let outcome: HandshakeOutcome = { accepted: false, peerChain: [] };
    const name = endpoint.serverName ?? endpoint.host;
    const socket = tls.connect({
      host: endpoint.host,
      port: endpoint.port,
      servername: opts.withoutSni || isIP(name) ? undefined : name,
      rejectUnauthorized: false,
      minVersion: opts.minVersion ?? 'TLSv1.2',
      maxVersion: opts.maxVersion ?? 'TLSv1.3',
      ciphers: opts.ciphers,
      cert: opts.cert,
      key: opts.key,
    });
    const finish = (result: HandshakeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(settleTimer);
      socket.destroy();
      resolve(result);
    };
    let settleTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => finish({ ...outcome, accepted: false, abrupt: !secure, error: `no answer within ${opts.timeoutMs} ms` }), opts.timeoutMs);
    socket.once('connect', () => { connected = true; });
    socket.once('secureConnect', () => {
      secure = true;
      outcome = {
        accepted: false,
        protocol: socket.getProtocol() ?? undefined,
        cipher: socket.getCipher()?.standardName,
        peerChain: peerChain(socket),
      };
      settleTimer = setTimeout(() => finish({ ...outcome, accepted: true }), opts.settleMs);
    });
    socket.on('data', () => { /* application data from the server: ignored, the connection stays accepted */ });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (!connected) {
        finish({ ...outcome, accepted: false, unreachable: err.code ?? err.message, error: `cannot connect: ${err.code ?? err.message}` });
        return;
      }
      // OpenSSL's own errors (ERR_SSL_*) come from TLS bytes the server sent; a socket error does not.
      const fromTls = secure || err.code?.startsWith('ERR_SSL') === true || /alert/i.test(err.message);
      finish({ ...outcome, accepted: false, abrupt: !fromTls, error: `${secure ? 'after the handshake: ' : ''}${describeTlsError(err)}` });
    });
    socket.once('close', () => finish({ ...outcome, accepted: false, abrupt: !secure, error: outcome.error ?? `connection closed ${secure ? 'after the handshake' : 'during the handshake'}` }));
  });
}
