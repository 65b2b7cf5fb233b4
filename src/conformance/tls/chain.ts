import type { X509Certificate } from 'node:crypto';

export interface ChainResult {
  ok: boolean;
  /** Subjects from the end-entity to the trust anchor, as far as the path could be built. */
  path: string[];
  problem?: string;
}

function oneLine(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}

function issues(issuer: X509Certificate, cert: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

function expiredProblem(cert: X509Certificate, now: Date): string | undefined {
  if (new Date(cert.validFrom) > now) return `${oneLine(cert.subject)} is not valid before ${cert.validFrom}`;
  if (new Date(cert.validTo) < now) return `${oneLine(cert.subject)} expired ${cert.validTo}`;
  return undefined;
}

/**
 * Builds a path from the end-entity certificate through the certificates the server sent to one of
 * the trust anchors (RFC 5280 §6.1, signatures, issuer names, CA flag and validity), using only what
 * the server sent: an intermediate that the server omits is not fetched from anywhere (AIA chasing
 * is not something a hospital device can rely on), so ICM-TLS-007 fails when it is missing.
 */
export function verifyChain(sent: X509Certificate[], anchors: X509Certificate[], now = new Date()): ChainResult {
  if (sent.length === 0) return { ok: false, path: [], problem: 'the server sent no certificate' };
  let current = sent[0];
  const path = [oneLine(current.subject)];
  const used = new Set<X509Certificate>([current]);
  for (let depth = 0; depth < 8; depth++) {
    const problem = expiredProblem(current, now);
    if (problem) return { ok: false, path, problem };
    const anchor = anchors.find((a) => issues(a, current));
    if (anchor) {
      path.push(`${oneLine(anchor.subject)} (trust anchor)`);
      const anchorProblem = expiredProblem(anchor, now);
      return anchorProblem ? { ok: false, path, problem: anchorProblem } : { ok: true, path };
    }
    if (anchors.some((a) => a.fingerprint256 === current.fingerprint256)) return { ok: true, path };
    const next = sent.find((c) => !used.has(c) && c.ca && issues(c, current));
    if (!next) return { ok: false, path, problem: `no certificate sent by the server or trust anchor given issued "${oneLine(current.subject)}" (issuer "${oneLine(current.issuer)}")` };
    used.add(next);
    path.push(oneLine(next.subject));
    current = next;
  }
  return { ok: false, path, problem: 'chain longer than 8 certificates' };
}
