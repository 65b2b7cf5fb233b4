/**
 * RFC 5424 syslog messages carrying audit XML, as IHE ITI-20 (Record Audit Event) specifies:
 * facility 10 (security/authorization), severity 5 (notice), MSGID "IHE+RFC-3881", no structured
 * data, and the XML as the MSG part in UTF-8 with a BOM (RFC 5424 §6.4).
 */
import { hostname } from 'node:os';

export interface SyslogHeader {
  facility?: number;
  severity?: number;
  hostname?: string;
  appName?: string;
  procId?: string;
  msgId?: string;
}

const BOM = '\uFEFF';

/** RFC 5424 §6.2: header fields are PRINTUSASCII without spaces, with a length limit; '-' when empty. */
function field(value: string | undefined, max: number): string {
  const clean = (value ?? '').replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean.length ? clean : '-';
}

export function formatSyslog(msg: string, time: Date, h: SyslogHeader = {}): string {
  const pri = (h.facility ?? 10) * 8 + (h.severity ?? 5);
  // RFC 5424 §6.2.3: TIMESTAMP is RFC 3339 with at most 6 fractional digits; toISOString gives 3.
  return `<${pri}>1 ${time.toISOString()} ${field(h.hostname ?? hostname(), 255)} ${field(h.appName ?? 'wardgate', 48)} ${field(h.procId ?? String(process.pid), 128)} ${field(h.msgId ?? 'IHE+RFC-3881', 32)} - ${BOM}${msg}`;
}

/** RFC 5425 §4.3: octet-counting framing, MSG-LEN SP SYSLOG-MSG, the length in octets of the UTF-8 message. */
export function octetFrame(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

/** Split an octet-counted stream; returns whole messages and the unconsumed rest. */
export function splitOctetFrames(buf: Buffer): { messages: string[]; rest: Buffer } {
  const messages: string[] = [];
  let pos = 0;
  for (;;) {
    const sp = buf.indexOf(0x20, pos);
    if (sp < 0 || sp - pos > 10) break;
    const len = Number(buf.toString('ascii', pos, sp));
    if (!Number.isInteger(len) || len <= 0) throw new Error(`bad RFC 5425 MSG-LEN "${buf.toString('ascii', pos, sp)}"`);
    if (buf.length < sp + 1 + len) break;
    messages.push(buf.toString('utf8', sp + 1, sp + 1 + len));
    pos = sp + 1 + len;
  }
  return { messages, rest: buf.subarray(pos) };
}
