/**
 * HL7-aware relay over MLLP (HL7 v2 Implementation Guide Appendix C): frames are checked and bounded
 * by protocols/hl7's MllpDecoder, each message's MSH (HL7 v2.5 §2.14.9) is decided with the route's
 * allow rules, a denied message is never forwarded and is answered as its MSH-15/16 ask: original mode
 * with AR (§2.9.2), enhanced mode with CR, AR or, when the sender wants no acknowledgment, not at all
 * (§2.9.3; see refusalAckCode). Messages are relayed one at a time (original-mode acknowledgment is
 * synchronous), so every ACK returns to the sender in order and nothing piles up in memory. Enhanced-mode
 * messages whose receiver need not answer at once (MSH-15 ER, SU, NE) are relayed without waiting, and
 * the acknowledgments that come for them later are relayed back as they arrive.
 */
import { securityAlert } from '../audit/events.ts';
import { WardgateError, isWardgateError } from '../errors.ts';
import {
  HL7_ERROR, MllpDecoder, buildAck, encodeFrame, expectsAcceptAcknowledgment, headerSegments, hierarchicDesignator, parseAck, parseMsh,
  receiverReading, refusalAckCode, wantsNoAcknowledgment,
} from '../protocols/hl7/index.ts';
import type { Msh } from '../protocols/hl7/index.ts';
import { decideMessage } from './policy.ts';
import { FORWARD_HIGH_WATER, type SessionContext, closeSoon } from './session.ts';
import type net from 'node:net';

export function relayHl7(ctx: SessionContext): void {
  new Hl7Relay(ctx).start();
}

/** Enhanced-mode messages per connection whose late acknowledgments are still relayed. */
const MAX_UNANSWERED = 1024;

class Hl7Relay {
  private readonly labels: { route: string };
  private readonly fromClient: MllpDecoder;
  private readonly fromUpstream: MllpDecoder;
  private queue: Buffer[] = [];
  private busy = false;
  private upstream: net.Socket | undefined;
  private connecting: Promise<net.Socket> | undefined;
  private awaitingAck: { controlId: string; resolve: (frame: Buffer) => void; reject: (err: Error) => void; timer: NodeJS.Timeout } | undefined;
  private frameTimer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(private readonly ctx: SessionContext) {
    this.labels = { route: ctx.route.name };
    this.fromClient = new MllpDecoder({ maxFrameSize: ctx.route.limits.maxFrameSize });
    this.fromUpstream = new MllpDecoder({ maxFrameSize: ctx.route.limits.maxFrameSize });
  }

  start(): void {
    const { client, route } = this.ctx;
    client.on('data', (chunk: Buffer) => this.onClientData(chunk));
    client.on('error', () => undefined);
    client.once('close', () => this.finish());
    client.setTimeout(route.limits.idleTimeoutMs, () => this.fail(`no traffic for ${route.limits.idleTimeoutMs} ms`));
  }

  private onClientData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.fromClient.push(chunk);
    } catch (err) {
      this.ctx.metrics.inc('wardgate_protocol_errors_total', this.labels);
      return this.fail(`framing error from ${this.ctx.peer.address}: ${(err as Error).message}`);
    }
    // Slowloris: a frame once started must be finished within frameTimeoutMs.
    if (this.fromClient.inFrame && !this.frameTimer) {
      const ms = this.ctx.route.limits.frameTimeoutMs;
      this.frameTimer = setTimeout(() => {
        const err = new WardgateError('PROXY_TIMEOUT', `MLLP frame not completed within ${ms} ms`);
        this.fail(`${err.code}: ${err.message}`);
      }, ms);
    } else if (!this.fromClient.inFrame && this.frameTimer) {
      clearTimeout(this.frameTimer);
      this.frameTimer = undefined;
    }
    if (frames.length === 0) return;
    this.queue.push(...frames);
    this.ctx.client.pause();
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length > 0 && !this.finished) {
        await this.handle(this.queue.shift()!);
      }
    } catch (err) {
      this.fail((err as Error).message);
    } finally {
      this.busy = false;
    }
    if (!this.finished) this.resumeClient();
  }

  /**
   * Read on only once what the gateway wrote to the sender is below the forwarding bound: a sender
   * that never reads its ACKs and NAKs (a NAK is bigger than the message it refuses) made the gateway
   * hold every one of them, without bound.
   */
  private resumeClient(): void {
    const { client } = this.ctx;
    if (client.writableLength <= FORWARD_HIGH_WATER) client.resume();
    else client.once('drain', () => this.finished || client.resume());
  }

  private async handle(payload: Buffer): Promise<void> {
    const { ctx } = this;
    let msh: Msh;
    try {
      msh = parseMsh(payload);
    } catch (err) {
      // Without an MSH there is nothing to address a NAK to (MSA-2 needs MSH-10): drop the connection.
      ctx.metrics.inc('wardgate_protocol_errors_total', this.labels);
      throw new Error(`message without a valid MSH from ${ctx.peer.address}: ${isWardgateError(err) ? err.message : String(err)}`);
    }
    let app = hierarchicDesignator(msh.sendingApplication, msh.encoding);
    let facility = hierarchicDesignator(msh.sendingFacility, msh.encoding);
    const refuse = (reason: string, label: string, text: string, errorCode: string) => {
      ctx.metrics.inc('wardgate_denials_total', { ...this.labels, reason: label });
      ctx.auditor.record(securityAlert(ctx.auditor.identity, 'restricted-function',
        { userId: `${app.first}^${facility.first}`, address: ctx.peer.address, userName: ctx.peer.subjectText },
        `route ${ctx.route.name}: HL7 message ${msh.controlId} refused: ${reason}`));
      // Original mode gets AR; enhanced mode CR, AR or, when MSH-15/16 ask for none, nothing (see refusalAckCode).
      const code = refusalAckCode(msh);
      const err = new WardgateError('PROXY_POLICY_DENIED', `${code ? `NAK ${code}` : 'no NAK (MSH-15/16 ask for none)'} for message ${msh.controlId}: ${reason}`);
      ctx.log(`route ${ctx.route.name}: ${err.code}: ${err.message}`);
      if (code) ctx.client.write(encodeFrame(buildAck(msh, { code, text, errorCode })));
    };
    // One MLLP frame is one message (HL7 v2 Implementation Guide, Appendix C; batches are HL7 v2.5
    // §2.10.3 BHS/BTS, not MLLP frames). The rules below judge the first MSH only: a second MSH, or a
    // batch/file header, behind it (after any line break some receiver splits at) would reach the
    // receiver unchecked as a message of its own, so the frame is refused whole.
    const bytes = payload.toString('latin1');
    const headers = headerSegments(bytes);
    if (headers.length !== 1) {
      return refuse(`the frame holds ${headers.length} header segments (${headers.join(', ')}), not one MSH: one MLLP frame must carry one message`, 'ambiguous',
        'one MLLP frame must carry exactly one message', HL7_ERROR.SegmentSequenceError);
    }
    // HL7 v2.5 §2.14.9.18: the rules judge the MSH as the receiver decodes it (by MSH-18, else by the
    // route's hl7.defaultCharset); a message that reads differently decoded and as bytes is refused.
    const reading = receiverReading(payload, bytes, msh, ctx.route.hl7?.defaultCharset);
    if (!('msh' in reading)) return refuse(reading.reason, 'ambiguous', reading.text, HL7_ERROR.DataTypeError);
    const routing = reading.msh;
    if (routing !== msh) {
      app = hierarchicDesignator(routing.sendingApplication, routing.encoding);
      facility = hierarchicDesignator(routing.sendingFacility, routing.encoding);
    }
    const decision = decideMessage(ctx.route.allow, ctx.peer, {
      sendingApplication: app.first,
      sendingFacility: facility.first,
      sendingApplicationHd: app.full,
      sendingFacilityHd: facility.full,
      code: routing.messageType.code,
      trigger: routing.messageType.trigger,
    });
    if (!decision.allowed) return refuse(decision.reason, 'policy', 'message refused by gateway policy', HL7_ERROR.UnsupportedMessageType);
    const upstream = await this.ensureUpstream();
    if (!expectsAcceptAcknowledgment(msh)) {
      // HL7 v2.5 §2.9.3: enhanced mode with MSH-15 ER, SU or NE: the receiver may answer later or not at
      // all, so waiting would only end in the ACK timeout closing the connection. What it does send for
      // this message (an error accept ACK, an application ACK per MSH-16) is relayed when it comes.
      if (!wantsNoAcknowledgment(msh)) this.rememberUnanswered(msh.controlId);
      this.toUpstream(upstream, payload);
      ctx.metrics.inc('wardgate_messages_total', this.labels);
      // No ACK paces this sender: hold its next message until the upstream has read this one.
      if (upstream.writableLength > FORWARD_HIGH_WATER) {
        await new Promise((resolve) => { upstream.once('drain', resolve); upstream.once('close', resolve); });
      }
      return;
    }
    const ack = new Promise<Buffer>((resolve, reject) => {
      const ms = ctx.route.limits.ackTimeoutMs;
      const timer = setTimeout(() => reject(new Error(`no acknowledgment from the upstream within ${ms} ms`)), ms);
      this.awaitingAck = { controlId: msh.controlId, resolve, reject, timer };
    });
    this.toUpstream(upstream, payload);
    this.toClient(await ack);
    ctx.metrics.inc('wardgate_messages_total', this.labels);
  }

  private toUpstream(upstream: net.Socket, payload: Buffer): void {
    const frame = encodeFrame(payload);
    upstream.write(frame);
    this.ctx.metrics.inc('wardgate_bytes_total', { ...this.labels, direction: 'upstream' }, frame.length);
  }

  private toClient(payload: Buffer): void {
    const frame = encodeFrame(payload);
    this.ctx.client.write(frame);
    this.ctx.metrics.inc('wardgate_bytes_total', { ...this.labels, direction: 'downstream' }, frame.length);
  }

  private ensureUpstream(): Promise<net.Socket> {
    if (this.upstream && !this.upstream.destroyed) return Promise.resolve(this.upstream);
    this.connecting ??= this.ctx.connectUpstream().then((socket) => {
      this.upstream = socket;
      this.connecting = undefined;
      socket.on('data', (chunk: Buffer) => this.onUpstreamData(chunk));
      socket.on('error', () => undefined);
      socket.once('close', () => {
        if (!this.finished) this.fail('upstream closed the connection');
      });
      if (this.finished) socket.destroy();
      return socket;
    }, (err) => {
      this.connecting = undefined;
      const reason = (err as Error).message;
      if (this.ctx.route.direction === 'outbound') {
        this.ctx.auditor.record(securityAlert(this.ctx.auditor.identity, 'node-authentication', { userId: this.ctx.route.upstream, address: this.ctx.upstreamHost }, `route ${this.ctx.route.name}: upstream connection failed: ${reason}`));
      }
      throw err;
    });
    return this.connecting;
  }

  private onUpstreamData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.fromUpstream.push(chunk);
    } catch (err) {
      this.ctx.metrics.inc('wardgate_protocol_errors_total', this.labels);
      return this.fail(`framing error from the upstream: ${(err as Error).message}`);
    }
    for (const frame of frames) {
      const waiting = this.awaitingAck;
      // HL7 v2 §2.9.2: MSA-2 repeats the MSH-10 of the message acknowledged. An acknowledgment for some
      // other message (a stale or hostile extra ACK) must not be handed to the sender as the answer.
      let referenced: string | undefined;
      try {
        referenced = parseAck(frame).controlIdReferenced;
      } catch { /* not an acknowledgment */ }
      if (referenced !== undefined && referenced !== waiting?.controlId && this.unanswered.has(referenced)) {
        // A late acknowledgment of an enhanced-mode message relayed without waiting (§2.9.3).
        this.toClient(frame);
        continue;
      }
      if (!waiting) {
        this.ctx.log(`route ${this.ctx.route.name}: dropped an unsolicited frame from the upstream`);
        continue;
      }
      if (referenced !== waiting.controlId) {
        this.ctx.metrics.inc('wardgate_protocol_errors_total', this.labels);
        this.ctx.log(`route ${this.ctx.route.name}: dropped an upstream frame that does not acknowledge message ${waiting.controlId} (MSA-2 ${JSON.stringify(referenced ?? null)})`);
        continue;
      }
      this.awaitingAck = undefined;
      clearTimeout(waiting.timer);
      waiting.resolve(frame);
    }
  }

  /**
   * Control IDs of enhanced-mode messages relayed without waiting, whose acknowledgments are relayed
   * whenever they come. Bounded: the oldest are forgotten first (their late ACKs are then dropped).
   */
  private readonly unanswered = new Set<string>();

  private rememberUnanswered(controlId: string): void {
    this.unanswered.delete(controlId);
    this.unanswered.add(controlId);
    if (this.unanswered.size > MAX_UNANSWERED) this.unanswered.delete(this.unanswered.values().next().value!);
  }

  private fail(why: string): void {
    if (this.finished) return;
    this.ctx.log(`route ${this.ctx.route.name}: closing HL7 connection from ${this.ctx.peer.address}: ${why}`);
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.frameTimer) clearTimeout(this.frameTimer);
    if (this.awaitingAck) {
      clearTimeout(this.awaitingAck.timer);
      this.awaitingAck.reject(new Error('connection closed'));
      this.awaitingAck = undefined;
    }
    this.queue = [];
    closeSoon(this.ctx.client, 500);
    closeSoon(this.upstream, 500);
    this.ctx.onClose();
  }
}
