/**
 * Seeded random and mutated inputs: every DICOM parser either returns or throws a WardgateError.
 * Deterministic, so a failure replays; the failing input is printed in hex.
 */
import t from 'tap';
import {
  AssociationTracker, DimseMessageAssembler, PduReader, REJECTION, SOP_CLASS, decodeAssociateAc, decodeAssociateRq, decodeCommand, decodePDataTf,
  decodePdu, encodeAbort, encodeAssociateAc, encodeAssociateRj, encodeAssociateRq, encodeCEchoRq, encodeCStoreRq, encodeCStoreRsp, encodePDataTf,
  encodeReleaseRq, readAeTitleField,
} from '../../../src/protocols/dicom/index.ts';
import { mutate, onlyTypedErrors, prng } from '../fixtures/helpers.ts';
import { fullAc, fullRq } from '../fixtures/dicom.ts';

const commands = [
  encodeCEchoRq({ messageId: 1 }),
  encodeCStoreRq({ messageId: 2, affectedSopClassUid: SOP_CLASS.CtImageStorage, affectedSopInstanceUid: '1.2.3' }),
  encodeCStoreRsp({ messageIdBeingRespondedTo: 2, status: 0xa700, errorComment: 'full' }),
];
const seeds = [
  encodeAssociateRq(fullRq()),
  encodeAssociateAc(fullAc()),
  encodeAssociateRj(REJECTION.callingAeTitleNotRecognized),
  encodePDataTf([{ contextId: 1, command: true, last: true, data: commands[0] }]),
  encodePDataTf([{ contextId: 1, command: true, last: true, data: commands[1] }, { contextId: 1, command: false, last: true, data: Buffer.alloc(8) }]),
  encodeReleaseRq(),
  encodeAbort({ source: 2, reason: 6 }),
];

const ITERATIONS = 20_000;

t.test(`${ITERATIONS} random and mutated inputs: return or WardgateError`, async (t) => {
  const rand = prng(0x5eed_d1c0);
  let failures = 0;
  let decodedOk = 0;
  const check = (what: string, input: Buffer, fn: () => unknown) => {
    const r = onlyTypedErrors(fn);
    if (!r.ok && failures++ < 5) t.fail(`${what} threw ${String(r.error)} on ${input.toString('hex')}`);
  };
  for (let i = 0; i < ITERATIONS; i++) {
    const fromSeed = rand.int(4) !== 0;
    const input = fromSeed ? mutate(rand, seeds[rand.int(seeds.length)]) : rand.bytes(rand.int(200));
    check('decodePdu', input, () => {
      decodePdu(input);
      decodedOk++;
    });
    check('PduReader', input, () => {
      const reader = new PduReader({ maxPduLength: 1 + rand.int(4096) });
      const assembler = new DimseMessageAssembler();
      const tracker = new AssociationTracker();
      let pos = 0;
      while (pos < input.length) {
        const n = 1 + rand.int(64);
        for (const pdu of reader.push(input.subarray(pos, pos + n))) {
          const decoded = decodePdu(pdu);
          tracker.observe(decoded, rand.int(2) ? 'requestor' : 'acceptor');
          if (decoded.kind === 'P-DATA-TF') assembler.push(decoded.value);
          if (decoded.kind === 'A-ASSOCIATE-RQ') encodeAssociateRq(decoded.value);
          if (decoded.kind === 'A-ASSOCIATE-AC') encodeAssociateAc(decoded.value);
        }
        pos += n;
      }
      reader.finish();
    });
    const body = input.subarray(Math.min(6, input.length));
    check('decodeAssociateRq', input, () => decodeAssociateRq(body));
    check('decodeAssociateAc', input, () => decodeAssociateAc(body));
    check('decodePDataTf', input, () => decodePDataTf(body));
    check('readAeTitleField', input, () => readAeTitleField(input.subarray(0, 16)));
    const cmd = rand.int(3) ? mutate(rand, commands[rand.int(commands.length)]) : rand.bytes(rand.int(120));
    check('decodeCommand', cmd, () => decodeCommand(cmd));
    check('assembler', cmd, () => new DimseMessageAssembler().push([{ contextId: 1, command: true, last: true, data: cmd }, { contextId: 1, command: false, last: true, data: cmd }]));
  }
  t.equal(failures, 0, 'no parser threw anything but a WardgateError');
  t.ok(decodedOk > 100, `${decodedOk} mutated inputs still decoded (the mutations are not all trivially fatal)`);
});
