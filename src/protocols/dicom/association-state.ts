/**
 * A reduced view of the PS3.8 §9.2 upper-layer state machine, for a party that sees both sides of
 * an association (the gateway) or one side of it: it follows the phases and flags PDUs that arrive
 * out of order, with the A-ABORT a compliant peer would answer them with (PS3.8 §9.2.3, Table 9-10).
 */
import { ABORT_REASON, ABORT_SOURCE, type Abort } from './release-abort.ts';
import type { DecodedPdu } from './decode-pdu.ts';
import { PRESENTATION_CONTEXT_RESULT } from './presentation-context.ts';

export type AssociationPhase = 'awaiting-rq' | 'awaiting-ac' | 'established' | 'releasing' | 'closed';
export type PduSender = 'requestor' | 'acceptor';

export interface ProtocolViolation {
  message: string;
  /** What to send to both peers: a provider-initiated abort. */
  abort: Abort;
}

export interface Observation {
  phase: AssociationPhase;
  violation?: ProtocolViolation;
}

function other(side: PduSender): PduSender {
  return side === 'requestor' ? 'acceptor' : 'requestor';
}

export class AssociationTracker {
  private current: AssociationPhase = 'awaiting-rq';
  private proposed = new Set<number>();
  private accepted = new Set<number>();
  /** Presentation context ID -> abstract syntax (SOP class UID) the RQ proposed for it. */
  private abstractSyntaxes = new Map<number, string>();
  /** SOP classes whose SCP role the requestor proposed in its role selection sub-item (0x54). */
  private requestorScpProposed = new Set<string>();
  /** SOP classes for which the AC granted the requestor the SCP role. */
  private requestorScp = new Set<string>();
  private releaseRequested = new Set<PduSender>();
  private releaseReplied = new Set<PduSender>();

  get phase(): AssociationPhase {
    return this.current;
  }

  /** Presentation context IDs the acceptor accepted (result 0). */
  get acceptedContexts(): ReadonlySet<number> {
    return this.accepted;
  }

  /** The abstract syntax (SOP class UID) the RQ proposed for a presentation context. */
  abstractSyntax(contextId: number): string | undefined {
    return this.abstractSyntaxes.get(contextId);
  }

  /**
   * PS3.7 D.3.3.4: without SCP/SCU Role Selection the requestor is the SCU and the acceptor the SCP
   * of every SOP class; the requestor performs operations (the acceptor invokes them) only on the
   * context of a SOP class for which it proposed the SCP role and the AC accepted it.
   */
  requestorActsAsScp(contextId: number): boolean {
    const sopClass = this.abstractSyntaxes.get(contextId);
    return sopClass !== undefined && this.requestorScp.has(sopClass);
  }

  /**
   * Record a PDU sent by `from`. A violation closes the tracker: PS3.8 offers no recovery from an
   * unexpected PDU other than A-ABORT.
   */
  observe(pdu: DecodedPdu, from: PduSender): Observation {
    const problem = this.step(pdu, from);
    if (problem) {
      this.current = 'closed';
      return { phase: this.current, violation: problem };
    }
    return { phase: this.current };
  }

  private step(pdu: DecodedPdu, from: PduSender): ProtocolViolation | undefined {
    const unexpected = (why: string): ProtocolViolation => ({
      message: `${pdu.kind} from the ${from} ${why}`,
      abort: { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.UnexpectedPdu },
    });
    if (this.current === 'closed') return unexpected('after the association closed');
    if (pdu.kind === 'A-ABORT') {
      this.current = 'closed';
      return undefined;
    }
    switch (this.current) {
      case 'awaiting-rq':
        if (pdu.kind === 'A-ASSOCIATE-RQ' && from === 'requestor') {
          for (const pc of pdu.value.presentationContexts) {
            this.proposed.add(pc.id);
            this.abstractSyntaxes.set(pc.id, pc.abstractSyntax);
          }
          for (const role of pdu.value.userInformation.roleSelections ?? []) {
            if (role.scpRole === 1) this.requestorScpProposed.add(role.sopClassUid);
          }
          this.current = 'awaiting-ac';
          return undefined;
        }
        return unexpected('before an association was requested');
      case 'awaiting-ac':
        if (from === 'acceptor' && pdu.kind === 'A-ASSOCIATE-AC') {
          for (const pc of pdu.value.presentationContexts) {
            // PS3.8 §9.3.3.2: the AC answers the contexts the RQ proposed, by ID.
            if (!this.proposed.has(pc.id)) {
              return { message: `A-ASSOCIATE-AC answers presentation context ${pc.id}, which was never proposed`, abort: { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.InvalidPduParameterValue } };
            }
            if (pc.result === PRESENTATION_CONTEXT_RESULT.Acceptance) this.accepted.add(pc.id);
          }
          // PS3.7 D.3.3.4: the acceptor can accept a proposed role, not grant one that was not proposed.
          for (const role of pdu.value.userInformation.roleSelections ?? []) {
            if (role.scpRole === 1 && this.requestorScpProposed.has(role.sopClassUid)) this.requestorScp.add(role.sopClassUid);
          }
          this.current = 'established';
          return undefined;
        }
        if (from === 'acceptor' && pdu.kind === 'A-ASSOCIATE-RJ') {
          this.current = 'closed';
          return undefined;
        }
        return unexpected('while the association request is pending');
      case 'established':
        if (pdu.kind === 'P-DATA-TF') return this.checkContexts(pdu.value.map((p) => p.contextId), from);
        if (pdu.kind === 'A-RELEASE-RQ') {
          this.releaseRequested.add(from);
          this.current = 'releasing';
          return undefined;
        }
        return unexpected('on an established association');
      case 'releasing':
        // PS3.8 §9.2 (Sta7/Sta8): the side that received A-RELEASE-RQ may still send P-DATA before
        // replying; the side that asked for release may not. Both asking at once is a release collision.
        if (pdu.kind === 'P-DATA-TF') {
          if (this.releaseRequested.has(from)) return unexpected('after it requested release');
          return this.checkContexts(pdu.value.map((p) => p.contextId), from);
        }
        if (pdu.kind === 'A-RELEASE-RQ' && !this.releaseRequested.has(from)) {
          this.releaseRequested.add(from);
          return undefined;
        }
        if (pdu.kind === 'A-RELEASE-RP' && this.releaseRequested.has(other(from)) && !this.releaseReplied.has(from)) {
          this.releaseReplied.add(from);
          if (this.releaseReplied.size === this.releaseRequested.size) this.current = 'closed';
          return undefined;
        }
        return unexpected('during release');
    }
  }

  private checkContexts(ids: number[], from: PduSender): ProtocolViolation | undefined {
    for (const id of ids) {
      if (!this.accepted.has(id)) {
        return {
          message: `P-DATA-TF from the ${from} uses presentation context ${id}, which was not accepted`,
          abort: { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.InvalidPduParameterValue },
        };
      }
    }
    return undefined;
  }
}
