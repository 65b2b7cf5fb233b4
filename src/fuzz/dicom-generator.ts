/**
 * Structure-aware DICOM generation (PS3.8 upper layer, PS3.7 DIMSE): hostile requestor exchanges
 * (A-ASSOCIATE-RQ with presentation contexts and user information, P-DATA-TF carrying C-ECHO,
 * C-STORE and C-FIND command and data sets, release and abort, in and out of the PS3.8 §9.2 state
 * order) and hostile acceptor answers (A-ASSOCIATE-AC/RJ, P-DATA responses, release, abort) for the
 * client-side parsers behind outbound routes. Mutations edit the PDU tree before it is serialised, so
 * a lying length stays a single lie in an otherwise valid PDU.
 */
import {
  APPLICATION_CONTEXT_UID, COMMAND_FIELD, DATA_SET_TYPE, ITEM_TYPE, PDU_TYPE, SOP_CLASS, TRANSFER_SYNTAX,
  encodeCEchoRq, encodeCEchoRsp, encodeCStoreRq, encodeCommand,
} from '../protocols/dicom/index.ts';
import { SERVER_SIDE_MARKER } from './backend.ts';
import { type DatasetPool, EXPLICIT_VR_LE, mutateDataSet } from './dataset.ts';
import { type WireItem, type WirePdu, type WirePdv, aeField, associateFixed, encodeWirePdu, fixedPdu, u16be, u32be, uidItem } from './dicom-wire.ts';
import type { Exchange } from './exchange.ts';
import { havoc, mutateStream } from './havoc.ts';
import { Rng } from './prng.ts';

/** Study Root Query/Retrieve Information Model - FIND (PS3.4 Annex C.6.2). */
const STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1';
const IMPLEMENTATION_UID = '1.2.826.0.1.3680043.10.1234.77.1';

export interface DicomDictionary {
  /** Calling AE titles the route admits (the fuzzer mixes them with ones it must refuse). */
  callingAeTitles: string[];
  calledAeTitles: string[];
}

export const DEFAULT_DICOM_DICTIONARY: DicomDictionary = { callingAeTitles: ['FUZZSCU'], calledAeTitles: ['ANY-SCP'] };

const AE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-';

interface Plan {
  pdus: WirePdu[];
  mutations: string[];
  end?: boolean;
  /** Bulk plan: no further mutation (one lie would end it early), shared chunks. */
  flood?: boolean;
}

/** Client execs that send the A-ASSOCIATE-RQ alone and the rest only once it is accepted (awaitAccept). */
const ACCEPT_FIRST_CHANCE = 0.8;

/**
 * Execs that are an echo flood from a requestor that never reads. Rare: each is 183,000 PDUs relayed
 * and answered (seconds of CPU); at 1 in 30,000 they cost the campaign about a tenth of its rate.
 * test/proxy/limits.test.ts checks the same backpressure deterministically.
 */
const UNREAD_FLOOD_CHANCE = 0.00003;

/** 64 KiB of fragment bytes shared by every flood PDU (P-DATA-TF well under the 4 MiB PDU limit). */
const FLOOD_FRAGMENT = Buffer.alloc(64 * 1024, 0x20);

/** 10,000 zero-length command fragments, last bit clear: one 60 KB flood PDU. */
const EMPTY_COMMAND_FRAGMENTS: WirePdv[] = Array.from({ length: 10_000 }, () => ({ contextId: 1, control: 1, data: Buffer.alloc(0) }));

function pdata(pdvs: WirePdv[]): WirePdu {
  return { type: PDU_TYPE.PDataTf, kind: 'pdata', pdvs };
}

/** Split a message into PDVs of random fragment size, several PDVs per PDU sometimes (PS3.8 Annex E). */
function messagePdus(rng: Rng, contextId: number, command: Buffer, dataSet?: Buffer): WirePdu[] {
  const pdvs: WirePdv[] = [];
  const split = (bytes: Buffer, isCommand: boolean) => {
    const size = rng.pick([16, 64, 1024, 16378, bytes.length || 1]);
    let pos = 0;
    do {
      const data = bytes.subarray(pos, pos + size);
      pos += size;
      pdvs.push({ contextId, control: (isCommand ? 1 : 0) | (pos >= bytes.length ? 2 : 0), data });
    } while (pos < bytes.length);
  };
  split(command, true);
  if (dataSet) split(dataSet, false);
  if (rng.chance(0.3)) return [pdata(pdvs)];
  return pdvs.map((p) => pdata([p]));
}

export class DicomGenerator {
  constructor(private readonly pool: DatasetPool, private readonly dict: DicomDictionary = DEFAULT_DICOM_DICTIONARY) {}

  private aeTitle(rng: Rng, allowed: string[]): string {
    return rng.weighted<() => string>([
      [6, () => rng.pick(allowed)],
      [2, () => rng.text(rng.range(1, 16), AE_ALPHABET)],
      [1, () => ` ${rng.pick(allowed)}`],
      [1, () => rng.pick(allowed).toLowerCase()],
    ])();
  }

  private associateRq(rng: Rng, calling: string, called: string): WirePdu {
    const contexts: WireItem[] = [
      { type: ITEM_TYPE.PresentationContextRq, head: Buffer.from([1, 0, 0, 0]), body: [uidItem(ITEM_TYPE.AbstractSyntax, SOP_CLASS.Verification), uidItem(ITEM_TYPE.TransferSyntax, TRANSFER_SYNTAX.ImplicitVrLittleEndian)] },
    ];
    for (const [i, instance] of this.pool.instances.slice(0, 3).entries()) {
      contexts.push({ type: ITEM_TYPE.PresentationContextRq, head: Buffer.from([3 + 2 * i, 0, 0, 0]), body: [uidItem(ITEM_TYPE.AbstractSyntax, instance.sopClassUid), uidItem(ITEM_TYPE.TransferSyntax, EXPLICIT_VR_LE), uidItem(ITEM_TYPE.TransferSyntax, TRANSFER_SYNTAX.ImplicitVrLittleEndian)] });
    }
    contexts.push({ type: ITEM_TYPE.PresentationContextRq, head: Buffer.from([9, 0, 0, 0]), body: [uidItem(ITEM_TYPE.AbstractSyntax, STUDY_ROOT_FIND), uidItem(ITEM_TYPE.TransferSyntax, EXPLICIT_VR_LE)] });
    const userInfo: WireItem[] = [
      { type: ITEM_TYPE.MaximumLength, body: u32be(rng.pick([16384, 65536, 0])) },
      uidItem(ITEM_TYPE.ImplementationClassUid, IMPLEMENTATION_UID),
      { type: ITEM_TYPE.ImplementationVersionName, body: Buffer.from('WARDGATE_FUZZ') },
    ];
    if (rng.chance(0.3)) userInfo.push({ type: ITEM_TYPE.AsynchronousOperationsWindow, body: Buffer.concat([u16be(rng.int(4)), u16be(rng.int(4))]) });
    if (rng.chance(0.3)) {
      const uid = Buffer.from(SOP_CLASS.CtImageStorage);
      userInfo.push({ type: ITEM_TYPE.RoleSelection, body: Buffer.concat([u16be(uid.length), uid, Buffer.from([1, rng.int(2)])]) });
    }
    if (rng.chance(0.3)) {
      const user = Buffer.from('fuzz-user');
      const pass = Buffer.from(rng.chance(0.5) ? 'secret' : '');
      userInfo.push({ type: ITEM_TYPE.UserIdentityRq, body: Buffer.concat([Buffer.from([rng.range(1, 2), rng.int(2)]), u16be(user.length), user, u16be(pass.length), pass]) });
    }
    return {
      type: PDU_TYPE.AssociateRq,
      kind: 'items',
      fixed: associateFixed(aeField(called), aeField(calling)),
      items: [uidItem(ITEM_TYPE.ApplicationContext, APPLICATION_CONTEXT_UID), ...contexts, { type: ITEM_TYPE.UserInformation, body: userInfo }],
    };
  }

  private operations(rng: Rng): WirePdu[] {
    const out: WirePdu[] = [];
    const count = rng.weighted([[4, 1], [2, 2], [1, 3], [1, 0]]);
    for (let m = 1; m <= count; m++) {
      const op = rng.weighted([[3, 'echo'], [3, 'store'], [1, 'find']] as const);
      if (op === 'echo') out.push(...messagePdus(rng, 1, encodeCEchoRq({ messageId: m })));
      else if (op === 'store') {
        const idx = rng.int(3);
        const instance = this.pool.instances[idx];
        const command = encodeCStoreRq({ messageId: m, affectedSopClassUid: instance.sopClassUid, affectedSopInstanceUid: instance.sopInstanceUid });
        out.push(...messagePdus(rng, 3 + 2 * idx, command, instance.dataSet));
      } else {
        const command = encodeCommand({ commandField: COMMAND_FIELD.CFindRq, messageId: m, affectedSopClassUid: STUDY_ROOT_FIND, priority: 0, dataSetType: DATA_SET_TYPE.Present });
        out.push(...messagePdus(rng, 9, command, rng.pick(this.pool.findIdentifiers)));
      }
    }
    return out;
  }

  /** A hostile requestor: the fuzzer connects to the target (SCP or inbound route) and sends this. */
  client(rng: Rng): Exchange {
    if (rng.chance(UNREAD_FLOOD_CHANCE)) return this.unreadEchoFlood(rng);
    const calling = this.aeTitle(rng, this.dict.callingAeTitles);
    const called = this.aeTitle(rng, this.dict.calledAeTitles);
    const rq = this.associateRq(rng, calling, called);
    const plan: Plan = { pdus: [rq, ...this.operations(rng)], mutations: [] };
    const ending = rng.weighted([[8, 'release'], [1, 'abort'], [1, 'none']] as const);
    if (ending === 'release') plan.pdus.push(fixedPdu(PDU_TYPE.ReleaseRq));
    else if (ending === 'abort') plan.pdus.push(fixedPdu(PDU_TYPE.Abort, 0, 0));
    if (rng.chance(0.15)) this.stateful(rng, plan);
    const rounds = plan.flood ? 0 : rng.weighted([[2, 0], [5, 1], [2, 2], [1, 3]]);
    for (let i = 0; i < rounds; i++) this.mutate(rng, plan);
    const ex = this.finish(rng, plan, 'client', `dicom-client calling=${JSON.stringify(calling)}`);
    // A requestor waits for the A-ASSOCIATE-AC before its first P-DATA-TF (PS3.8 §9.2, Sta5), and a
    // route aborts one that does not at once: written eagerly, the operations and every P-DATA lie
    // would never reach a route's relay. Most execs wait; the rest keep testing the eager case.
    // A flood is aimed at the relay's streaming (memory oracle), so it always waits: sent eagerly, a route
    // aborted every one at the association and no flood byte ever reached a relay.
    if (plan.flood) ex.awaitAccept = true;
    else if (plan.pdus[0] === rq && ex.chunks.length > 1 && ex.chunks[0] === this.lastFirstChunk && rng.chance(ACCEPT_FIRST_CHANCE)) ex.awaitAccept = true;
    return ex;
  }

  /**
   * An admitted requestor that sends ~14 MiB of C-ECHO-RQs and never reads: every one is answered,
   * and a relay that forwards the answers regardless of the unread backlog holds them all (PS3.8
   * P-DATA is relayed PDU by PDU in both directions, with backpressure both ways). The flood starts
   * once the A-ASSOCIATE-AC is in (awaitAccept): P-DATA-TF before it is a protocol error a gateway
   * aborts on at once (PS3.8 §9.2, Sta5), which would leave the backpressure path untried.
   */
  private unreadEchoFlood(rng: Rng): Exchange {
    const rq = encodeWirePdu(this.associateRq(rng, this.dict.callingAeTitles[0], this.dict.calledAeTitles[0]));
    const echo = encodeWirePdu(pdata([{ contextId: 1, control: 3, data: encodeCEchoRq({ messageId: 1 + rng.int(0xfffe) }) }]));
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => echo));
    const chunks = [rq, ...Array.from({ length: Math.ceil((14 * 1024 * 1024) / batch.length) }, () => batch)];
    return { protocol: 'dicom', side: 'client', label: `dicom-client calling=${JSON.stringify(this.dict.callingAeTitles[0])} unread-echo-flood`, chunks, neverRead: true, awaitAccept: true };
  }

  /** A hostile acceptor: the fuzzer's backend answers a benign requestor (through the route) with this. */
  server(rng: Rng, echo: { calling: string; called: string } = { calling: this.dict.callingAeTitles[0], called: this.dict.calledAeTitles[0] }): Exchange {
    const ac: WirePdu = {
      type: PDU_TYPE.AssociateAc,
      kind: 'items',
      fixed: associateFixed(aeField(echo.called), aeField(echo.calling)),
      items: [
        uidItem(ITEM_TYPE.ApplicationContext, APPLICATION_CONTEXT_UID),
        { type: ITEM_TYPE.PresentationContextAc, head: Buffer.from([1, 0, 0, 0]), body: [uidItem(ITEM_TYPE.TransferSyntax, TRANSFER_SYNTAX.ImplicitVrLittleEndian)] },
        { type: ITEM_TYPE.UserInformation, body: [{ type: ITEM_TYPE.MaximumLength, body: u32be(rng.pick([16384, 0, 1, 7, 0xffffffff])) }, uidItem(ITEM_TYPE.ImplementationClassUid, IMPLEMENTATION_UID)] },
      ],
    };
    const plan: Plan = { pdus: [], mutations: [] };
    const shape = rng.weighted([[6, 'accept'], [1, 'reject'], [1, 'abort'], [1, 'pdata-first'], [1, 'double-ac'], [1, 'abort-mid-pdv']] as const);
    const rsp = messagePdus(rng, 1, encodeCEchoRsp({ messageIdBeingRespondedTo: 1 }));
    if (shape === 'reject') plan.pdus.push({ type: PDU_TYPE.AssociateRj, kind: 'raw', body: Buffer.from([0, rng.range(0, 3), rng.range(0, 4), rng.int(256)]) });
    else if (shape === 'abort') plan.pdus.push(fixedPdu(PDU_TYPE.Abort, rng.int(3), rng.int(8)));
    else if (shape === 'pdata-first') plan.pdus.push(...rsp, ac);
    else if (shape === 'double-ac') plan.pdus.push(ac, ac, ...rsp, fixedPdu(PDU_TYPE.ReleaseRp));
    else if (shape === 'abort-mid-pdv') plan.pdus.push(ac, { type: PDU_TYPE.PDataTf, kind: 'raw', body: Buffer.concat([u32be(1000), Buffer.from([1, 3]), Buffer.alloc(10)]), lengthOverride: 1006 }, fixedPdu(PDU_TYPE.Abort, 2, 0));
    else plan.pdus.push(ac, ...rsp, fixedPdu(PDU_TYPE.ReleaseRp));
    plan.mutations.push(shape);
    const rounds = rng.weighted([[2, 0], [5, 1], [2, 2]]);
    for (let i = 0; i < rounds; i++) this.mutate(rng, plan);
    const ex = this.finish(rng, plan, 'server', 'dicom-server');
    // Each chunk answers one PDU of the requestor (PS3.8 §9.2: AC after RQ, response after the command, RP after RQ).
    ex.awaitReply = true;
    return ex;
  }

  /** A benign requestor for server-side fuzzing: association, C-ECHO, release, one PDU per answer. */
  benignClient(): Exchange {
    const rq = this.associateRq(new Rng(1), this.dict.callingAeTitles[0], this.dict.calledAeTitles[0]);
    const userInfo = rq.kind === 'items' ? rq.items.find((i) => i.type === ITEM_TYPE.UserInformation) : undefined;
    const version = userInfo && !Buffer.isBuffer(userInfo.body) ? userInfo.body.find((i) => i.type === ITEM_TYPE.ImplementationVersionName) : undefined;
    if (version) version.body = SERVER_SIDE_MARKER;
    return {
      protocol: 'dicom',
      side: 'client',
      label: 'dicom-benign-requestor',
      chunks: [encodeWirePdu(rq), encodeWirePdu(pdata([{ contextId: 1, control: 3, data: encodeCEchoRq({ messageId: 1 }) }])), encodeWirePdu(fixedPdu(PDU_TYPE.ReleaseRq))],
      awaitReply: true,
    };
  }

  /** Out-of-order sequences (PS3.8 §9.2 state table): data before association, release twice, abort mid-PDV ... */
  private stateful(rng: Rng, plan: Plan): void {
    // Floods move megabytes per exec: rare, so they do not dominate the exec rate.
    const kind = rng.weighted([
      [5, 'data-before-association'], [5, 'release-twice'], [5, 'abort-mid-pdv'], [5, 'rq-twice'], [5, 'pdata-after-release'], [5, 'release-first'],
      [1, 'command-flood'], [1, 'empty-command-flood'], [1, 'data-flood'],
    ] as const);
    const echo = pdata([{ contextId: 1, control: 3, data: encodeCEchoRq({ messageId: 99 }) }]);
    if (kind === 'data-before-association') plan.pdus.unshift(echo);
    else if (kind === 'release-twice') plan.pdus.push(fixedPdu(PDU_TYPE.ReleaseRq), fixedPdu(PDU_TYPE.ReleaseRq));
    else if (kind === 'abort-mid-pdv') {
      // A P-DATA-TF announcing more than it carries, cut by an A-ABORT: the abort's bytes land inside the PDV.
      plan.pdus.splice(1, plan.pdus.length - 1, { type: PDU_TYPE.PDataTf, kind: 'raw', body: Buffer.concat([u32be(1002), Buffer.from([1, 1]), Buffer.alloc(20)]), lengthOverride: 1006 }, fixedPdu(PDU_TYPE.Abort));
    } else if (kind === 'command-flood' || kind === 'empty-command-flood' || kind === 'data-flood') {
      // Megabytes in one association: a command set whose last fragment never comes (in 64 KiB
      // fragments, or in zero-length ones: legal PDVs that add nothing to the set but cost a relay
      // that keeps a list of them), or one data set streamed in many PDVs. A relay must stream all
      // three (PS3.8 Annex E) and hold none whole.
      const command = kind !== 'data-flood';
      const pdu: WirePdu = kind === 'empty-command-flood'
        ? { type: PDU_TYPE.PDataTf, kind: 'pdata', pdvs: EMPTY_COMMAND_FRAGMENTS }
        : { type: PDU_TYPE.PDataTf, kind: 'pdata', pdvs: [{ contextId: command ? 1 : 3, control: command ? 1 : 0, data: FLOOD_FRAGMENT }] };
      const head = command ? [] : messagePdus(rng, 3, encodeCStoreRq({ messageId: 1, affectedSopClassUid: this.pool.instances[0].sopClassUid, affectedSopInstanceUid: this.pool.instances[0].sopInstanceUid })).slice(0, 1);
      // No release or abort after it: memory is sampled while the association is still open.
      // 12.5 MiB: enough for the memory oracle (a relay holding 3/4 of it, at least 9 MiB); these are
      // ~1 % of execs and every byte is relayed or decoded. The zero-length flood is 4.8 MB (80 PDUs of
      // 10,000 PDVs): each PDV costs a decoding peer an object, and a relay that kept them grew ~30 bytes
      // per byte, so a bulk exec's worth is plenty.
      const count = kind === 'empty-command-flood' ? 80 : 200;
      plan.pdus.splice(1, plan.pdus.length - 1, ...head, ...Array.from({ length: count }, () => pdu));
      plan.flood = true;
    } else if (kind === 'rq-twice') plan.pdus.splice(1, 0, plan.pdus[0]);
    else if (kind === 'pdata-after-release') plan.pdus.push(fixedPdu(PDU_TYPE.ReleaseRq), echo);
    else plan.pdus.unshift(fixedPdu(PDU_TYPE.ReleaseRq));
    plan.mutations.push(kind);
  }

  private mutate(rng: Rng, plan: Plan): void {
    const assoc = plan.pdus.find((p) => p.kind === 'items') as Extract<WirePdu, { kind: 'items' }> | undefined;
    const pdatas = plan.pdus.filter((p) => p.kind === 'pdata') as Array<Extract<WirePdu, { kind: 'pdata' }>>;
    // Iterative and bounded: a deep-items mutation may already have nested thousands of levels.
    const allItems = (items: WireItem[]): WireItem[] => {
      const out: WireItem[] = [];
      const stack = [...items];
      while (stack.length > 0 && out.length < 512) {
        const i = stack.pop()!;
        out.push(i);
        if (!Buffer.isBuffer(i.body)) stack.push(...i.body);
      }
      return out;
    };
    const name = rng.weighted([
      [3, 'ae-overlong'], [2, 'ae-invalid'], [2, 'pdu-length-lie'], [3, 'item-length-lie'], [2, 'pdv-length-lie'],
      [2, 'oversized-uid'], [2, 'invalid-uid'], [2, 'oversized-field'], [2, 'item-duplicate'], [1, 'item-drop'],
      [1, 'item-reorder'], [1, 'unknown-item'], [1, 'pc-id'], [1, 'max-length'], [3, 'pdv-zero-length'],
      [1, 'pdv-control'], [1, 'pdv-context'], [1, 'pdv-reorder'], [3, 'dataset'], [2, 'command'], [1, 'deep-items'],
      [1, 'protocol-version'], [1, 'pdu-type'],
    ] as const);
    plan.mutations.push(name);
    const item = assoc ? rng.pick(allItems(assoc.items)) : undefined;
    const pdv = pdatas.length > 0 ? rng.pick(rng.pick(pdatas).pdvs) : undefined;
    switch (name) {
      case 'ae-overlong':
        // 16 significant characters in one field running straight into the next: no padding to stop a strcpy.
        if (assoc) {
          const field = rng.chance(0.5) ? 4 : 20;
          assoc.fixed.write(rng.text(16, AE_ALPHABET), field, 'latin1');
          if (field === 4) assoc.fixed.write(rng.text(1 + rng.int(16), AE_ALPHABET), 20, 'latin1');
        }
        break;
      case 'ae-invalid':
        if (assoc) aeField(rng.pick([Buffer.alloc(16, 0x20), Buffer.from('A\\B'), Buffer.from([0x41, 0x00, 0x42]), Buffer.from([0x1b, 0x5b, 0x33, 0x31]), Buffer.from('ÄÖÜ', 'utf8'), Buffer.alloc(16, 0)]), rng.pick([0x20, 0])).copy(assoc.fixed, rng.pick([4, 20]));
        break;
      case 'pdu-length-lie': {
        const pdu = rng.pick(plan.pdus);
        pdu.lengthOverride = rng.pick([0, 1, 3, 4, 5, 0xffff, 0x400000, 0x400001, 0x7fffffff, 0xffffffff, rng.int(4096)]);
        break;
      }
      case 'item-length-lie':
        if (item) item.lengthOverride = rng.interestingLength(64);
        break;
      case 'pdv-length-lie':
        if (pdv) pdv.lengthOverride = rng.pick([0, 1, 2, 3, 0xffffffff, 0x80000000, pdv.data.length + 3, pdv.data.length + 1000]);
        break;
      case 'oversized-uid':
        if (item && Buffer.isBuffer(item.body)) item.body = Buffer.from(`1.2.${'9'.repeat(rng.range(61, 400))}`);
        break;
      case 'invalid-uid':
        if (item && Buffer.isBuffer(item.body)) item.body = Buffer.from(rng.pick(['', '1..2', '01.2', 'abc', '1.2.840.10008.1.2\0', ' ', '1.2.3.', '.']), 'latin1');
        break;
      case 'oversized-field':
        if (item && Buffer.isBuffer(item.body)) item.body = Buffer.alloc(rng.pick([17, 255, 4096, 65535]), rng.pick([0x41, 0x00, 0xff]));
        break;
      case 'item-duplicate':
        if (assoc) assoc.items.splice(rng.int(assoc.items.length + 1), 0, rng.pick(assoc.items));
        break;
      case 'item-drop':
        if (assoc && assoc.items.length > 0) assoc.items.splice(rng.int(assoc.items.length), 1);
        break;
      case 'item-reorder':
        if (assoc) assoc.items.reverse();
        break;
      case 'unknown-item':
        if (assoc) assoc.items.splice(rng.int(assoc.items.length + 1), 0, { type: rng.pick([0x00, 0x11, 0x22, 0x5a, 0xff, ITEM_TYPE.UserIdentityAc]), body: rng.bytes(rng.int(32)) });
        break;
      case 'pc-id':
        if (assoc) {
          const pc = assoc.items.find((i) => i.head);
          if (pc?.head) pc.head = Buffer.from([rng.pick([0, 2, 255, 1]), rng.int(256), rng.int(256), 0]);
        }
        break;
      case 'max-length':
        if (assoc) {
          const ml = allItems(assoc.items).find((i) => i.type === ITEM_TYPE.MaximumLength);
          if (ml) ml.body = u32be(rng.pick([0, 1, 6, 7, 0x7fffffff, 0xffffffff]));
        }
        break;
      case 'pdv-zero-length':
        // PS3.8 Annex E: a PDV of item length 2 carries no fragment bytes; length 0 cannot even hold the header.
        if (pdv) {
          pdv.data = Buffer.alloc(0);
          pdv.lengthOverride = rng.pick([0, 2, 1]);
        }
        break;
      case 'pdv-control':
        if (pdv) pdv.control = rng.pick([0, 1, 2, 3, 0xff, 0xfc]);
        break;
      case 'pdv-context':
        if (pdv) pdv.contextId = rng.pick([0, 2, 7, 255, 11]);
        break;
      case 'pdv-reorder': {
        const p = rng.pick(pdatas.length > 0 ? pdatas : [undefined]);
        if (p) p.pdvs.reverse();
        break;
      }
      case 'dataset':
        if (pdv && (pdv.control & 1) === 0) {
          const m = mutateDataSet(rng, pdv.data);
          pdv.data = m.bytes;
          plan.mutations.push(m.name);
        } else if (pdatas.length > 0) {
          rng.pick(pdatas).pdvs.push({ contextId: 3, control: 2, data: mutateDataSet(rng, this.pool.instances[0].dataSet).bytes });
        }
        break;
      case 'command':
        if (pdv && (pdv.control & 1) === 1) pdv.data = havoc(rng, pdv.data, 1 + rng.int(3));
        break;
      case 'deep-items':
        if (assoc) {
          let inner: WireItem = { type: ITEM_TYPE.MaximumLength, body: u32be(16384) };
          const depth = rng.pick([8, 100, 1000, 2000]);
          for (let d = 0; d < depth; d++) inner = { type: ITEM_TYPE.UserInformation, body: [inner] };
          assoc.items.push(inner);
        }
        break;
      case 'protocol-version':
        if (assoc) assoc.fixed.writeUInt16BE(rng.pick([0, 2, 0xffff, 0x8001]), 0);
        break;
      default: {
        const pdu = rng.pick(plan.pdus);
        pdu.type = rng.pick([0, 8, 0x0f, 0x80, 0xff, PDU_TYPE.AssociateAc, PDU_TYPE.PDataTf]);
      }
    }
  }

  /** finish()'s encoding of the plan's first PDU: still chunks[0] when no stream mutation or havoc touched it. */
  private lastFirstChunk: Buffer | undefined;

  private finish(rng: Rng, plan: Plan, side: 'client' | 'server', label: string): Exchange {
    this.lastFirstChunk = undefined;
    let chunks: Buffer[];
    try {
      // Encode each distinct PDU object once: flood plans repeat one PDU hundreds of times.
      const encoded = new Map<WirePdu, Buffer>();
      chunks = plan.pdus.map((p) => encoded.get(p) ?? encoded.set(p, encodeWirePdu(p)).get(p)!);
      this.lastFirstChunk = chunks[0];
    } catch {
      // A lie that cannot even be serialised (item over 64 KiB with nesting): send the raw junk instead.
      chunks = [rng.bytes(64)];
      plan.mutations.push('unencodable');
    }
    let end = plan.end ?? false;
    if (plan.flood) return { protocol: 'dicom', side, label: `${label} ${plan.mutations.join(',')}`.trim(), chunks };
    if (rng.chance(0.25)) {
      const s = mutateStream(rng, chunks);
      chunks = s.chunks;
      end ||= s.end ?? false;
      plan.mutations.push(`stream:${s.name}`);
    }
    if (rng.chance(0.1) && chunks.length > 0) {
      const i = rng.int(chunks.length);
      chunks[i] = havoc(rng, chunks[i]);
      plan.mutations.push('havoc');
    }
    return { protocol: 'dicom', side, label: `${label} ${plan.mutations.join(',')}`.trim(), chunks, endAfter: end };
  }
}
