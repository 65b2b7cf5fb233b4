/**
 * TLS handshakes that can see what a legacy device accepts. Node refuses TLS 1.0/1.1 and weak suites
 * by default; the prober lowers OpenSSL's security level (`@SECLEVEL=0`) and the minimum version so
 * that such a handshake completes and can be reported. Node 20 bundles OpenSSL 3.0 without the legacy
 * provider and without 3DES, so the questions "TLS 1.0/1.1?" and "weak suites?" are asked with raw
 * ClientHellos instead (raw-hello.ts); this handshake records what the device negotiates by default.
 */
import { X509Certificate } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import { closeSocket } from './connection.ts';

export interface HandshakeInfo {
  /** TLSv1.0 .. TLSv1.3 (Node reports TLS 1.0 as "TLSv1"; normalised). */
  version: string;
  /** OpenSSL cipher name. */
  cipher: string;
  /** Leaf first, as presented (deduplicated). */
  chain: X509Certificate[];
}

export type HandshakeResult =
  | { ok: true; socket: tls.TLSSocket; info: HandshakeInfo }
  | { ok: false; reason: 'refused' | 'timeout' | 'not-tls' | 'unreachable' | 'error'; message: string };

/** Offer everything OpenSSL 3.0 can still speak: TLS 1.0-1.3, all suites at security level 0. */
export const PERMISSIVE = { minVersion: 'TLSv1', maxVersion: 'TLSv1.3', ciphers: 'ALL:@SECLEVEL=0' } as const;
export interface HandshakeOptions {
  minVersion: tls.SecureVersion;
  maxVersion: tls.SecureVersion;
  ciphers: string;
}

export function normaliseVersion(v: string | null): string {
  if (v === 'TLSv1') return 'TLSv1.0';
  return v ?? 'unknown';
}

function peerChain(socket: tls.TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  const seen = new Set<string>();
  let cert = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    out.push(new X509Certificate(cert.raw));
    cert = cert.issuerCertificate;
  }
  return out;
}

export function upgrade(raw: net.Socket, hostname: string | undefined, options: HandshakeOptions, timeoutMs: number): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      socket: raw,
      // RFC 6066 §3: SNI carries host names only, never addresses.
      servername: hostname,
      rejectUnauthorized: false,
      minVersion: options.minVersion,
      maxVersion: options.maxVersion,
      ciphers: options.ciphers,
      // The prober presents no client certificate; a server that requires one still shows its own.
    });
    const timer = setTimeout(() => fail('timeout', `no TLS handshake within ${timeoutMs} ms`), timeoutMs);
    let done = false;
    function fail(reason: 'timeout' | 'not-tls' | 'error', message: string) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      raw.destroy();
      resolve({ ok: false, reason, message });
    }
    socket.once('secureConnect', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      try {
        resolve({ ok: true, socket, info: { version: normaliseVersion(socket.getProtocol()), cipher: socket.getCipher()?.name ?? 'unknown', chain: peerChain(socket) } });
      } catch (err) {
        void closeSocket(socket);
        resolve({ ok: false, reason: 'error', message: `unreadable peer certificate: ${(err as Error).message}` });
      }
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      // A plaintext service answers a ClientHello with non-TLS bytes or a close; both mean "not TLS here".
      const text = `${err.code ?? ''} ${err.message}`;
      // "excessive message size": a well-formed TLS handshake message above OpenSSL's 100 KiB
      // certificate-list limit (a huge chain): the peer speaks TLS, we just cannot read its chain.
      const alert = /alert|handshake failure|no protocols available|unsupported protocol|no shared cipher|version|excessive message size/i.test(text) && !/wrong version number/i.test(text);
      fail(alert ? 'error' : 'not-tls', err.message);
    });
    socket.once('close', () => fail('not-tls', 'connection closed during the TLS handshake'));
  });
}
