import { readFileSync, statSync } from 'node:fs';
import { WardgateError } from '../errors.ts';
import { splitPem } from '../pki/pem.ts';
import { normalizeSerial } from '../pki/serial.ts';
import { x509 } from '../pki/x509.ts';

/**
 * Peer-certificate revocation (inbound: the clients', outbound: the upstream's), from CRL files
 * (RFC 5280 §6.3). Checked after the handshake against the leaf only: OpenSSL's own CRL checking (Node's
 * `crl` option) demands a CRL for every CA in the chain, and an offline root publishes none. The file is
 * re-read when it changes, so a cron job that fetches the CA's CRL (`/crl/<issuer>.crl`) is enough to
 * keep it current.
 */
export class RevocationList {
  /** Revoked serial -> issuers whose CRL lists it: a connection costs one map lookup unless its serial is listed. */
  private revoked = new Map<string, Set<string>>();
  /**
   * mtime, size and inode of the file last parsed, recorded only once it parsed: a timestamp tick is
   * coarse (a jiffy on ext4, a second from `curl -R`), so a rewrite can keep the mtime, and a file read
   * half-written must be read again when complete.
   */
  private version = '';
  private checkedAt = 0;
  /** The earliest nextUpdate of the CRLs in the file (ms), when they name one. */
  private nextUpdateMs: number | undefined;
  private staleReported = false;

  /**
   * `onStale` is told once per file version when its CRL is past nextUpdate: the list is still enforced
   * (refusing every peer because a cron job stopped would take the route down), but someone must look.
   */
  constructor(private readonly file: string, private readonly recheckMs = 30_000, private readonly onStale?: (message: string) => void) {
    this.load();
  }

  private load(): void {
    let text: string;
    let version: string;
    try {
      const st = statSync(this.file);
      version = `${st.mtimeMs}:${st.size}:${st.ino}`;
      if (version === this.version) return;
      text = readFileSync(this.file, 'latin1');
    } catch (err) {
      throw new WardgateError('TLS_CREDENTIALS_INVALID', `CRL file ${this.file} cannot be read: ${(err as Error).message}`);
    }
    const pem = text.includes('-----BEGIN');
    const blocks = pem ? splitPem(text) : [Buffer.from(text, 'latin1')];
    // A file caught mid-rewrite ends in a block without its END line: read as it is, it would replace
    // the list with a shorter (or empty) one and admit what it no longer lists.
    if (pem && blocks.length !== text.split('-----BEGIN').length - 1) {
      throw new WardgateError('TLS_CREDENTIALS_INVALID', `${this.file} holds a PEM block without its END line (being rewritten?)`);
    }
    const next = new Map<string, Set<string>>();
    let nextUpdate: number | undefined;
    for (const block of blocks) {
      let crl: x509.X509Crl;
      try {
        crl = new x509.X509Crl(typeof block === 'string' ? block : new Uint8Array(block) as Uint8Array<ArrayBuffer>);
      } catch (err) {
        throw new WardgateError('TLS_CREDENTIALS_INVALID', `${this.file} holds something that is not a CRL: ${(err as Error).message}`);
      }
      if (crl.nextUpdate) nextUpdate = Math.min(nextUpdate ?? Infinity, crl.nextUpdate.getTime());
      for (const entry of crl.entries) {
        const serial = normalizeSerial(entry.serialNumber);
        const issuers = next.get(serial) ?? new Set<string>();
        issuers.add(crl.issuer);
        next.set(serial, issuers);
      }
    }
    this.revoked = next;
    this.version = version;
    this.nextUpdateMs = nextUpdate;
    this.staleReported = false;
  }

  /** Re-reads the file when the recheck interval has passed; a bad read keeps the last good list. */
  private refresh(now: number): void {
    if (now - this.checkedAt > this.recheckMs) {
      this.checkedAt = now;
      try { this.load(); } catch { /* keep the last good list; the file may be mid-rewrite */ }
    }
    if (this.nextUpdateMs !== undefined && this.nextUpdateMs < now && !this.staleReported) {
      this.staleReported = true;
      this.onStale?.(`CRL file ${this.file} is past its nextUpdate (${new Date(this.nextUpdateMs).toISOString()}): still enforced; fetch a current CRL from the CA`);
    }
  }

  /** Seconds until the file's CRLs are due to be replaced (negative: overdue), or undefined when none says. */
  secondsUntilNextUpdate(now = Date.now()): number | undefined {
    this.refresh(now);
    return this.nextUpdateMs === undefined ? undefined : Math.round((this.nextUpdateMs - now) / 1000);
  }

  /** True when the certificate is listed by a CRL of its issuer (`peer` as tls getPeerCertificate gives it). */
  isRevoked(peer: { serialNumber: string; raw: Buffer }, now = Date.now()): boolean {
    this.refresh(now);
    const issuers = this.revoked.get(normalizeSerial(peer.serialNumber));
    if (!issuers) return false;
    // Only a listed serial pays for parsing: the issuer name must match the CRL's, in the same notation.
    return issuers.has(new x509.X509Certificate(new Uint8Array(peer.raw) as Uint8Array<ArrayBuffer>).issuer);
  }
}
