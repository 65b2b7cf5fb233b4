/**
 * Session ticket key rotation for a TLS listener. OpenSSL makes one random ticket key per secure context
 * and keeps it for the context's life: for a listener whose certificate is a file, the process's. A TLS 1.2
 * ticket (RFC 5077) travels in the clear and holds the session's master secret under that key, so whoever
 * reads the key later decrypts every recorded connection that was given a ticket, its full ECDHE handshake
 * included. Rotating bounds that to one interval (RFC 5077 §5.5, RFC 8446 §4.6.1: keys SHOULD change).
 * Node holds one key, not a previous one too: a ticket issued before a rotation no longer resumes, and
 * its client makes a full handshake instead, nothing fails.
 */
import { randomBytes } from 'node:crypto';
import type tls from 'node:tls';

export const TICKET_KEY_ROTATION_MS = 3_600_000;

/** Applies to the server's current secure context (setSecureContext makes a new one with a fresh key). */
export function rotateTicketKeys(server: tls.Server, everyMs = TICKET_KEY_ROTATION_MS): () => void {
  // 48 bytes: key name, HMAC secret and AES key (tls.Server#setTicketKeys).
  const timer = setInterval(() => server.setTicketKeys(randomBytes(48)), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
