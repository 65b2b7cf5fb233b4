import { WardgateError } from '../../errors.ts';

/**
 * Incremental parser for a server's first flight in TLS ≤ 1.2 (RFC 5246 §7.4): ServerHello,
 * Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone, or an alert. It stops at
 * ServerHelloDone, at an alert, or at anything encrypted; it never answers, so the handshake is
 * abandoned and the server sees a client that went away.
 */
export interface ServerHello {
  version: number;
  cipherSuite: number;
  extensions: number[];
}

export interface ServerFlight {
  hello?: ServerHello;
  /** DER certificates in the order sent, end-entity first (RFC 5246 §7.4.2). */
  certificates: Buffer[];
  certificateRequested: boolean;
  done: boolean;
  alert?: { level: number; description: number };
}

const MAX_FLIGHT = 256 * 1024;

export class ServerFlightParser {
  readonly flight: ServerFlight = { certificates: [], certificateRequested: false, done: false };
  private records = Buffer.alloc(0);
  private handshake = Buffer.alloc(0);
  private total = 0;

  /** Feeds bytes; returns true once the flight is complete (done, alert, or something not parseable as a flight). */
  push(chunk: Buffer): boolean {
    this.total += chunk.length;
    if (this.total > MAX_FLIGHT) throw new WardgateError('TLS_PROBE_FAILED', `server flight exceeds ${MAX_FLIGHT} bytes`);
    this.records = Buffer.concat([this.records, chunk]);
    while (this.records.length >= 5) {
      const type = this.records[0];
      const length = this.records.readUInt16BE(3);
      // RFC 5246 §6.2.1: content types 20-23, and every TLS and SSL 3.0 record version has major 3. Anything
      // else is not TLS (an HTTP answer, a banner) and must not be read as "no ServerHello".
      if (type < 20 || type > 23 || this.records[1] !== 3) {
        throw new WardgateError('TLS_PROBE_FAILED', `not a TLS record: content type 0x${hex(type, 2)}, version 0x${hex(this.records.readUInt16BE(1), 4)} (RFC 5246 §6.2.1)`);
      }
      if (length > 16384 + 2048) throw new WardgateError('TLS_PROBE_FAILED', `TLS record length ${length} exceeds RFC 5246 §6.2.3 limits`);
      if (this.records.length < 5 + length) return false;
      const fragment = this.records.subarray(5, 5 + length);
      this.records = this.records.subarray(5 + length);
      if (type === 21) {
        if (fragment.length >= 2) this.flight.alert = { level: fragment[0], description: fragment[1] };
        return true;
      }
      if (type !== 22) return true; // ChangeCipherSpec or application data: the plaintext flight is over
      this.handshake = Buffer.concat([this.handshake, fragment]);
      if (this.parseHandshake()) return true;
    }
    return false;
  }

  private parseHandshake(): boolean {
    while (this.handshake.length >= 4) {
      const type = this.handshake[0];
      const length = (this.handshake[1] << 16) | (this.handshake[2] << 8) | this.handshake[3];
      if (this.handshake.length < 4 + length) return false;
      const body = this.handshake.subarray(4, 4 + length);
      this.handshake = this.handshake.subarray(4 + length);
      if (type === 2) this.flight.hello = parseServerHello(body);
      else if (type === 11) this.flight.certificates = parseCertificateList(body);
      else if (type === 13) this.flight.certificateRequested = true;
      else if (type === 14) {
        this.flight.done = true;
        return true;
      }
    }
    return false;
  }
}

const hex = (n: number, digits: number) => n.toString(16).padStart(digits, '0');

function need(buf: Buffer, end: number, what: string): void {
  if (end > buf.length) throw new WardgateError('TLS_PROBE_FAILED', `truncated ${what} in the server's TLS flight`);
}

/** RFC 5246 §7.4.1.3. */
export function parseServerHello(body: Buffer): ServerHello {
  need(body, 35, 'ServerHello');
  const version = body.readUInt16BE(0);
  let at = 34;
  const sidLength = body[at];
  at += 1 + sidLength;
  need(body, at + 3, 'ServerHello');
  const cipherSuite = body.readUInt16BE(at);
  at += 3; // suite + compression method
  const extensions: number[] = [];
  if (at + 2 <= body.length) {
    const end = at + 2 + body.readUInt16BE(at);
    need(body, end, 'ServerHello extensions');
    at += 2;
    while (at + 4 <= end) {
      extensions.push(body.readUInt16BE(at));
      at += 4 + body.readUInt16BE(at + 2);
    }
  }
  return { version, cipherSuite, extensions };
}

/** RFC 5246 §7.4.2: a 24-bit total length, then 24-bit-length-prefixed DER certificates. */
export function parseCertificateList(body: Buffer): Buffer[] {
  need(body, 3, 'Certificate');
  const end = 3 + ((body[0] << 16) | (body[1] << 8) | body[2]);
  need(body, end, 'Certificate');
  const certs: Buffer[] = [];
  let at = 3;
  while (at + 3 <= end) {
    const len = (body[at] << 16) | (body[at + 1] << 8) | body[at + 2];
    need(body, at + 3 + len, 'Certificate entry');
    certs.push(Buffer.from(body.subarray(at + 3, at + 3 + len)));
    at += 3 + len;
  }
  return certs;
}
