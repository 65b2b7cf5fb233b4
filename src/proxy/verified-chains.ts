/**
 * The client chains a route verified in full handshakes, by leaf. A resumed TLS session brings the
 * client's leaf only (the ticket keeps no chain), and a trust bundle holding just the root cannot
 * complete it; without the chain the CRLs of the client's CAs (tls.crl) cannot be applied, and
 * refusing every resumed session would refuse every second association of a busy modality. Only a
 * chain that passed the revocation check is kept, so a leaf refused in full is refused resumed too.
 */
import { createHash } from 'node:crypto';
import type { PeerCertificate } from './revocation.ts';

/** Devices per route, with room to spare; the oldest is forgotten first (its next full handshake brings it back). */
const MAX_CHAINS = 4096;

export class VerifiedChains {
  private readonly byLeaf = new Map<string, PeerCertificate>();

  constructor(private readonly max = MAX_CHAINS) {}

  remember(chain: PeerCertificate): void {
    const key = leafKey(chain);
    this.byLeaf.delete(key);
    this.byLeaf.set(key, chain);
    if (this.byLeaf.size > this.max) this.byLeaf.delete(this.byLeaf.keys().next().value!);
  }

  /** The chain a full handshake showed with this leaf, or undefined. */
  recall(leaf: PeerCertificate): PeerCertificate | undefined {
    return this.byLeaf.get(leafKey(leaf));
  }
}

function leafKey(cert: PeerCertificate): string {
  return createHash('sha256').update(cert.raw).digest('base64');
}
