import t from 'tap';
import {
  DimseMessageAssembler, type DimseEvent, PduReader, SOP_CLASS, decodePDataTf, encodeCEchoRq, encodeCStoreRq, fragmentMessage,
} from '../../../src/protocols/dicom/index.ts';
import { expectCode } from '../fixtures/helpers.ts';

const store = encodeCStoreRq({ messageId: 9, affectedSopClassUid: SOP_CLASS.SecondaryCaptureImageStorage, affectedSopInstanceUid: '1.2.3.4' });
const dataSet = Buffer.alloc(1000, 0x42);

function reassemble(pdus: Buffer[]): DimseEvent[] {
  const reader = new PduReader();
  const assembler = new DimseMessageAssembler();
  return pdus.flatMap((p) => reader.push(p)).flatMap((p) => assembler.push(decodePDataTf(p.body)));
}

t.test('fragmentMessage respects the peer maximum and reassembles', async (t) => {
  for (const max of [0, 16, 64, 100, 16384]) {
    const pdus = fragmentMessage(5, store, dataSet, max);
    if (max > 0) t.ok(pdus.every((p) => p.length - 6 <= max), `max ${max}: every P-DATA-TF variable field fits`);
    const events = reassemble(pdus);
    const command = events.find((e) => e.kind === 'command');
    t.equal(command?.kind === 'command' && command.command.messageId, 9, `max ${max}: command reassembled`);
    const data = Buffer.concat(events.flatMap((e) => (e.kind === 'data' ? [e.fragment] : [])));
    t.same(data, dataSet, `max ${max}: data set reassembled`);
    t.ok(events.every((e) => e.contextId === 5));
    const last = events[events.length - 1];
    t.ok(last.kind === 'data' && last.last, 'last event carries the last-fragment bit');
  }
  const echo = reassemble(fragmentMessage(1, encodeCEchoRq({ messageId: 3 }), undefined, 0));
  t.equal(echo.length, 1, 'C-ECHO-RQ: one command event, no data');
  const empty = reassemble(fragmentMessage(1, store, Buffer.alloc(0), 0));
  t.same(empty.map((e) => e.kind), ['command', 'data'], 'empty data set still sends one last PDV');
  expectCode(t, () => fragmentMessage(1, store, undefined, 6), 'PDU_MALFORMED', 'peer maximum of 6 leaves no room');
});

t.test('hostile PDV sequences', async (t) => {
  const cmd = (last: boolean, id = 1, data = store) => ({ contextId: id, command: true, last, data });
  const dat = (last: boolean, id = 1) => ({ contextId: id, command: false, last, data: Buffer.from('xx') });
  const cases: Array<[string, ReturnType<typeof cmd>[]]> = [
    ['data before any command', [dat(true)]],
    ['data before the last command fragment', [cmd(false, 1, store.subarray(0, 10)), dat(true)]],
    ['command while data expected', [cmd(true), cmd(true)]],
    ['context changes mid-command', [cmd(false, 1, store.subarray(0, 10)), cmd(true, 3, store.subarray(10))]],
    ['context changes mid-data', [cmd(true), dat(false, 1), dat(true, 3)]],
    ['malformed command set', [cmd(true, 1, Buffer.from('not a command set'))]],
  ];
  for (const [label, pdvs] of cases) {
    const assembler = new DimseMessageAssembler();
    expectCode(t, () => assembler.push(pdvs), 'DIMSE_MALFORMED', label);
  }
  const small = new DimseMessageAssembler({ maxCommandLength: 64 });
  expectCode(t, () => small.push([cmd(false, 1, Buffer.alloc(40)), cmd(false, 1, Buffer.alloc(40))]), 'DIMSE_MALFORMED', 'command set above the limit');
  const ok = new DimseMessageAssembler();
  ok.push([cmd(true), dat(false), { contextId: 1, command: false, last: true, data: Buffer.alloc(0) }]);
  t.ok(ok.idle, 'zero-length last data PDV completes the message');
});
