import t from 'tap';
import {
  COMMAND_FIELD, COMMAND_TAG, DATA_SET_TYPE, PRIORITY, SOP_CLASS, STATUS, commandName, decodeCEchoRq, decodeCEchoRsp, decodeCStoreRq,
  decodeCStoreRsp, decodeCommand, encodeCEchoRq, encodeCEchoRsp, encodeCStoreRq, encodeCStoreRsp, encodeCommand, statusCategory, writeCommandElements,
} from '../../../src/protocols/dicom/index.ts';
import { implicitElement } from '../../proxy/fixtures/dicom-element.ts';
import { expectCode } from '../fixtures/helpers.ts';

const INSTANCE = '1.2.826.0.1.3680043.10.1234.7.1';

function strip<T extends { elements: unknown }>(cmd: T): Omit<T, 'elements'> {
  const { elements: _, ...rest } = cmd;
  return rest;
}

t.test('C-ECHO and C-STORE round-trip', async (t) => {
  const cases = [
    { name: 'C-ECHO-RQ', bytes: encodeCEchoRq({ messageId: 7 }), decode: decodeCEchoRq, want: { commandField: 0x30, messageId: 7, affectedSopClassUid: SOP_CLASS.Verification, dataSetType: 0x0101, hasDataSet: false } },
    { name: 'C-ECHO-RSP', bytes: encodeCEchoRsp({ messageIdBeingRespondedTo: 7 }), decode: decodeCEchoRsp, want: { commandField: 0x8030, messageIdBeingRespondedTo: 7, affectedSopClassUid: SOP_CLASS.Verification, status: 0, dataSetType: 0x0101, hasDataSet: false } },
    {
      name: 'C-STORE-RQ',
      bytes: encodeCStoreRq({ messageId: 65535, affectedSopClassUid: SOP_CLASS.CtImageStorage, affectedSopInstanceUid: INSTANCE, priority: PRIORITY.High, moveOriginatorAeTitle: 'MOVER', moveOriginatorMessageId: 3 }),
      decode: decodeCStoreRq,
      want: { commandField: 1, messageId: 65535, affectedSopClassUid: SOP_CLASS.CtImageStorage, affectedSopInstanceUid: INSTANCE, priority: 1, dataSetType: DATA_SET_TYPE.Present, hasDataSet: true, moveOriginatorAeTitle: 'MOVER', moveOriginatorMessageId: 3 },
    },
    {
      name: 'C-STORE-RSP',
      bytes: encodeCStoreRsp({ messageIdBeingRespondedTo: 65535, status: STATUS.RefusedOutOfResources, affectedSopClassUid: SOP_CLASS.CtImageStorage, affectedSopInstanceUid: INSTANCE, errorComment: 'disk full' }),
      decode: decodeCStoreRsp,
      want: { commandField: 0x8001, messageIdBeingRespondedTo: 65535, status: 0xa700, affectedSopClassUid: SOP_CLASS.CtImageStorage, affectedSopInstanceUid: INSTANCE, errorComment: 'disk full', dataSetType: 0x0101, hasDataSet: false },
    },
  ];
  for (const c of cases) {
    const decoded = c.decode(c.bytes);
    t.same(strip(decoded), c.want, `${c.name} decodes to its fields`);
    t.equal(decoded.elements.get(0)!.readUInt32LE(0), c.bytes.length - 12, `${c.name}: CommandGroupLength counts the bytes after it`);
    t.same(encodeCommand(decoded, decoded.elements), c.bytes, `${c.name}: re-encoding reproduces the bytes`);
    t.equal(c.bytes.length % 2, 0, `${c.name}: even length`);
  }
  t.equal(commandName(COMMAND_FIELD.NEventReportRsp), 'N-EVENT-REPORT-RSP');
  t.equal(commandName(COMMAND_FIELD.CEchoRq), 'C-ECHO-RQ');
  t.same([0x0000, 0xb000, 0xff00, 0xfe00, 0xa700, 0x0122, 0xc123].map(statusCategory), ['success', 'warning', 'pending', 'cancel', 'failure', 'failure', 'failure']);
});

t.test('C-ECHO-RQ bytes match PS3.7 implicit VR little endian layout', async (t) => {
  const bytes = encodeCEchoRq({ messageId: 1 });
  const hex = bytes.toString('hex');
  t.equal(hex.slice(0, 24), '0000000004000000' + (bytes.length - 12).toString(16).padStart(2, '0') + '000000', 'group length first');
  t.match(hex, /000002001200000031[.0-9a-f]*/, 'AffectedSOPClassUID (0000,0002), 18 bytes (17 + NUL pad)');
  t.ok(bytes.includes(Buffer.from('1.2.840.10008.1.1\0', 'latin1')), 'UID padded with NUL to even length');
  t.ok(bytes.includes(Buffer.from([0, 0, 0x00, 0x01, 2, 0, 0, 0, 0x30, 0x00])), 'CommandField (0000,0100) = 0030H');
  t.ok(bytes.includes(Buffer.from([0, 0, 0x00, 0x08, 2, 0, 0, 0, 0x01, 0x01])), 'CommandDataSetType (0000,0800) = 0101H');
});

/** Build a command set from raw [element, value] pairs, bypassing the checks of the writer. */
function rawCommand(elements: Array<[number, Buffer]>, groupLength?: number): Buffer {
  const body = Buffer.concat(elements.map(([tag, value]) => implicitElement(0, tag, value)));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(groupLength ?? body.length, 0);
  return Buffer.concat([implicitElement(0, 0, length), body]);
}
/** Append raw bytes and fix CommandGroupLength so only the appended element is at fault. */
function appendRaw(cmd: Buffer, extra: Buffer): Buffer {
  const out = Buffer.concat([cmd, extra]);
  out.writeUInt32LE(out.length - 12, 8);
  return out;
}
const us = (v: number) => Buffer.from([v & 0xff, v >> 8]);

t.test('hostile command sets', async (t) => {
  const echo = encodeCEchoRq({ messageId: 1 });
  const field: [number, Buffer] = [COMMAND_TAG.CommandField, us(0x30)];
  const type: [number, Buffer] = [COMMAND_TAG.CommandDataSetType, us(0x0101)];
  t.ok(decodeCommand(rawCommand([field, type])), 'baseline raw command decodes');
  const lie = (delta: number) => {
    const b = Buffer.from(echo);
    b.writeUInt32LE(b.readUInt32LE(16) + delta, 16); // length of the first element after the group length
    return b;
  };
  const cases: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['11 bytes', echo.subarray(0, 11)],
    ['group length too large', rawCommand([field, type], 30)],
    ['group length too small', rawCommand([field, type], 10)],
    ['group length missing', echo.subarray(12)],
    ['group length element of length 2', Buffer.concat([Buffer.from([0, 0, 0, 0, 2, 0, 0, 0, 0, 0]), echo.subarray(12)])],
    ['element length +2 (lies past the end)', lie(2)],
    ['element length 2^32-1 (undefined length)', lie(0xffffffff - echo.readUInt32LE(16))],
    ['element length odd', rawCommand([[COMMAND_TAG.AffectedSopClassUid, Buffer.from('1.2.3')], field, type])],
    ['element out of order', rawCommand([type, field])],
    ['element repeated', rawCommand([field, field, type])],
    ['element outside group 0000', appendRaw(rawCommand([field, type]), Buffer.from([8, 0, 0x18, 0, 2, 0, 0, 0, 0, 0]))],
    ['truncated element header', rawCommand([field, type]).subarray(0, 12 + 10 + 5)],
    ['no CommandField', rawCommand([type])],
    ['no CommandDataSetType', rawCommand([field])],
    ['US of length 4', rawCommand([[COMMAND_TAG.CommandField, Buffer.alloc(4)], type])],
    ['UI with letters', rawCommand([[COMMAND_TAG.AffectedSopClassUid, Buffer.from('1.2.ab')], field, type])],
    ['UI empty', rawCommand([[COMMAND_TAG.AffectedSopClassUid, Buffer.alloc(0)], field, type])],
    ['AT of length 2', rawCommand([field, type, [COMMAND_TAG.OffendingElement, Buffer.alloc(2)]])],
  ];
  for (const [label, bytes] of cases) expectCode(t, () => decodeCommand(bytes), 'DIMSE_MALFORMED', label);
  const typed: Array<[string, () => unknown]> = [
    ['C-ECHO-RSP given to decodeCEchoRq', () => decodeCEchoRq(encodeCEchoRsp({ messageIdBeingRespondedTo: 1 }))],
    ['C-ECHO-RQ without MessageID', () => decodeCEchoRq(rawCommand([[COMMAND_TAG.AffectedSopClassUid, Buffer.from('1.2.840.10008.1.1\0')], field, type]))],
    ['C-STORE-RQ without data set', () => decodeCStoreRq(encodeCommand({ commandField: 1, messageId: 1, affectedSopClassUid: '1.2', affectedSopInstanceUid: '1.3', priority: 0, dataSetType: 0x0101 }))],
    ['C-STORE-RSP without status', () => decodeCStoreRsp(encodeCommand({ commandField: 0x8001, messageIdBeingRespondedTo: 1, dataSetType: 0x0101 }))],
    ['encode message ID 65536', () => encodeCEchoRq({ messageId: 65536 })],
    ['encode bad UID', () => encodeCStoreRq({ messageId: 1, affectedSopClassUid: 'x', affectedSopInstanceUid: '1.2' })],
    ['encode 17-byte move originator', () => encodeCStoreRq({ messageId: 1, affectedSopClassUid: '1.2', affectedSopInstanceUid: '1.2', moveOriginatorAeTitle: 'A'.repeat(17) })],
    ['write odd-length raw value', () => writeCommandElements(new Map([[0x0100, Buffer.alloc(3)]]))],
  ];
  for (const [label, fn] of typed) expectCode(t, fn, 'DIMSE_MALFORMED', label);
});

t.test('unknown group 0000 elements are kept raw', async (t) => {
  const bytes = encodeCommand({ commandField: 0x30, messageId: 2, dataSetType: 0x0101 }, new Map([[0x4000, Buffer.from('hi')]]));
  const cmd = decodeCommand(bytes);
  t.same(cmd.elements.get(0x4000), Buffer.from('hi'));
  t.same(encodeCommand(cmd, cmd.elements), bytes);
});
