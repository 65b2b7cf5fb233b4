/**
 * DICOM-aware relay (PS3.8 upper layer): waits for the A-ASSOCIATE-RQ under the ARTIM timer, decides
 * it with the route's allow rules, answers a denied peer with A-ASSOCIATE-RJ without ever touching the
 * upstream, and otherwise connects, forwards the RQ and streams PDUs both ways through PduFramer,
 * following the association with protocols/dicom's AssociationTracker. While the AC is pending the
 * requestor is still read, for its A-ABORT (PS3.8 Sta5). Any framing or sequencing violation aborts
 * both sides with A-ABORT (PS3.8 §9.2.3, Table 9-10). Operations that make their performer open an
 * association of its own (C-MOVE, storage commitment, UPS subscriptions) must name a destination the
 * route maps (see reverseDestination).
 */
import { OUTCOME, type Outcome } from '../audit/codes.ts';
import { associationEvent, instancesTransferred, securityAlert } from '../audit/events.ts';
import { WardgateError, isWardgateError } from '../errors.ts';
import {
  ABORT_REASON, ABORT_SOURCE, type Abort, type AssociateRq, AssociationTracker, COMMAND_FIELD, type DecodedPdu, PDU_HEADER_LENGTH, PDU_TYPE, PDV_HEADER_LENGTH,
  PDU_TYPE_NAMES, type PduSender, REJECTION, type AssociateRj, decodeAssociateRq, decodeCommand, decodePDataTf, decodePdu, describeAbort, heldFragment,
  describeRejection, encodeAbort, encodeAssociateRj, peekHeader, type CommandSet, SOP_CLASS,
} from '../protocols/dicom/index.ts';
import { StoreLedger, type StoreOutcome } from './dicom-store-ledger.ts';
import { MAX_CONTROL_PDU_LENGTH, type Segment, PduFramer } from './pdu-framer.ts';
import { decideAssociation } from './policy.ts';
import { type Lease, readPooled } from './pooled-reads.ts';
import { type SessionContext, closeSoon, forward } from './session.ts';
import type net from 'node:net';

/**
 * An A-ASSOCIATE-RQ is small; a larger first PDU is refused before it is buffered (slowloris/memory).
 * Not bounded by the route's maxPduLength: that limits P-DATA-TF, as the Maximum Length it mirrors
 * does (PS3.8 D.1), and 128 presentation contexts take storescu ~11 KB.
 */
const MAX_RQ_LENGTH = MAX_CONTROL_PDU_LENGTH;
/**
 * Upper bound of one DIMSE command set across its fragments (the message assembler's default), PDV
 * headers included: zero-length fragments add nothing to the set but cost the relay an entry each.
 */
const MAX_COMMAND_SET_BYTES = 64 * 1024;

/** PS3.4 CC.2.3.1: the N-ACTION Action Type ID of "Subscribe to Receive UPS Event Reports". */
const UPS_SUBSCRIBE = 3;
const UPS_SOP_CLASSES: ReadonlySet<string> = new Set([SOP_CLASS.UpsPush, SOP_CLASS.UpsWatch, SOP_CLASS.UpsPull, SOP_CLASS.UpsEvent, SOP_CLASS.UpsQuery]);

/** A request that makes its performer open an association; `ae` undefined: the gateway cannot read where to. */
interface ReverseRequest { operation: string; field: string; ae: string | undefined }

export function relayDicom(ctx: SessionContext): void {
  new DicomRelay(ctx).start();
}

class DicomRelay {
  private readonly labels: { route: string };
  private rqParts: Buffer[] = [];
  private rqHave = 0;
  private rq: AssociateRq | undefined;
  private upstream: net.Socket | undefined;
  private readonly tracker = new AssociationTracker();
  private readonly fromClient: PduFramer;
  private readonly fromUpstream: PduFramer;
  private artim: NodeJS.Timeout | undefined;
  private established = false;
  /** The RQ passed policy: the gateway set out to reach the acceptor. */
  private requested = false;
  /** Answered with an A-ASSOCIATE-RJ, by the acceptor or the gateway. */
  private rejected = false;
  private finished = false;
  /** Set once an A-ABORT was relayed or sent: whatever either side still sends is dropped (PS3.8 §9.2.3, AA-1/AA-2). */
  private stopped = false;
  private ending: string | undefined;
  private outcome: Outcome = OUTCOME.Success;
  private readonly commandParts: Record<PduSender, Buffer[]> = { requestor: [], acceptor: [] };
  private readonly commandBytes: Record<PduSender, number> = { requestor: 0, acceptor: 0 };
  private readonly stores = new StoreLedger();

  private readonly bytesUp: { value: number };
  private readonly bytesDown: { value: number };

  constructor(private readonly ctx: SessionContext) {
    this.labels = { route: ctx.route.name };
    this.bytesUp = ctx.metrics.series('wardgate_bytes_total', { ...this.labels, direction: 'upstream' });
    this.bytesDown = ctx.metrics.series('wardgate_bytes_total', { ...this.labels, direction: 'downstream' });
    const limits = { maxPduLength: ctx.route.limits.maxPduLength };
    this.fromClient = new PduFramer(limits);
    this.fromUpstream = new PduFramer(limits);
  }

  start(): void {
    const { client, route } = this.ctx;
    client.on('data', this.onRqData);
    client.on('error', () => undefined);
    client.once('close', () => this.closed('requestor', 'requestor closed the connection'));
    // PS3.8 §9.1.5: ARTIM bounds the wait for the A-ASSOCIATE-RQ, whole, however slowly it trickles in.
    this.artim = setTimeout(() => {
      const err = new WardgateError('PROXY_TIMEOUT', `ARTIM timer expired after ${route.limits.artimTimeoutMs} ms without a complete A-ASSOCIATE-RQ/AC`);
      this.abortBoth(`${err.code}: ${err.message}`);
    }, route.limits.artimTimeoutMs);
  }

  private readonly onRqData = (chunk: Buffer): void => {
    // After an abort the peer may still be sending: drop it, never collect it (found by the fuzzer:
    // a P-DATA flood before any A-ASSOCIATE-RQ piled up here until the socket was destroyed).
    if (this.stopped || this.finished) return;
    this.rqParts.push(chunk);
    this.rqHave += chunk.length;
    const buf = this.rqParts.length === 1 ? this.rqParts[0] : Buffer.concat(this.rqParts, this.rqHave);
    this.rqParts = [buf];
    let header;
    try {
      header = peekHeader(buf, { maxPduLength: MAX_RQ_LENGTH });
    } catch (err) {
      return this.protocolError(err, 'requestor');
    }
    if (!header) return;
    if (header.type !== PDU_TYPE.AssociateRq) {
      return this.protocolError(new WardgateError('PDU_MALFORMED', `${PDU_TYPE_NAMES[header.type]} received before an A-ASSOCIATE-RQ`), 'requestor', { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.UnexpectedPdu });
    }
    if (buf.length < header.totalLength) return;
    this.ctx.client.removeListener('data', this.onRqData);
    this.rqParts = [];
    const raw = buf.subarray(0, header.totalLength);
    const leftover = buf.subarray(header.totalLength);
    void this.onRq(raw, leftover);
  };

  private async onRq(raw: Buffer, leftover: Buffer): Promise<void> {
    const { ctx } = this;
    let rq: AssociateRq;
    try {
      rq = decodeAssociateRq(raw.subarray(PDU_HEADER_LENGTH));
    } catch (err) {
      return this.protocolError(err, 'requestor', { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.InvalidPduParameterValue });
    }
    this.rq = rq;
    this.tracker.observe({ kind: 'A-ASSOCIATE-RQ', value: rq }, 'requestor');
    // PS3.8 D.1: what the acceptor sends must fit the requestor's Maximum Length.
    this.fromUpstream.limitToNegotiated(rq.userInformation.maxLength);
    const decision = decideAssociation(ctx.route.allow, ctx.peer, rq.callingAeTitle, rq.calledAeTitle);
    if (!decision.allowed) {
      ctx.metrics.inc('wardgate_denials_total', { ...this.labels, reason: 'policy' });
      ctx.auditor.record(securityAlert(ctx.auditor.identity, 'restricted-function', this.source(), `route ${ctx.route.name}: association refused: ${decision.reason}`));
      const err = new WardgateError('PROXY_POLICY_DENIED', `A-ASSOCIATE-RJ to ${ctx.peer.address}: ${decision.reason}`);
      ctx.log(`route ${ctx.route.name}: ${err.code}: ${err.message}`);
      return this.reject(REJECTION.callingAeTitleNotRecognized);
    }
    // From here on the requestor waits for the AC (PS3.8 §9.2, Sta5): keep reading it, for its A-ABORT.
    this.requested = true;
    ctx.client.on('data', this.onPendingData);
    if (leftover.length > 0) this.onPendingData(leftover);
    if (this.stopped) return;
    let upstream: net.Socket;
    try {
      upstream = await ctx.connectUpstream();
    } catch (err) {
      if (this.stopped || this.finished) return;
      const reason = (err as Error).message;
      ctx.log(`route ${ctx.route.name}: upstream unavailable: ${reason}`);
      if (ctx.route.direction === 'outbound' && /certificate|self.signed|altnames|verify|handshake|alert/i.test(reason)) {
        ctx.auditor.record(securityAlert(ctx.auditor.identity, 'node-authentication', { userId: ctx.route.upstream, address: ctx.upstreamHost }, `route ${ctx.route.name}: upstream TLS authentication failed: ${reason}`));
      }
      // PS3.8 Table 9-21: the provider's presentation layer could not get the association through.
      return this.reject(REJECTION.temporaryCongestion);
    }
    if (this.finished || this.stopped) {
      // Aborted while connecting (the requestor's A-ABORT, ARTIM): the acceptor never gets the RQ.
      upstream.destroy();
      return;
    }
    this.upstream = upstream;
    upstream.on('data', this.onUpstreamData);
    upstream.on('error', () => undefined);
    upstream.once('close', () => this.closed('acceptor', 'acceptor closed the connection'));
    upstream.write(raw);
    this.bytesUp.value += raw.length;
  }

  /** Bytes of the requestor's A-ABORT, while the A-ASSOCIATE-AC is pending: at most one PDU header and body. */
  private pendingBytes = Buffer.alloc(0);

  /**
   * PS3.8 §9.2.3, Table 9-10: while the requestor waits for the A-ASSOCIATE-AC (Sta5; the gateway's
   * side facing it is in Sta3), an A-ABORT from it ends the association at once (AA-3): it is relayed
   * to the acceptor if the RQ reached it, and both connections close, without waiting for the AC. Any
   * other PDU is unexpected (AA-8): A-ABORT both ways. So nothing but one 10-byte A-ABORT is ever
   * held here; the type is judged on the header, before any body is buffered.
   */
  private readonly onPendingData = (chunk: Buffer): void => {
    if (this.stopped || this.finished) return;
    this.bytesUp.value += chunk.length;
    const buf = this.pendingBytes = Buffer.concat([this.pendingBytes, chunk]);
    let header;
    try {
      header = peekHeader(buf, { maxPduLength: 0xffffffff });
      if (header && header.type !== PDU_TYPE.Abort) {
        throw new WardgateError('PDU_MALFORMED', `${PDU_TYPE_NAMES[header.type]} received while the A-ASSOCIATE-AC is pending; only A-ABORT may come (PS3.8 §9.2, Sta5)`);
      }
    } catch (err) {
      return this.protocolError(err, 'requestor', { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.UnexpectedPdu });
    }
    if (!header || buf.length < header.totalLength) return;
    this.pendingBytes = Buffer.alloc(0);
    let pdu: DecodedPdu;
    try {
      pdu = decodePdu(buf.subarray(0, header.totalLength));
    } catch (err) {
      return this.protocolError(err, 'requestor', { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.InvalidPduParameterValue });
    }
    // Still connecting: the acceptor has seen nothing, the abort ends the association on this side only.
    if (this.upstream) {
      if (!this.observe(pdu, 'requestor')) return;
      forward(this.ctx.client, this.upstream, buf.subarray(0, header.totalLength));
    }
    this.after(pdu, 'requestor');
  };

  private reject(rj: AssociateRj): void {
    const { client } = this.ctx;
    this.rejected = true;
    this.ending = describeRejection(rj);
    this.outcome = OUTCOME.MinorFailure;
    if (this.artim) clearTimeout(this.artim);
    client.write(encodeAssociateRj(rj));
    // PS3.8 Sta13: the requestor closes the transport after an A-ASSOCIATE-RJ; ARTIM (closeSoon's
    // timer) only bounds a peer that does not. The client was paused to read the RQ: let it flow
    // (nothing listens, its bytes are dropped) so that its close is seen at once and the connection
    // stops counting against the per-peer limit.
    client.resume();
    closeSoon(client);
  }

  /** `lease` is set for chunks read into pooled buffers (readPooled), unset for 'data' events. */
  private readonly onClientData = (chunk: Buffer, lease?: Lease): void => {
    if (this.stopped || this.finished) return;
    this.bytesUp.value += chunk.length;
    // Data set bytes inside a P-DATA-TF already checked at its header: straight through, no copy.
    if (this.fromClient.passThrough(chunk)) forward(this.ctx.client, this.upstream!, chunk, lease);
    else this.relay(chunk, 'requestor', lease);
  };

  private readonly onUpstreamData = (chunk: Buffer, lease?: Lease): void => {
    if (this.stopped || this.finished) return;
    this.bytesDown.value += chunk.length;
    if (this.fromUpstream.passThrough(chunk)) forward(this.upstream!, this.ctx.client, chunk, lease);
    else this.relay(chunk, 'acceptor', lease);
  };

  private relay(chunk: Buffer, from: PduSender, lease?: Lease): void {
    const framer = from === 'requestor' ? this.fromClient : this.fromUpstream;
    const src = from === 'requestor' ? this.ctx.client : this.upstream!;
    const dst = from === 'requestor' ? this.upstream! : this.ctx.client;
    let segments: Segment[];
    try {
      segments = framer.push(chunk);
    } catch (err) {
      return this.protocolError(err, from);
    }
    for (const seg of segments) {
      if (this.finished || this.stopped) return;
      if (seg.kind === 'pass') {
        if (seg.first) {
          const pdu: DecodedPdu = { kind: 'P-DATA-TF', value: [{ contextId: seg.first.contextId, command: false, last: seg.first.last, data: Buffer.alloc(0) }] };
          if (!this.observe(pdu, from)) return;
        }
        forward(src, dst, seg.bytes, lease);
        continue;
      }
      let pdu: DecodedPdu;
      try {
        pdu = decodePdu(seg.pdu);
      } catch (err) {
        return this.protocolError(err, from, { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.InvalidPduParameterValue });
      }
      if (!this.observe(pdu, from)) return;
      if (pdu.kind === 'P-DATA-TF' && !this.inspectCommands(pdu.value, from)) return;
      forward(src, dst, seg.pdu.raw);
      this.after(pdu, from);
    }
  }

  /** Feed the tracker; on a violation abort both sides and return false. */
  private observe(pdu: DecodedPdu, from: PduSender): boolean {
    const { violation } = this.tracker.observe(pdu, from);
    if (!violation) return true;
    this.protocolError(new WardgateError('PDU_MALFORMED', violation.message), from, violation.abort);
    return false;
  }

  private after(pdu: DecodedPdu, from: PduSender): void {
    const { ctx } = this;
    if (pdu.kind === 'A-ASSOCIATE-AC') {
      if (this.artim) clearTimeout(this.artim);
      this.established = true;
      // PS3.8 D.1: what the requestor sends must fit the acceptor's Maximum Length.
      this.fromClient.limitToNegotiated(pdu.value.userInformation.maxLength);
      ctx.metrics.inc('wardgate_associations_total', this.labels);
      if (ctx.auditor.enabled) ctx.auditor.record(associationEvent(ctx.auditor.identity, 'established', this.source(), this.destination(), `route ${ctx.route.name}: association established`));
      const idle = ctx.route.limits.idleTimeoutMs;
      ctx.client.setTimeout(idle, () => this.abortBoth(`no traffic for ${idle} ms`));
      this.upstream!.setTimeout(idle, () => this.abortBoth(`no traffic for ${idle} ms`));
      ctx.client.removeListener('data', this.onPendingData);
      ctx.client.on('data', this.onClientData);
      // The data sets of the association: read into recycled buffers from here on (pooled-reads.ts);
      // the 'data' listeners stay for what either socket had buffered before the switch.
      readPooled(ctx.client, this.onClientData);
      readPooled(this.upstream!, this.onUpstreamData);
      // The first bytes of an A-ABORT sent as the AC crossed it: the established phase reads the rest.
      if (this.pendingBytes.length > 0) {
        const rest = this.pendingBytes;
        this.pendingBytes = Buffer.alloc(0);
        this.relay(rest, 'requestor');
      }
    } else if (pdu.kind === 'A-ASSOCIATE-RJ') {
      this.rejected = true;
      this.ending = describeRejection(pdu.value);
      this.outcome = OUTCOME.MinorFailure;
      // The gateway admitted the peer and the acceptor refused it (unknown AE title, congestion): worth a
      // record, since a device that keeps getting refused behind the gateway is otherwise invisible.
      ctx.metrics.inc('wardgate_associations_rejected_total', this.labels);
      if (ctx.auditor.enabled) ctx.auditor.record(associationEvent(ctx.auditor.identity, 'rejected', this.source(), this.destination(), `route ${ctx.route.name}: association rejected by the acceptor: ${this.ending}`, OUTCOME.MinorFailure));
      closeSoon(ctx.client);
      closeSoon(this.upstream);
    } else if (pdu.kind === 'A-ABORT') {
      // Data the other side sent before it saw the abort is still in flight: drop it, it is no violation.
      this.stopped = true;
      this.ending = `${describeAbort(pdu.value)} (sent by the ${from})`;
      this.outcome = OUTCOME.MinorFailure;
      closeSoon(ctx.client);
      closeSoon(this.upstream);
    } else if (pdu.kind === 'A-RELEASE-RP' && this.tracker.phase === 'closed') {
      // PS3.8 §9.2.2: after A-RELEASE-RP the requestor closes the transport; give it ARTIM's grace.
      this.ending = 'released';
      closeSoon(ctx.client, ctx.route.limits.artimTimeoutMs);
      closeSoon(this.upstream, ctx.route.limits.artimTimeoutMs);
    }
  }

  /**
   * PS3.7 §9.3.1: C-STORE-RQ and -RSP command sets name the instance and whether it was stored (for
   * audit, both directions: C-GET stores come from the acceptor); PS3.7 §9.3.4.1: a C-MOVE-RQ names
   * the move destination, which must map to a route that brings the PACS's sub-association back over
   * TLS. Returns false when the association was aborted.
   */
  private inspectCommands(pdvs: ReturnType<typeof decodePDataTf>, from: PduSender): boolean {
    for (const pdv of pdvs) {
      if (!pdv.command) continue;
      const parts = this.commandParts[from];
      // A command set is a few hundred bytes (PS3.7 §9.3); fragments whose "last" bit never comes must
      // not pile up in the gateway (found by the fuzzer: memory-dicom-c96b01ab).
      // Zero-length fragments count too: a flood of them grew the relay by ~200 bytes per 6-byte PDV
      // (50 MB relayed: 1.6 GB held) while adding nothing to the command set.
      this.commandBytes[from] += PDV_HEADER_LENGTH + pdv.data.length;
      if (this.commandBytes[from] > MAX_COMMAND_SET_BYTES) {
        parts.length = 0;
        this.protocolError(new WardgateError('PDU_MALFORMED', `command set from the ${from} exceeds ${MAX_COMMAND_SET_BYTES} bytes (PDV headers included) without its last fragment`), from,
          { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.InvalidPduParameterValue });
        return false;
      }
      const held = heldFragment(pdv);
      if (held) parts.push(held);
      if (!pdv.last) continue;
      const raw = Buffer.concat(parts);
      parts.length = 0;
      this.commandBytes[from] = 0;
      try {
        const cmd = decodeCommand(raw);
        this.stores.observe(cmd, from);
        const reverse = this.ctx.route.moveDestinations ? this.reverseDestination(cmd, pdv.contextId, from) : undefined;
        if (reverse && !this.reverseAllowed(reverse, pdv.contextId, from)) return false;
      } catch (err) {
        // Command sets are forwarded as they are: the SCP judges DIMSE content, the gateway only audits it.
        // Except where the route's policy depends on that content: a command set the gateway cannot read
        // unambiguously (out-of-order elements, a wrong CommandGroupLength: PS3.5 §7.1, PS3.7 §6.3.1) may
        // be a C-MOVE-RQ to the SCP, whose parser (dcmtk's) reads both, so it is refused, not passed on.
        // Both directions: a C-MOVE-RQ may come from the acceptor too (see moveAllowed).
        if (this.ctx.route.moveDestinations) {
          const { ctx } = this;
          ctx.metrics.inc('wardgate_denials_total', { ...this.labels, reason: 'move-destination' });
          ctx.auditor.record(securityAlert(ctx.auditor.identity, 'restricted-function', this.source(), `route ${ctx.route.name}: unreadable command set from the ${from} refused: its move destination cannot be checked`));
          this.abortBoth(`command set from the ${from} cannot be decoded, so its C-MOVE destination cannot be checked: ${(err as Error).message}`, { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.NotSpecified });
          return false;
        }
      }
    }
    return true;
  }

  /**
   * The AE title a request makes its performer open an association to, if it does:
   * - C-MOVE-RQ (PS3.7 §9.3.4.1): the C-MOVE SCP opens a sub-association to the Move Destination.
   * - N-ACTION-RQ of the Storage Commitment Push Model (PS3.4 J.3.3): the SCP may report with an
   *   N-EVENT-REPORT on an association it opens to the SCU's AE title, which no command element names:
   *   it is the invoker's own AE title in this association's RQ (Orthanc always reports that way).
   * - N-ACTION-RQ subscribing to UPS event reports (PS3.4 CC.2.3): the SCP "shall use" the Receiving AE
   *   (0074,1234) for its N-EVENT-REPORT associations, and a requestor may name any AE there ("to
   *   subscribe other systems"). That element is in the data set, which the relay streams without
   *   decoding (transfer syntax, fragments, sequences), so its destination is unknown here.
   * Recognised by the Requested SOP Class UID or by the context's abstract syntax, as an SCP may
   * dispatch on either.
   */
  private reverseDestination(cmd: CommandSet, contextId: number, from: PduSender): ReverseRequest | undefined {
    if (cmd.commandField === COMMAND_FIELD.CMoveRq) return { operation: 'C-MOVE', field: 'move destination', ae: (cmd.moveDestination ?? '').trim() };
    if (cmd.commandField !== COMMAND_FIELD.NActionRq) return undefined;
    const sopClasses = [cmd.requestedSopClassUid, this.tracker.abstractSyntax(contextId)];
    if (sopClasses.includes(SOP_CLASS.StorageCommitmentPushModel)) {
      const own = from === 'requestor' ? this.rq?.callingAeTitle : this.rq?.calledAeTitle;
      return { operation: 'storage commitment', field: `${from === 'requestor' ? 'calling' : 'called'} AE title`, ae: (own ?? '').trim() };
    }
    if (cmd.actionTypeId === UPS_SUBSCRIBE && sopClasses.some((uid) => uid !== undefined && UPS_SOP_CLASSES.has(uid))) {
      return { operation: 'UPS subscription', field: 'Receiving AE (0074,1234)', ae: undefined };
    }
    return undefined;
  }

  /**
   * The route's move-destination rule, for a reverse-association request from either side: the
   * destination must map to a route that brings the association back over TLS. PS3.7 D.3.3.4: the
   * requestor is the SCU unless role selection says otherwise, so the acceptor may invoke an operation
   * only on a context whose SOP class it was negotiated the SCU role for (the requestor proposed the
   * SCP role and the AC accepted it); then the requestor performs it and the same rule applies to the
   * destination it is asked to reach. Without that role the acceptor's request is a misbehaving
   * peer's, which a lenient requestor might still act on: refused like an unmapped destination. On
   * refusal aborts both sides and returns false.
   */
  private reverseAllowed(reverse: ReverseRequest, contextId: number, from: PduSender): boolean {
    const { ctx } = this;
    const { operation, field, ae } = reverse;
    let refusal: string | undefined;
    if (from === 'acceptor' && !this.tracker.requestorActsAsScp(contextId)) {
      refusal = `${operation} request from the acceptor on presentation context ${contextId}, for whose SOP class it was not negotiated the SCU role (PS3.7 D.3.3.4)`;
    } else if (ae === undefined) {
      refusal = `${operation} request from the ${from} names its destination in the ${field} of its data set, which the gateway does not read: refused on a route that restricts reverse associations`;
    } else if (!Object.hasOwn(ctx.route.moveDestinations ?? {}, ae)) {
      refusal = `${operation} request from the ${from} names ${field} "${ae}", which has no reverse route`;
    }
    if (!refusal) return true;
    ctx.metrics.inc('wardgate_denials_total', { ...this.labels, reason: 'move-destination' });
    ctx.auditor.record(securityAlert(ctx.auditor.identity, 'restricted-function', this.source(), `route ${ctx.route.name}: ${operation}${ae === undefined ? '' : ` to "${ae}"`} from the ${from} refused: ${refusal}`));
    this.abortBoth(refusal, { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.NotSpecified });
    return false;
  }

  private protocolError(err: unknown, from: PduSender, abort: Abort = { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.UnrecognizedPdu }): void {
    const message = isWardgateError(err) ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
    this.ctx.metrics.inc('wardgate_protocol_errors_total', this.labels);
    this.abortBoth(`protocol error from the ${from}: ${message}`, abort);
  }

  /** PS3.8 §9.2.3: a provider-initiated A-ABORT to both sides, then close. */
  private abortBoth(why: string, abort: Abort = { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.NotSpecified }): void {
    if (this.finished || this.stopped) return;
    this.ctx.log(`route ${this.ctx.route.name}: aborting association with ${this.ctx.peer.address}: ${why}`);
    this.ending = 'aborted';
    this.stopped = true;
    this.abortReason = why;
    this.outcome = OUTCOME.SeriousFailure;
    if (this.artim) clearTimeout(this.artim);
    this.rqParts = [];
    this.pendingBytes = Buffer.alloc(0);
    const pdu = encodeAbort(abort);
    for (const s of [this.ctx.client, this.upstream]) {
      if (s && !s.destroyed && s.writable) s.write(pdu);
      closeSoon(s, 500);
    }
  }

  private abortReason: string | undefined;

  private firstClose: string | undefined;
  private clientClosed = false;
  private upstreamClosed = false;

  /** Either side closing ends the association: the other side is closed too; finish once both are. */
  private closed(side: PduSender, why: string): void {
    // The side that closed first ended the association; the other only followed the gateway's close.
    this.firstClose ??= why;
    if (side === 'requestor') {
      this.clientClosed = true;
      closeSoon(this.upstream, 500);
    } else {
      this.upstreamClosed = true;
      closeSoon(this.ctx.client, 500);
    }
    if (this.clientClosed && (!this.upstream || this.upstreamClosed)) this.finish(this.firstClose);
  }

  private finish(why: string): void {
    if (this.finished) return;
    this.finished = true;
    if (this.artim) clearTimeout(this.artim);
    const { ctx } = this;
    // An association that ended while its AC was pending (an abort or a close in Sta5, PS3.8 §9.2.3)
    // is audited as ended too; a rejection is an answer, and the policy's own is a security alert.
    const pending = !this.established && this.requested && !this.rejected;
    if ((this.established || pending) && ctx.auditor.enabled) {
      const detail = this.ending === 'aborted' ? `aborted: ${this.abortReason}` : this.ending ?? why;
      const outcome = this.ending === 'released' ? OUTCOME.Success : this.outcome === OUTCOME.Success ? OUTCOME.MinorFailure : this.outcome;
      const when = pending ? ' before the A-ASSOCIATE-AC' : '';
      ctx.auditor.record(associationEvent(ctx.auditor.identity, 'closed', this.source(), this.destination(), `route ${ctx.route.name}: association ${detail}${when}`, outcome));
      if (this.stores.count > 0) this.auditStores(outcome);
    }
    ctx.onClose();
  }

  /**
   * PS3.15 A.5.3.5: one record for the instances stored, one (failure outcome) for those refused or
   * unanswered, per direction. The Source role is the sender of the instances; for C-GET that is the
   * acceptor, which did not request the association (UserIsRequestor, A.5.2.1).
   */
  private auditStores(associationOutcome: Outcome): void {
    const { auditor } = this.ctx;
    const failed = associationOutcome === OUTCOME.Success ? OUTCOME.MinorFailure : associationOutcome;
    for (const sender of ['requestor', 'acceptor'] as const) {
      const result: StoreOutcome = this.stores.settle(sender);
      const [from, to] = sender === 'requestor' ? [this.source(), this.destination()] : [this.destination(), this.source()];
      for (const [bySopClass, outcome] of [[result.stored, OUTCOME.Success], [result.notStored, failed]] as const) {
        if (bySopClass.size === 0) continue;
        auditor.record(instancesTransferred(auditor.identity, from, to, { bySopClass }, outcome, new Date(), sender === 'requestor'));
      }
    }
  }

  private source() {
    const { peer } = this.ctx;
    return { userId: this.rq?.callingAeTitle ?? peer.subjectText ?? peer.address, address: peer.address, userName: peer.subjectText };
  }

  private destination() {
    return { userId: this.rq?.calledAeTitle ?? this.ctx.route.upstream, address: this.ctx.upstreamHost };
  }
}
