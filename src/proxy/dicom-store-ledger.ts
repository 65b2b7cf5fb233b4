/**
 * Which SOP instances an association really transferred, for the DICOM Instances Transferred audit
 * record (PS3.15 A.5.3.5). A C-STORE-RQ names the instance (PS3.7 §9.3.1.1), but only its C-STORE-RSP
 * says whether the receiver kept it (PS3.7 §9.3.1.2, status categories in Annex C). Stores go both
 * ways on one association: the requestor's own, and the acceptor's C-GET sub-operations, which it
 * sends as C-STORE-RQs over the same association in the SCP role (PS3.4 C.4.3, PS3.7 D.3.3.4).
 */
import { COMMAND_FIELD, type CommandFields, type PduSender, statusCategory } from '../protocols/dicom/index.ts';

/** Instances listed per association in the audit records; beyond it they are only counted. */
export const MAX_LISTED_INSTANCES = 10_000;

export interface StoreOutcome {
  /** SOP class UID -> SOP instance UIDs the receiver acknowledged with success or warning. */
  stored: Map<string, string[]>;
  /** Refused by the receiver, or never answered before the association ended. */
  notStored: Map<string, string[]>;
}

interface Pending {
  sopClass: string;
  sopInstance: string;
}

function other(side: PduSender): PduSender {
  return side === 'requestor' ? 'acceptor' : 'requestor';
}

function add(map: Map<string, string[]>, p: Pending): void {
  const list = map.get(p.sopClass) ?? [];
  list.push(p.sopInstance);
  map.set(p.sopClass, list);
}

export class StoreLedger {
  /** Per sender of the C-STORE-RQ: outstanding requests by Message ID (PS3.7 §9.1.1.1: unique while outstanding). */
  private readonly pending: Record<PduSender, Map<number, Pending>> = { requestor: new Map(), acceptor: new Map() };
  private readonly outcomes: Record<PduSender, StoreOutcome> = {
    requestor: { stored: new Map(), notStored: new Map() },
    acceptor: { stored: new Map(), notStored: new Map() },
  };
  private listed = 0;
  /** Store requests seen, listed or not. */
  count = 0;

  /** Feed every decoded command set, with the side that sent it. */
  observe(cmd: CommandFields, from: PduSender): void {
    if (cmd.commandField === COMMAND_FIELD.CStoreRq && cmd.affectedSopClassUid && cmd.affectedSopInstanceUid && cmd.messageId !== undefined) {
      this.count++;
      // Bounded: a peer that never waits for responses costs one entry per listed instance at most.
      if (this.listed >= MAX_LISTED_INSTANCES) return;
      this.listed++;
      const previous = this.pending[from].get(cmd.messageId);
      if (previous) add(this.outcomes[from].notStored, previous);
      this.pending[from].set(cmd.messageId, { sopClass: cmd.affectedSopClassUid, sopInstance: cmd.affectedSopInstanceUid });
    } else if (cmd.commandField === COMMAND_FIELD.CStoreRsp && cmd.messageIdBeingRespondedTo !== undefined) {
      const requests = this.pending[other(from)];
      const request = requests.get(cmd.messageIdBeingRespondedTo);
      if (!request) return;
      requests.delete(cmd.messageIdBeingRespondedTo);
      const category = cmd.status === undefined ? 'failure' : statusCategory(cmd.status);
      add(category === 'success' || category === 'warning' ? this.outcomes[other(from)].stored : this.outcomes[other(from)].notStored, request);
    }
  }

  /** What the C-STOREs sent by `sender` achieved; requests still unanswered count as not stored. */
  settle(sender: PduSender): StoreOutcome {
    for (const request of this.pending[sender].values()) add(this.outcomes[sender].notStored, request);
    this.pending[sender].clear();
    return this.outcomes[sender];
  }
}
