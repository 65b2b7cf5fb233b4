/**
 * Connection admission: a ceiling per listener (a gateway route, an ACME or metrics listener) and per peer
 * address, so one misbehaving device (or a flood from one address) cannot take every slot.
 */
export class ConnectionLimiter {
  private total = 0;
  private perPeer = new Map<string, number>();

  constructor(private readonly maxTotal: number, private readonly maxPerPeer: number) {}

  get active(): number {
    return this.total;
  }

  /** Returns a release function, or a reason when the connection must be refused. */
  acquire(peer: string): { release: () => void } | { refused: string } {
    if (this.total >= this.maxTotal) return { refused: `route has ${this.total} connections, its limit is ${this.maxTotal}` };
    const n = this.perPeer.get(peer) ?? 0;
    if (n >= this.maxPerPeer) return { refused: `peer ${peer} has ${n} connections, the per-peer limit is ${this.maxPerPeer}` };
    this.total++;
    this.perPeer.set(peer, n + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const left = (this.perPeer.get(peer) ?? 1) - 1;
        if (left <= 0) this.perPeer.delete(peer);
        else this.perPeer.set(peer, left);
      },
    };
  }
}
