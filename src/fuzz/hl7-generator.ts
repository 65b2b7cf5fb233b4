/**
 * Structure-aware HL7 v2 generation: ADT, ORM and ORU messages (HL7 v2.5 ch. 2-4, 7) built segment
 * by segment with their encoding characters (§2.5.4) and escape sequences (§2.7), framed in MLLP
 * (Appendix C). Mutations attack the MSH routing fields the gateway decides on, the delimiters, the
 * segment terminators and the framing itself; server-side exchanges answer with hostile ACKs.
 */
import { encodeFrame } from '../protocols/hl7/index.ts';
import { SERVER_SIDE_MARKER } from './backend.ts';
import type { Exchange } from './exchange.ts';
import { havoc, mutateStream } from './havoc.ts';
import { Rng } from './prng.ts';

export interface Hl7Dictionary {
  /** MSH-3 values the route admits (the fuzzer mixes them with ones it must refuse). */
  sendingApplications: string[];
  sendingFacilities: string[];
  /** MSH-9 code or code^trigger the route admits. */
  messageTypes: string[];
}

export const DEFAULT_HL7_DICTIONARY: Hl7Dictionary = { sendingApplications: ['FUZZAPP'], sendingFacilities: ['FUZZFAC'], messageTypes: ['ADT^A01'] };

/**
 * Execs that are a flood from a sender that never reads. Rare: each is ~85,000 messages the target
 * parses and answers (seconds of CPU); at 1 in 20,000 they cost the campaign about a tenth of its rate.
 */
const UNREAD_FLOOD_CHANCE = 0.00005;

const MESSAGE_TYPES = ['ADT^A01^ADT_A01', 'ADT^A04^ADT_A01', 'ADT^A08^ADT_A01', 'ORM^O01^ORM_O01', 'ORU^R01^ORU_R01', 'QRY^A19', 'ACK'];
const DELIMITER_SETS = ['|^~\\&', '|^~\\&#', '#$%!*', '!@#$%', '|^~\\&'];
const TEXTS = ['plain', 'with|pipe', 'caret^inside', 'esc\\E\\aped', '\\F\\\\S\\\\T\\\\R\\', '\\X0D0A\\', '\\.br\\', '\\H\\bold\\N\\', 'Ümlaut', '\\Zcustom\\', '\\', ''];

interface Message {
  enc: { f: string; c: string; r: string; e: string; s: string; rest: string };
  msh: string[];
  segments: string[][];
  terminator: string;
}

function encodeMessage(m: Message): string {
  const mshText = `MSH${m.enc.f}${m.enc.c}${m.enc.r}${m.enc.e}${m.enc.s}${m.enc.rest}${m.enc.f}${m.msh.join(m.enc.f)}`;
  return [mshText, ...m.segments.map((s) => s.join(m.enc.f))].join(m.terminator) + m.terminator;
}

export class Hl7Generator {
  constructor(private readonly dict: Hl7Dictionary = DEFAULT_HL7_DICTIONARY) {}

  private message(rng: Rng, controlId: string): { msg: Message; mutations: string[] } {
    const delims = rng.weighted([[8, '|^~\\&'], [1, rng.pick(DELIMITER_SETS)]]);
    const enc = { f: delims[0], c: delims[1], r: delims[2], e: delims[3], s: delims[4], rest: delims.slice(5) };
    const allowedType = rng.pick(this.dict.messageTypes);
    const type = rng.weighted([[5, allowedType.includes('^') ? allowedType : `${allowedType}^A01`], [3, rng.pick(MESSAGE_TYPES)]]).replace(/\^/g, enc.c);
    const app = rng.weighted([[6, rng.pick(this.dict.sendingApplications)], [2, rng.text(rng.range(1, 12), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')], [1, `${rng.pick(this.dict.sendingApplications)}${enc.c}OID${enc.c}ISO`]]);
    const facility = rng.weighted([[6, rng.pick(this.dict.sendingFacilities)], [1, 'OTHERFAC']]);
    // MSH-3 .. MSH-12 (MSH-1 and MSH-2 are the delimiters themselves, HL7 v2.5 §2.14.9).
    const msh = [app, facility, 'RECEIVER', 'RECFAC', '20260101120000', '', type, controlId, 'P', rng.pick(['2.5', '2.3', '2.3.1', '2.7', '2.5.1'])];
    const t = () => rng.pick(TEXTS).replace(/\|/g, enc.f);
    const segments: string[][] = [
      ['EVN', 'A01', '20260101120000'],
      ['PID', '1', '', `${rng.int(1_000_000)}${enc.c}${enc.c}${enc.c}HOSP${enc.c}MR`, '', `Doe${enc.c}${t()}`, '', '19700101', rng.pick(['M', 'F', 'U'])],
      ['PV1', '1', rng.pick(['I', 'O', 'E'])],
    ];
    if (type.startsWith('ORM') || type.startsWith('ORU')) {
      segments.push(['ORC', 'NW', controlId], ['OBR', '1', controlId, '', `CT${enc.c}${t()}`]);
      for (let i = 0; i < rng.int(4); i++) segments.push(['OBX', String(i + 1), 'TX', `NOTE${enc.c}Note`, '', t()]);
    }
    if (rng.chance(0.2)) segments.push(['NTE', '1', '', `a${enc.r}b${enc.r}${t()}`]);
    return { msg: { enc, msh, segments, terminator: '\r' }, mutations: [] };
  }

  private mutateMessage(rng: Rng, m: Message, mutations: string[]): void {
    const name = rng.weighted([
      [3, 'msh-field-drop'], [2, 'msh-type-bare'], [2, 'msh-type-empty'], [2, 'encoding-short'], [1, 'encoding-dup'],
      [1, 'no-msh'], [2, 'terminator'], [2, 'oversized-field'], [2, 'escape'], [1, 'msh-truncate'],
      [1, 'repetition'], [1, 'extra-fields'], [1, 'segment-junk'], [1, 'control-chars'], [1, 'second-msh'],
    ] as const);
    mutations.push(name);
    const i = rng.int(m.msh.length);
    switch (name) {
      case 'msh-field-drop': m.msh.splice(i, 1 + rng.int(3)); break;
      case 'msh-type-bare': m.msh[6] = m.msh[6]?.split(m.enc.c)[0] ?? 'ADT'; break;
      case 'msh-type-empty': m.msh[6] = rng.pick(['', m.enc.c, `${m.enc.c}A01`, `ADT${m.enc.c}`]); break;
      case 'encoding-short': m.enc.rest = ''; m.enc.s = ''; if (rng.chance(0.5)) m.enc.e = ''; break;
      case 'encoding-dup': m.enc.c = m.enc.f; break;
      case 'no-msh': m.segments.unshift(m.msh); m.msh = []; m.enc.f = ''; m.enc.c = ''; m.enc.r = ''; m.enc.e = ''; m.enc.s = 'X'; break;
      case 'terminator': m.terminator = rng.pick(['\n', '\r\n', '', '\r\r', '\n\r']); break;
      // Sizes around the gateway's defaults (1 MiB frame limit) are rare: they cost the most per exec.
      case 'oversized-field': m.msh[i] = 'A'.repeat(rng.weighted([[4, 256], [4, 4096], [2, 65536], [1, 1_100_000]])); break;
      case 'escape': m.msh[i] = `${m.msh[i]}${rng.pick(['\\', '\\F', '\\X', '\\XZZ\\', '\\E\\', `${m.enc.e}${m.enc.f}`])}`; break;
      case 'msh-truncate': m.msh.length = rng.int(m.msh.length); break;
      case 'repetition': m.msh[0] = `${m.msh[0]}${m.enc.r}${rng.pick(this.dict.sendingApplications)}`; break;
      case 'extra-fields': m.msh.push(...Array.from({ length: rng.weighted([[4, 10], [2, 100], [1, 5000]]) }, () => 'X')); break;
      case 'segment-junk': m.segments.splice(rng.int(m.segments.length + 1), 0, [rng.pick(['', 'ZZZ', 'MS', 'msh', '\x00\x00\x00'])]); break;
      case 'control-chars': m.msh[i] = `${m.msh[i]}${rng.pick(['\x00', '\x0b', '\x1c', '\x7f', '\x1c\x0d'])}`; break;
      default: m.segments.splice(rng.int(m.segments.length + 1), 0, ['MSH', `${m.enc.c}${m.enc.r}${m.enc.e}${m.enc.s}`, 'EVIL', 'EVILFAC']);
    }
  }

  /** MLLP framing without encodeFrame's checks: payloads may contain 0x0B/0x1C (framing errors on purpose). */
  private frame(rng: Rng, payload: Buffer, mutations: string[]): Buffer {
    if (!rng.chance(0.15)) return Buffer.concat([Buffer.from([0x0b]), payload, Buffer.from([0x1c, 0x0d])]);
    const kind = rng.pick(['no-start', 'no-trailer', 'bad-trailer', 'double-start', 'junk-between', 'empty-frame', 'lf-trailer', 'start-inside'] as const);
    mutations.push(`framing:${kind}`);
    switch (kind) {
      case 'no-start': return Buffer.concat([payload, Buffer.from([0x1c, 0x0d])]);
      case 'no-trailer': return Buffer.concat([Buffer.from([0x0b]), payload]);
      case 'bad-trailer': return Buffer.concat([Buffer.from([0x0b]), payload, Buffer.from([0x1c, rng.int(256)])]);
      case 'double-start': return Buffer.concat([Buffer.from([0x0b, 0x0b]), payload, Buffer.from([0x1c, 0x0d])]);
      case 'junk-between': return Buffer.concat([rng.bytes(1 + rng.int(4)), Buffer.from([0x0b]), payload, Buffer.from([0x1c, 0x0d])]);
      case 'empty-frame': return Buffer.from([0x0b, 0x1c, 0x0d]);
      case 'lf-trailer': return Buffer.concat([Buffer.from([0x0b]), payload, Buffer.from([0x1c, 0x0a])]);
      default: return Buffer.concat([Buffer.from([0x0b]), payload.subarray(0, payload.length >> 1), Buffer.from([0x0b]), payload.subarray(payload.length >> 1), Buffer.from([0x1c, 0x0d])]);
    }
  }

  /** A hostile sender: the fuzzer connects to the receiver (or an inbound route) and sends 1-3 frames. */
  client(rng: Rng): Exchange {
    if (rng.chance(UNREAD_FLOOD_CHANCE)) return this.unreadFlood(rng);
    const chunksOut: Buffer[] = [];
    const mutations: string[] = [];
    const count = rng.weighted([[6, 1], [2, 2], [1, 3]]);
    for (let n = 0; n < count; n++) {
      const { msg } = this.message(rng, `FZ${rng.int(1e9)}`);
      const rounds = rng.weighted([[3, 0], [5, 1], [2, 2]]);
      for (let r = 0; r < rounds; r++) this.mutateMessage(rng, msg, mutations);
      let payload: Buffer = Buffer.from(encodeMessage(msg), 'latin1');
      if (rng.chance(0.05)) {
        payload = havoc(rng, payload);
        mutations.push('havoc');
      }
      chunksOut.push(this.frame(rng, payload, mutations));
    }
    let chunks = chunksOut;
    let end = false;
    if (rng.chance(0.2)) {
      const s = mutateStream(rng, chunks);
      chunks = s.chunks;
      end = s.end ?? false;
      mutations.push(`stream:${s.name}`);
    }
    // Original mode is one message per acknowledgment (HL7 v2.5 §2.9.2): wait for each ACK, mostly.
    return { protocol: 'hl7', side: 'client', label: `hl7-client ${mutations.join(',')}`.trim(), chunks, awaitReply: rng.chance(0.7), endAfter: end };
  }

  /**
   * A sender that never reads its acknowledgments and sends ~5 MiB of small messages from an
   * application the route does not admit: each is answered with a NAK bigger than itself, so a
   * gateway that keeps reading buffers more than it receives (found in review: 13 MB sent, 40 MB held;
   * the fuzzer's flood: 4 MiB taken, 31 MiB held). Bulk: the memory oracle samples the target while
   * the connection is open.
   */
  private unreadFlood(rng: Rng): Exchange {
    const app = `NOT${rng.text(6, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')}`;
    const frames = Array.from({ length: 1000 }, (_, i) => encodeFrame(`MSH|^~\\&|${app}|X|R|F|20260101120000||ADT^A01|U${i}|P|2.5\r`));
    const batch = Buffer.concat(frames);
    const chunks = Array.from({ length: Math.ceil((5 * 1024 * 1024) / batch.length) }, () => batch);
    return { protocol: 'hl7', side: 'client', label: 'hl7-client unread-flood', chunks, neverRead: true };
  }

  /** A benign sender for server-side fuzzing: one allowed ADT message. */
  benignClient(): Exchange {
    const { msg } = this.message(new Rng(7), SERVER_SIDE_MARKER.toString('latin1'));
    msg.msh[0] = this.dict.sendingApplications[0];
    msg.msh[1] = this.dict.sendingFacilities[0];
    const allowed = this.dict.messageTypes[0];
    msg.msh[6] = allowed.includes('^') ? allowed : `${allowed}^A01`;
    return { protocol: 'hl7', side: 'client', label: 'hl7-benign-sender', chunks: [encodeFrame(encodeMessage(msg))], awaitReply: true };
  }

  /** A hostile receiver: answers the benign sender's message with a malformed or unexpected ACK. */
  server(rng: Rng): Exchange {
    const mutations: string[] = [];
    const code = rng.pick(['AA', 'AE', 'AR', 'CA', 'XX', '']);
    const ack: Message = {
      enc: { f: '|', c: '^', r: '~', e: '\\', s: '&', rest: '' },
      msh: ['RECEIVER', 'RECFAC', this.dict.sendingApplications[0], this.dict.sendingFacilities[0], '20260101120000', '', 'ACK^A01^ACK', `ACK${rng.int(1e6)}`, 'P', '2.5'],
      segments: [['MSA', code, SERVER_SIDE_MARKER.toString('latin1'), rng.pick(['', 'ok', 'esc\\F\\aped'])]],
      terminator: '\r',
    };
    const rounds = rng.weighted([[2, 0], [5, 1], [2, 2]]);
    for (let r = 0; r < rounds; r++) this.mutateMessage(rng, ack, mutations);
    let chunks = [this.frame(rng, Buffer.from(encodeMessage(ack), 'latin1'), mutations)];
    const shape = rng.weighted([[6, 'one'], [1, 'two-acks'], [1, 'none'], [1, 'huge'], [1, 'garbage']] as const);
    mutations.push(shape);
    if (shape === 'two-acks') chunks.push(chunks[0]);
    else if (shape === 'none') chunks = [];
    else if (shape === 'huge') chunks = [Buffer.concat([Buffer.from([0x0b]), Buffer.alloc(rng.pick([70_000, 1_100_000]), 0x41), Buffer.from([0x1c, 0x0d])])];
    else if (shape === 'garbage') chunks = [rng.bytes(1 + rng.int(64))];
    return { protocol: 'hl7', side: 'server', label: `hl7-server ${mutations.join(',')}`.trim(), chunks, awaitReply: true };
  }
}
