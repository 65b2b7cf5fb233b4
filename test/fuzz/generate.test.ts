/**
 * Generation is deterministic per seed, structure-aware (unmutated PDUs and frames decode with the
 * project's own codecs), and covers the attack classes the issue names.
 */
import t from 'tap';
import { InputGenerator } from '../../src/fuzz/generate.ts';
import { havoc } from '../../src/fuzz/havoc.ts';
import { Rng } from '../../src/fuzz/prng.ts';
import { isWardgateError } from '../../src/errors.ts';
import { PduReader, decodePdu } from '../../src/protocols/dicom/index.ts';
import { MllpDecoder, parseMsh } from '../../src/protocols/hl7/index.ts';

t.test('the same seed generates the same inputs; another seed others', async (t) => {
  for (const protocol of ['dicom', 'hl7'] as const) {
    const a = new InputGenerator({ protocol, seed: 42, sides: ['client', 'server'] });
    const b = new InputGenerator({ protocol, seed: 42, sides: ['client', 'server'] });
    const c = new InputGenerator({ protocol, seed: 43, sides: ['client', 'server'] });
    let same = 0;
    let differs = 0;
    for (let i = 0; i < 300; i++) {
      const x = a.generate(i);
      const y = b.generate(i);
      const z = c.generate(i);
      const bytes = (e: typeof x) => Buffer.concat([...e.client.chunks, ...(e.server?.chunks ?? [])]).toString('hex');
      if (bytes(x) === bytes(y) && x.client.label === y.client.label) same++;
      if (bytes(x) !== bytes(z)) differs++;
    }
    t.equal(same, 300, `${protocol}: 300 of 300 inputs identical for seed 42`);
    t.ok(differs > 250, `${protocol}: ${differs} of 300 inputs differ for seed 43`);
  }
});

t.test('DICOM: attack classes appear, unmutated exchanges decode with protocols/dicom', async (t) => {
  const gen = new InputGenerator({ protocol: 'dicom', seed: 7, sides: ['client'] });
  const seen = new Set<string>();
  let clean = 0;
  for (let i = 0; i < 2000; i++) {
    const ex = gen.generate(i).client;
    for (const part of ex.label.split(/[ ,]/)) seen.add(part.replace(/^stream:/, ''));
    if (/calling="FUZZSCU"$/.test(ex.label)) {
      // No mutation: every PDU must decode, starting with the A-ASSOCIATE-RQ.
      const reader = new PduReader();
      const kinds = ex.chunks.flatMap((c) => reader.push(c)).map((p) => decodePdu(p).kind);
      t.equal(kinds[0], 'A-ASSOCIATE-RQ', `exec ${i}: starts with an A-ASSOCIATE-RQ`);
      clean++;
    }
  }
  t.ok(clean > 20, `${clean} unmutated exchanges decoded`);
  for (const name of ['ae-overlong', 'pdu-length-lie', 'item-length-lie', 'pdv-length-lie', 'oversized-uid', 'invalid-uid', 'oversized-field', 'deep-items', 'dataset', 'invalid-vr', 'deep-nesting',
    'data-before-association', 'release-twice', 'abort-mid-pdv', 'pdv-zero-length', 'truncate', 'fragment', 'reorder', 'havoc']) {
    t.ok(seen.has(name), `mutation ${name} generated`);
  }
});

t.test('DICOM server side: hostile A-ASSOCIATE-AC/RJ/P-DATA answers for a benign requestor', async (t) => {
  const gen = new InputGenerator({ protocol: 'dicom', seed: 9, sides: ['server'] });
  const shapes = new Set<string>();
  for (let i = 0; i < 300; i++) {
    const input = gen.generate(i);
    t.equal(input.client.label, 'dicom-benign-requestor');
    for (const part of input.server!.label.split(/[ ,]/)) shapes.add(part);
  }
  for (const s of ['accept', 'reject', 'abort', 'pdata-first', 'double-ac', 'abort-mid-pdv']) t.ok(shapes.has(s), `server shape ${s}`);
});

t.test('HL7: MLLP frames carry ADT/ORM/ORU messages; framing and MSH attacks appear', async (t) => {
  const gen = new InputGenerator({ protocol: 'hl7', seed: 11, sides: ['client'] });
  const seen = new Set<string>();
  const types = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const ex = gen.generate(i).client;
    for (const part of ex.label.split(/[ ,]/)) seen.add(part);
    if (ex.label === 'hl7-client') {
      const decoder = new MllpDecoder({ maxFrameSize: 8 << 20 });
      for (const payload of ex.chunks.flatMap((c) => decoder.push(c))) types.add(parseMsh(payload).messageType.code);
    }
  }
  for (const code of ['ADT', 'ORM', 'ORU']) t.ok(types.has(code), `clean ${code} messages decode`);
  for (const name of ['msh-field-drop', 'msh-type-bare', 'encoding-short', 'terminator', 'oversized-field', 'escape', 'framing:no-trailer', 'framing:start-inside', 'framing:junk-between', 'second-msh']) {
    t.ok(seen.has(name), `mutation ${name} generated`);
  }
});

t.test('havoc output never crashes the project codecs (typed errors only)', async (t) => {
  const gen = new InputGenerator({ protocol: 'dicom', seed: 3, sides: ['client'] });
  const rng = new Rng(5);
  let untyped = 0;
  for (let i = 0; i < 500; i++) {
    for (const chunk of gen.generate(i).client.chunks) {
      try {
        for (const p of new PduReader().push(havoc(rng, chunk))) decodePdu(p);
      } catch (err) {
        if (!isWardgateError(err)) untyped++;
      }
    }
  }
  t.equal(untyped, 0, 'only WardgateErrors from the DICOM codec');
});

t.test('a reproducer with a megabyte chunk reads back (hex check without a recursing pattern)', async (t) => {
  const { exchangeFromJson, exchangeToJson } = await import('../../src/fuzz/exchange.ts');
  const big = Buffer.alloc(16 * 1024 * 1024, 0x20);
  const json = exchangeToJson({ protocol: 'dicom', side: 'client', label: 'flood', chunks: [big], awaitReply: false, endAfter: false });
  const back = exchangeFromJson(JSON.parse(JSON.stringify(json)), 'test');
  t.ok(back.chunks[0].equals(big), 'the 16 MiB chunk survives the round trip');
  t.throws(() => exchangeFromJson({ ...json, chunks: ['abc'] }, 'test'), /field "chunks"/, 'an odd number of hex digits is refused');
  t.throws(() => exchangeFromJson({ ...json, chunks: ['zz'] }, 'test'), /field "chunks"/, 'non-hex digits are refused');
});

t.test('HL7: a rare flood from a sender that never reads, of messages the route refuses', async (t) => {
  const gen = new InputGenerator({ protocol: 'hl7', seed: 11, sides: ['client'] });
  const floods = Array.from({ length: 100_000 }, (_, i) => gen.generate(i).client).filter((ex) => ex.neverRead);
  t.ok(floods.length >= 1 && floods.length <= 20, `${floods.length} of 100,000 execs are unread floods`);
  const flood = floods[0];
  t.equal(flood.label, 'hl7-client unread-flood');
  const bytes = flood.chunks.reduce((n, c) => n + c.length, 0);
  t.ok(bytes >= 5 * 1024 * 1024, `${(bytes / 1048576).toFixed(1)} MiB: a bulk exec, sampled by the memory oracle`);
  const decoder = new MllpDecoder();
  const first = decoder.push(flood.chunks[0]);
  t.equal(first.length, 1000, 'small messages, 1000 per chunk');
  t.match(parseMsh(first[0]).sendingApplication, /^NOT[A-Z]{6}$/, 'from an application outside the dictionary (refused by the route)');
});
