/**
 * What a failed TLS handshake in the untrusted-server phase shows about the client (ICM-ENR-002). Only
 * two outcomes prove that the client checked the server certificate: an alert about the certificate
 * (RFC 8446 §6.2, RFC 5246 §7.2.2), or a hang-up after the server's certificate flight. A failure the
 * server detected while negotiating (cipher, version, plain HTTP) happens before any certificate is
 * judged, and a hang-up before the server said anything proves nothing.
 */
import type { RecordedTlsFailure } from './exchange.ts';

/** TLS alerts a client sends when it rejects the peer's certificate, keyed by alert number. */
export const CERTIFICATE_ALERTS: Readonly<Record<number, string>> = {
  42: 'bad_certificate', 43: 'unsupported_certificate', 44: 'certificate_revoked', 45: 'certificate_expired', 46: 'certificate_unknown', 48: 'unknown_ca',
};

/** OpenSSL 3 reason strings of the same alerts as the server sees them ("sslv3 alert bad certificate" ...). */
const OPENSSL_ALERT_REASONS: ReadonlyArray<[RegExp, number]> = [
  [/alert bad certificate/, 42], [/alert unsupported certificate/, 43], [/alert certificate revoked/, 44],
  [/alert certificate expired/, 45], [/alert certificate unknown/, 46], [/alert unknown ca/, 48],
];

/** Server-side OpenSSL reasons of a negotiation that failed before any certificate was judged. */
const NEGOTIATION = /no shared cipher|unsupported protocol|wrong version number|http request|https proxy request|version too low|unknown protocol|no shared signature algorithms|no suitable signature algorithm|no suitable key share|inappropriate fallback|unsafe legacy renegotiation/;

const HANG_UP = /socket hang up|ECONNRESET|disconnected before secure TLS connection/;

export type TlsRefusal =
  | { kind: 'certificate-alert'; alert: number; name: string }
  | { kind: 'hang-up-after-certificate'; serverBytes: number }
  | { kind: 'negotiation'; reason: string }
  | { kind: 'other'; reason: string };

/** The OpenSSL reason of an error message ("...:SSL routines:fn:tlsv1 alert unknown ca:file:line:..."), else its first line. */
export function tlsReason(detail: string): string {
  const m = /SSL routines:[^:]*:([^:]+):/.exec(detail);
  return (m ? m[1] : detail.split('\n')[0]).trim();
}

export function classifyTlsFailure(f: RecordedTlsFailure): TlsRefusal {
  const reason = tlsReason(f.detail);
  const numbered = /SSL alert number (\d+)/.exec(f.detail);
  const alert = numbered ? Number(numbered[1]) : OPENSSL_ALERT_REASONS.find(([re]) => re.test(reason))?.[1];
  if (alert !== undefined && CERTIFICATE_ALERTS[alert]) return { kind: 'certificate-alert', alert, name: CERTIFICATE_ALERTS[alert] };
  if (NEGOTIATION.test(reason)) return { kind: 'negotiation', reason };
  if (HANG_UP.test(f.detail) && (f.serverBytes ?? 0) > 0) return { kind: 'hang-up-after-certificate', serverBytes: f.serverBytes! };
  if (HANG_UP.test(f.detail)) return { kind: 'other', reason: f.serverBytes === 0 ? 'the client closed the connection before the server sent anything' : `the client closed the connection (${reason}); whether the server's certificate had been sent was not recorded` };
  return { kind: 'other', reason: alert !== undefined ? `${reason} (alert ${alert}, not a certificate alert)` : reason };
}
