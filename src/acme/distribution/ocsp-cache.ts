import type { Store } from '../../store/store.ts';
import { ocspCertState, type OcspAnswer, type OcspCertState, type OcspQuery, type OcspResponder } from '../../pki/ocsp.ts';

interface Entry {
  answer: OcspAnswer;
  /** Per serial of the query, the state the signed answer reports. */
  states: string[];
  /** Past this instant the answer is signed again: half of nextUpdate - thisUpdate. */
  refreshAt: number;
}

const stateKey = (s: OcspCertState) => `${s.status}:${s.revokedAt ?? ''}:${s.reason ?? ''}`;
const sameStates = (a: string[], b: string[]) => a.every((s, i) => s === b[i]);

/** A signature under way, with the states it reports (read when it started). */
interface Signing { answer: Promise<OcspAnswer>; states: string[] }

/**
 * Signed OCSP answers without a nonce, per query (issuer and CertIDs), so that a client asking again and
 * again costs a parse and a store read, not a signature (RSA-2048: 1-2 ms on the event loop the ACME
 * server shares). An answer is reused until half its validity has passed (RFC 6960 §2.5 lets a
 * responder pre-produce answers; the other half leaves clients and HTTP caches a fresh one), and never
 * once the store says otherwise: every hit reads each certificate's status again (one primary-key
 * lookup), so a revocation is answered `revoked` at the next request, whoever wrote it (the ACME
 * revokeCert handler, or `wardgate revoke` in another process on the same data dir). At most
 * `maxEntries` answers, least recently used dropped first. Concurrent misses of one query share one
 * signature, as long as the store still says what that signature reports (found in review: a request
 * arriving after a revocation joined a signing started before it and got `good`).
 */
export class OcspCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Signing>();

  constructor(private readonly responder: OcspResponder, private readonly store: Store, private readonly maxEntries: number, private readonly now: () => number = Date.now) {}

  private current(query: OcspQuery): string[] {
    return query.serials.map((serial) => stateKey(ocspCertState(this.store.getCertificate(serial), query.issuerId)));
  }

  /** The cached answer, or the signing already under way for this query; undefined when a signature is needed. */
  lookup(query: OcspQuery): Promise<OcspAnswer> | undefined {
    const running = this.inflight.get(query.key);
    const entry = this.entries.get(query.key);
    if (!running && !entry) return undefined;
    const states = this.current(query);
    if (running && sameStates(states, running.states)) return running.answer;
    if (!entry) return undefined;
    this.entries.delete(query.key);
    if (this.now() >= entry.refreshAt) return undefined;
    if (!sameStates(states, entry.states)) return undefined;
    this.entries.set(query.key, entry);
    return Promise.resolve(entry.answer);
  }

  /** Signs the answer for `query` (its nonce left out) and keeps it. */
  fill(query: OcspQuery): Promise<OcspAnswer> {
    // The states are read before signing: a revocation that lands while the signature is computed
    // makes the entry (and the signing, for requests that would join it) stale at once instead of
    // hiding behind an answer that predates it.
    const states = this.current(query);
    const running = this.inflight.get(query.key);
    if (running && sameStates(states, running.states)) return running.answer;
    const slot: Signing = { answer: undefined!, states };
    slot.answer = (async () => {
      const answer = await this.responder.sign(query, { echoNonce: false });
      // A newer signing for this query started because the store changed: its answer is the one to keep.
      const superseded = this.inflight.get(query.key) !== slot;
      if (!superseded && answer.status === 'successful' && answer.thisUpdate && answer.nextUpdate) {
        const t0 = answer.thisUpdate.getTime();
        this.entries.set(query.key, { answer, states, refreshAt: t0 + (answer.nextUpdate.getTime() - t0) / 2 });
        if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      }
      return answer;
    })().finally(() => {
      if (this.inflight.get(query.key) === slot) this.inflight.delete(query.key);
    });
    this.inflight.set(query.key, slot);
    return slot.answer;
  }

  get size(): number {
    return this.entries.size;
  }
}
