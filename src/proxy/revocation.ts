import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { WardgateError } from '../errors.ts';
import { verifySignedDer } from '../pki/signed-der.ts';
import { splitPem } from '../pki/pem.ts';
import { normalizeSerial } from '../pki/serial.ts';
import { x509 } from '../pki/x509.ts';

/** A certificate as tls getPeerCertificate(true) gives it: issuerCertificate links up to the root, whose link points to itself. */
export interface PeerCertificate {
  serialNumber: string;
  raw: Buffer;
  issuerCertificate?: PeerCertificate;
}

/** One CRL of the file: whose it is, and the DER whose signature is checked when one of its entries matters. */
interface LoadedCrl {
  issuer: string;
  /** The authority key identifier (hex, lower case), when the CRL names one (RFC 5280 §5.2.1). */
  keyId: string | undefined;
  der: Uint8Array;
  /** Issuer certificate fingerprint -> whether the CRL's signature verifies with its key. */
  verifiedWith: Map<string, boolean>;
}

/** Chains longer than this are not a hospital PKI (and a loop in the links must end somewhere). */
const MAX_CHAIN = 8;

/** Fingerprints of the certificates of a trust bundle (PEM): the anchors a checked chain must end at. */
export function trustAnchors(bundlePem: string): Set<string> {
  return new Set(splitPem(bundlePem).map((pem) => new X509Certificate(pem).fingerprint256));
}

/**
 * Peer-certificate revocation (inbound: the clients', outbound: the upstream's), from CRL files
 * (RFC 5280 §6.3). Checked after the handshake against every certificate of the peer's chain but the
 * trust anchor: a sub-CA whose key leaked is revoked by its parent's CRL, and every leaf under it with
 * it. Not OpenSSL's own CRL checking (Node's `crl` option): it demands a CRL for every CA in the chain,
 * and an offline root publishes none. The file is re-read when it changes, so a cron job that fetches
 * the CA's CRLs (`/crl/<issuer>.crl`) is enough to keep it current.
 */
export class RevocationList {
  /** Revoked serial -> CRLs listing it: a connection costs map lookups unless a serial of its chain is listed. */
  private revoked = new Map<string, LoadedCrl[]>();
  /** Issuer names of the file's CRLs: any but the leaf's issuer may revoke an intermediate. */
  private issuers = new Set<string>();
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
   * `report` is told once per file version when its CRL is past nextUpdate: the list is still enforced
   * (refusing every peer because a cron job stopped would take the route down), but someone must look.
   * It is also told of a CRL that names a chain's CA but is not signed by its key (ignored: not its CRL).
   */
  constructor(private readonly file: string, private readonly recheckMs = 30_000, private readonly report?: (message: string) => void) {
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
    const next = new Map<string, LoadedCrl[]>();
    const issuers = new Set<string>();
    let nextUpdate: number | undefined;
    for (const block of blocks) {
      let crl: x509.X509Crl;
      try {
        crl = new x509.X509Crl(typeof block === 'string' ? block : new Uint8Array(block) as Uint8Array<ArrayBuffer>);
      } catch (err) {
        throw new WardgateError('TLS_CREDENTIALS_INVALID', `${this.file} holds something that is not a CRL: ${(err as Error).message}`);
      }
      if (crl.nextUpdate) nextUpdate = Math.min(nextUpdate ?? Infinity, crl.nextUpdate.getTime());
      const loaded: LoadedCrl = {
        issuer: crl.issuer,
        keyId: crl.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId?.toLowerCase(),
        der: new Uint8Array(crl.rawData),
        verifiedWith: new Map(),
      };
      issuers.add(crl.issuer);
      for (const entry of crl.entries) {
        const serial = normalizeSerial(entry.serialNumber);
        next.set(serial, [...(next.get(serial) ?? []), loaded]);
      }
    }
    this.revoked = next;
    this.issuers = issuers;
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
      this.report?.(`CRL file ${this.file} is past its nextUpdate (${new Date(this.nextUpdateMs).toISOString()}): still enforced; fetch a current CRL from the CA`);
    }
  }

  /** Seconds until the file's CRLs are due to be replaced (negative: overdue), or undefined when none says. */
  secondsUntilNextUpdate(now = Date.now()): number | undefined {
    this.refresh(now);
    return this.nextUpdateMs === undefined ? undefined : Math.round((this.nextUpdateMs - now) / 1000);
  }

  /**
   * Why the peer must be refused ("certificate ...", for the caller to say whose), or undefined when no certificate of its chain is revoked. `peer` is
   * getPeerCertificate(true); `anchors` the fingerprints of the route's trust bundle (trustAnchors()).
   * When the file holds CRLs of other issuers than the leaf's, the chain must reach one of the anchors
   * through verified signatures: Node assembles it by names from what the peer sent and the trust
   * store, so a peer could otherwise show an unlisted look-alike of a revoked intermediate. A chain that
   * cannot be checked (a resumed session whose chain is gone) is refused then, never let through.
   */
  check(peer: PeerCertificate, anchors: ReadonlySet<string>, now = Date.now()): string | undefined {
    this.refresh(now);
    const links = chainOf(peer);
    const leaf = new X509Certificate(links[0].raw);
    const leafIssuer = new x509.X509Certificate(new Uint8Array(links[0].raw) as Uint8Array<ArrayBuffer>).issuer;
    const intermediatesListed = [...this.issuers].some((name) => name !== leafIssuer);
    if (!intermediatesListed) {
      // Only CRLs of the leaf's issuer: only the leaf can be listed. Its issuer's key, when the chain has
      // it, checks the CRL's signature; without it the name decides (as a listed serial should).
      const listedBy = this.revoked.get(normalizeSerial(links[0].serialNumber));
      if (!listedBy) return undefined;
      const parent = links[1] ? new X509Certificate(links[1].raw) : undefined;
      const issuer = parent && leaf.checkIssued(parent) && leaf.verify(parent.publicKey) ? parent : undefined;
      return this.revokes(listedBy, leaf, leafIssuer, issuer) ? 'certificate is revoked (listed in tls.crl)' : undefined;
    }
    const chain = verifiedChain(links, anchors);
    if (typeof chain === 'string') return `certificate chain cannot be checked against the CRLs of its CAs in tls.crl: ${chain}`;
    for (let i = 0; i < chain.length - 1; i++) {
      const listedBy = this.revoked.get(normalizeSerial(chain[i].serialNumber));
      if (!listedBy) continue;
      const issuerName = i === 0 ? leafIssuer : new x509.X509Certificate(new Uint8Array(chain[i].raw) as Uint8Array<ArrayBuffer>).issuer;
      if (!this.revokes(listedBy, chain[i], issuerName, chain[i + 1])) continue;
      return i === 0 ? 'certificate is revoked (listed in tls.crl)' : `certificate's CA "${chain[i].subject.replace(/\n/g, ', ')}" (serial ${chain[i].serialNumber}) is revoked (listed in tls.crl)`;
    }
    return undefined;
  }

  /**
   * Whether one of the CRLs listing `cert`'s serial is its issuer's (RFC 5280 §6.3.3 (b), (f)): the
   * same issuer name, the same key identifier when the CRL names one, and a signature by the issuer's
   * key. With the issuer unknown, or an algorithm node:crypto is not asked to check here, name and key
   * identifier decide: a serial listed by its issuer's name is refused rather than admitted on doubt.
   */
  private revokes(listedBy: LoadedCrl[], cert: X509Certificate, issuerName: string, issuer: X509Certificate | undefined): boolean {
    const issuerKeyId = issuer && subjectKeyId(issuer);
    return listedBy.some((crl) => {
      if (crl.issuer !== issuerName) return false;
      if (!issuer) return true;
      if (crl.keyId && issuerKeyId && crl.keyId !== issuerKeyId) return false;
      let ok = crl.verifiedWith.get(issuer.fingerprint256);
      if (ok === undefined) {
        try { ok = verifySignedDer(crl.der, issuer.publicKey) ?? true; } catch { ok = false; }
        crl.verifiedWith.set(issuer.fingerprint256, ok);
        if (!ok) this.report?.(`CRL file ${this.file}: a CRL naming "${crl.issuer}" lists ${cert.serialNumber} but is not signed by that issuer's key: ignored`);
      }
      return ok;
    });
  }
}

/** The certificates linked by issuerCertificate, leaf first, up to the self-linked root (or where the links stop). */
function chainOf(peer: PeerCertificate): PeerCertificate[] {
  const links = [peer];
  for (let at = peer; at.issuerCertificate && at.issuerCertificate !== at && !at.issuerCertificate.raw.equals(at.raw) && links.length < MAX_CHAIN;) {
    at = at.issuerCertificate;
    links.push(at);
  }
  return links;
}

/** The chain with every signature checked, ending at a self-signed anchor of the trust bundle; else why not. */
function verifiedChain(links: PeerCertificate[], anchors: ReadonlySet<string>): X509Certificate[] | string {
  const chain = links.map((l) => new X509Certificate(l.raw));
  for (let i = 0; i < chain.length - 1; i++) {
    if (!chain[i].checkIssued(chain[i + 1]) || !chain[i].verify(chain[i + 1].publicKey)) return `"${chain[i + 1].subject.replace(/\n/g, ', ')}" did not issue "${chain[i].subject.replace(/\n/g, ', ')}"`;
  }
  const top = chain[chain.length - 1];
  if (!top.checkIssued(top) || !top.verify(top.publicKey)) return `the chain stops at "${top.subject.replace(/\n/g, ', ')}", whose issuer is not known here`;
  if (!anchors.has(top.fingerprint256)) return `its root "${top.subject.replace(/\n/g, ', ')}" is not in the route's trust bundle`;
  return chain;
}

function subjectKeyId(cert: X509Certificate): string | undefined {
  return new x509.X509Certificate(new Uint8Array(cert.raw) as Uint8Array<ArrayBuffer>).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId.toLowerCase();
}
