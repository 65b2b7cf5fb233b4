import t from 'tap';
import {
  APPLICATION_CONTEXT_UID, REJECTION, REJECT_REASON, REJECT_SOURCE, SOP_CLASS, TRANSFER_SYNTAX,
  decodeAssociateAc, decodeAssociateRj, decodeAssociateRq, decodePdu, describeRejection,
  encodeAssociateAc, encodeAssociateRj, encodeAssociateRq,
} from '../../../src/protocols/dicom/index.ts';
import { expectCode } from '../fixtures/helpers.ts';
import { fullAc, fullRq } from '../fixtures/dicom.ts';

const body = (pdu: Buffer) => pdu.subarray(6);

t.test('A-ASSOCIATE-RQ and -AC round-trip', async (t) => {
  const cases = [
    { name: 'full RQ', encode: () => encodeAssociateRq(fullRq()), decode: decodeAssociateRq, want: fullRq() },
    {
      name: 'minimal RQ',
      encode: () => encodeAssociateRq({ calledAeTitle: 'A', callingAeTitle: 'B', presentationContexts: [{ id: 255, abstractSyntax: '1.2', transferSyntaxes: ['1.2.840.10008.1.2'] }], userInformation: { maxLength: 0 } }),
      decode: decodeAssociateRq,
      want: { calledAeTitle: 'A', callingAeTitle: 'B', presentationContexts: [{ id: 255, abstractSyntax: '1.2', transferSyntaxes: ['1.2.840.10008.1.2'] }], userInformation: { maxLength: 0 } },
    },
    { name: 'full AC', encode: () => encodeAssociateAc(fullAc()), decode: decodeAssociateAc, want: fullAc() },
  ] as const;
  for (const c of cases) {
    const pdu = c.encode();
    t.equal(pdu.readUInt32BE(2), pdu.length - 6, `${c.name}: PDU length field`);
    const decoded = c.decode(body(pdu));
    t.same(decoded, { protocolVersion: 1, applicationContext: APPLICATION_CONTEXT_UID, ...c.want }, `${c.name}: decode(encode(x)) = x`);
    t.same(c.encode(), pdu, `${c.name}: encoding is deterministic`);
    t.same((c.decode === decodeAssociateRq ? encodeAssociateRq : encodeAssociateAc)(decoded as never), pdu, `${c.name}: encode(decode(bytes)) = bytes`);
  }
});

t.test('decoder tolerances that real peers need', async (t) => {
  // Trailing NUL on a UID and NUL-padded AE titles are seen from legacy stacks.
  const pdu = encodeAssociateRq(fullRq());
  const padded = Buffer.from(pdu);
  padded.fill(0, 4 + 6 + 'PACS_MAIN'.length, 20 + 6);
  t.equal(decodeAssociateRq(body(padded)).calledAeTitle, 'PACS_MAIN', 'NUL padding in an AE title');
  const rq = decodeAssociateRq(body(encodeAssociateRq({ ...fullRq(), calledAeTitle: '  LEADING' })));
  t.equal(rq.calledAeTitle, 'LEADING', 'leading spaces are not significant');
  // Unknown top-level items survive.
  const withOther = encodeAssociateRq({ ...fullRq(), otherItems: [{ type: 0x7a, body: Buffer.from('xy') }] });
  t.same(decodeAssociateRq(body(withOther)).otherItems, [{ type: 0x7a, body: Buffer.from('xy') }]);
  // Rejected AC context: transfer syntax not significant, not tested.
  const ac = Buffer.from(encodeAssociateAc(fullAc()));
  t.same(decodeAssociateAc(body(ac)).presentationContexts[1], { id: 3, result: 3 });
});

/** Offsets of every length field in an encoded RQ/AC, found by walking its items. */
function lengthFields(pdu: Buffer): Array<{ name: string; at: number; size: 2 | 4 }> {
  const out: Array<{ name: string; at: number; size: 2 | 4 }> = [];
  let pos = 6 + 68;
  while (pos < pdu.length) {
    const type = pdu[pos];
    const len = pdu.readUInt16BE(pos + 2);
    out.push({ name: `item 0x${type.toString(16)}`, at: pos + 2, size: 2 });
    const end = pos + 4 + len;
    let sub = type === 0x20 || type === 0x21 ? pos + 8 : type === 0x50 ? pos + 4 : end;
    while (sub < end) {
      const st = pdu[sub];
      const sl = pdu.readUInt16BE(sub + 2);
      out.push({ name: `sub-item 0x${st.toString(16)} in 0x${type.toString(16)}`, at: sub + 2, size: 2 });
      if (st === 0x54) out.push({ name: 'role selection UID length', at: sub + 4, size: 2 });
      if (st === 0x58) {
        const primary = pdu.readUInt16BE(sub + 6);
        out.push({ name: 'user identity primary length', at: sub + 6, size: 2 });
        out.push({ name: 'user identity secondary length', at: sub + 8 + primary, size: 2 });
      }
      if (st === 0x59) out.push({ name: 'user identity server response length', at: sub + 4, size: 2 });
      sub += 4 + sl;
    }
    pos = end;
  }
  return out;
}

t.test('a lying length at every item level is PDU_MALFORMED', async (t) => {
  for (const [label, pdu, decode] of [
    ['RQ', encodeAssociateRq(fullRq()), decodeAssociateRq],
    ['AC', encodeAssociateAc(fullAc()), decodeAssociateAc],
  ] as const) {
    const fields = lengthFields(pdu);
    t.ok(fields.length >= (label === 'RQ' ? 18 : 10), `${label}: walked ${fields.length} length fields`);
    for (const f of fields) {
      for (const delta of [+1, -1, 'max'] as const) {
        const bad = Buffer.from(pdu);
        const old = bad.readUInt16BE(f.at);
        const value = delta === 'max' ? 0xffff : old + delta;
        if (value < 0) continue;
        bad.writeUInt16BE(value, f.at);
        expectCode(t, () => decode(body(bad)), 'PDU_MALFORMED', `${label} ${f.name} ${old} -> ${value}`);
      }
    }
  }
  const bad = Buffer.from(encodeAssociateRq(fullRq()));
  bad.writeUInt16BE(0xffff, 6 + 68 + 2 + 25); // application context is 25 bytes: first PC item follows
  const err = expectCode(t, () => decodeAssociateRq(body(bad)), 'PDU_MALFORMED', 'PC item lying');
  t.match(err?.message, /Presentation Context Item \(0x20\) length 65535 exceeds the \d+ bytes left in A-ASSOCIATE-RQ/);
  const pdu = encodeAssociateRq(fullRq());
  const longer = Buffer.from(pdu);
  longer.writeUInt32BE(pdu.length - 6 + 1, 2);
  expectCode(t, () => decodePdu(longer), 'PDU_MALFORMED', 'PDU length one more than the bytes present');
  const shorter = Buffer.from(pdu);
  shorter.writeUInt32BE(pdu.length - 6 - 1, 2);
  expectCode(t, () => decodePdu(shorter), 'PDU_MALFORMED', 'PDU length one less than the bytes present');
});

t.test('hostile A-ASSOCIATE-RQ structures', async (t) => {
  const rq = fullRq();
  const enc = (over: object) => body(encodeAssociateRq({ ...rq, ...over } as never));
  const raw = (items: Buffer[]) => Buffer.concat([body(encodeAssociateRq(rq)).subarray(0, 68), ...items]);
  const item = (type: number, content: Buffer | string) => {
    const head = Buffer.from([type, 0, 0, 0]);
    head.writeUInt16BE(Buffer.byteLength(content), 2);
    return Buffer.concat([head, Buffer.from(content)]);
  };
  const appCtx = item(0x10, APPLICATION_CONTEXT_UID);
  const pcItem = item(0x20, Buffer.concat([Buffer.from([1, 0, 0, 0]), item(0x30, SOP_CLASS.Verification), item(0x40, TRANSFER_SYNTAX.ImplicitVrLittleEndian)]));
  const ui = item(0x50, item(0x51, Buffer.from([0, 0, 0x40, 0])));
  t.ok(decodeAssociateRq(raw([appCtx, pcItem, ui])), 'hand-built baseline decodes');
  const cases: Array<[string, Buffer]> = [
    ['body shorter than fixed fields', body(encodeAssociateRq(rq)).subarray(0, 67)],
    ['no application context', raw([pcItem, ui])],
    ['two application contexts', raw([appCtx, appCtx, pcItem, ui])],
    ['no presentation context', raw([appCtx, ui])],
    ['no user information', raw([appCtx, pcItem])],
    ['two user information items', raw([appCtx, pcItem, ui, ui])],
    ['AC presentation context in RQ', raw([appCtx, item(0x21, Buffer.from([1, 0, 0, 0])), ui])],
    ['abstract syntax at top level', raw([appCtx, pcItem, ui, item(0x30, '1.2')])],
    ['PC item shorter than 4 bytes', raw([appCtx, item(0x20, Buffer.from([1, 0])), ui])],
    ['PC with even ID', raw([appCtx, item(0x20, Buffer.concat([Buffer.from([2, 0, 0, 0]), item(0x30, '1.2'), item(0x40, '1.2')])), ui])],
    ['PC without abstract syntax', raw([appCtx, item(0x20, Buffer.concat([Buffer.from([1, 0, 0, 0]), item(0x40, '1.2')])), ui])],
    ['PC with two abstract syntaxes', raw([appCtx, item(0x20, Buffer.concat([Buffer.from([1, 0, 0, 0]), item(0x30, '1.2'), item(0x30, '1.3'), item(0x40, '1.2')])), ui])],
    ['PC without transfer syntax', raw([appCtx, item(0x20, Buffer.concat([Buffer.from([1, 0, 0, 0]), item(0x30, '1.2')])), ui])],
    ['PC with unknown sub-item', raw([appCtx, item(0x20, Buffer.concat([Buffer.from([1, 0, 0, 0]), item(0x30, '1.2'), item(0x40, '1.2'), item(0x77, '')])), ui])],
    ['duplicate PC IDs', raw([appCtx, pcItem, pcItem, ui])],
    ['abstract syntax not a UID', raw([appCtx, item(0x20, Buffer.concat([Buffer.from([1, 0, 0, 0]), item(0x30, '1.2.x'), item(0x40, '1.2')])), ui])],
    ['empty transfer syntax', raw([appCtx, item(0x20, Buffer.concat([Buffer.from([1, 0, 0, 0]), item(0x30, '1.2'), item(0x40, '')])), ui])],
    ['65-character UID', raw([item(0x10, `1.${'2'.repeat(63)}`), pcItem, ui])],
    ['max length sub-item of 2 bytes', raw([appCtx, pcItem, item(0x50, item(0x51, Buffer.from([0, 1])))])],
    ['two max length sub-items', raw([appCtx, pcItem, item(0x50, Buffer.concat([item(0x51, Buffer.alloc(4)), item(0x51, Buffer.alloc(4))]))])],
    ['async window of 3 bytes', raw([appCtx, pcItem, item(0x50, item(0x53, Buffer.alloc(3)))])],
    ['version name of 17 bytes', raw([appCtx, pcItem, item(0x50, item(0x55, 'X'.repeat(17)))])],
    ['empty version name', raw([appCtx, pcItem, item(0x50, item(0x55, ''))])],
    ['role selection without UID length', raw([appCtx, pcItem, item(0x50, item(0x54, Buffer.from([0])))])],
    ['user identity of 3 bytes', raw([appCtx, pcItem, item(0x50, item(0x58, Buffer.from([1, 0, 0])))])],
    ['PC item nested in user information', raw([appCtx, pcItem, item(0x50, pcItem)])],
    ['3 trailing bytes after the items', raw([appCtx, pcItem, ui, Buffer.from([0x10, 0, 0])])],
    ['called AE with a control character', enc({ calledAeTitle: 'OK' }).fill(0x07, 5, 6)],
    ['calling AE all spaces', Buffer.from(enc({})).fill(0x20, 20, 36)],
    ['called AE with a backslash', Buffer.from(enc({})).fill(0x5c, 4, 5)],
    ['called AE with a byte above 0x7E', Buffer.from(enc({})).fill(0xe9, 4, 5)],
  ];
  for (const [label, bytes] of cases) expectCode(t, () => decodeAssociateRq(bytes), 'PDU_MALFORMED', label);
});

t.test('encoders refuse values that cannot be represented', async (t) => {
  const rq = fullRq();
  const cases: Array<[string, () => unknown]> = [
    ['17-byte called AE title', () => encodeAssociateRq({ ...rq, calledAeTitle: 'A'.repeat(17) })],
    ['empty calling AE title', () => encodeAssociateRq({ ...rq, callingAeTitle: '   ' })],
    ['even context ID', () => encodeAssociateRq({ ...rq, presentationContexts: [{ id: 2, abstractSyntax: '1.2', transferSyntaxes: ['1.2'] }] })],
    ['context ID 257', () => encodeAssociateRq({ ...rq, presentationContexts: [{ id: 257, abstractSyntax: '1.2', transferSyntaxes: ['1.2'] }] })],
    ['no transfer syntax', () => encodeAssociateRq({ ...rq, presentationContexts: [{ id: 1, abstractSyntax: '1.2', transferSyntaxes: [] }] })],
    ['UID with letters', () => encodeAssociateRq({ ...rq, applicationContext: '1.2.abc' })],
    ['accepted AC context without TS', () => encodeAssociateAc({ ...fullAc(), presentationContexts: [{ id: 1, result: 0 }] })],
    ['item body over 65535 bytes', () => encodeAssociateRq({ ...rq, userInformation: { otherItems: [{ type: 0x60, body: Buffer.alloc(70000) }] } })],
    ['max length above 2^32', () => encodeAssociateRq({ ...rq, userInformation: { maxLength: 2 ** 32 } })],
  ];
  for (const [label, fn] of cases) expectCode(t, fn, 'PDU_MALFORMED', label);
});

t.test('A-ASSOCIATE-RJ', async (t) => {
  t.same(REJECTION.callingAeTitleNotRecognized, { result: 1, source: 1, reason: 3 }, 'calling AE not recognized = source 1 reason 3');
  t.equal(REJECT_REASON.ServiceUser.CalledAeTitleNotRecognized, 7, 'called AE not recognized = reason 7');
  t.equal(REJECT_SOURCE.ServiceProviderPresentation, 3);
  for (const [name, rj] of Object.entries(REJECTION)) {
    const pdu = encodeAssociateRj(rj);
    t.same([...pdu], [3, 0, 0, 0, 0, 4, 0, rj.result, rj.source, rj.reason], `${name} bytes`);
    t.same(decodeAssociateRj(body(pdu)), rj, `${name} round-trips`);
    t.same(decodePdu(pdu), { kind: 'A-ASSOCIATE-RJ', value: rj });
  }
  t.equal(describeRejection(REJECTION.calledAeTitleNotRecognized), 'rejected-permanent: called AE title not recognized');
  const cases: Array<[string, Buffer]> = [
    ['result 0', Buffer.from([0, 0, 1, 1])],
    ['result 3', Buffer.from([0, 3, 1, 1])],
    ['source 0', Buffer.from([0, 1, 0, 1])],
    ['source 4', Buffer.from([0, 1, 4, 1])],
    ['5-byte body', Buffer.from([0, 1, 1, 1, 0])],
    ['3-byte body', Buffer.from([0, 1, 1])],
  ];
  for (const [label, b] of cases) expectCode(t, () => decodeAssociateRj(b), 'PDU_MALFORMED', label);
  expectCode(t, () => encodeAssociateRj({ result: 1, source: 9, reason: 1 }), 'PDU_MALFORMED', 'encode source 9');
});
