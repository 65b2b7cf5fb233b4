/**
 * Oracle building blocks: crash locations from Node stack traces, the independent policy evaluation,
 * the altered-bytes checks (also against the campaign's window of recent streams), and delta-debugging
 * minimization.
 */
import t from 'tap';
import { checkBackend, checkRelayedAnswer, crashLocation, describeMatch, messageAllowed } from '../../src/fuzz/oracles.ts';
import { minimize } from '../../src/fuzz/minimizer.ts';
import { findingId } from '../../src/fuzz/findings.ts';
import { encodeAbort } from '../../src/protocols/dicom/index.ts';
import { encodeFrame } from '../../src/protocols/hl7/index.ts';

t.test('crash location: first stack frame, file base name and line', async (t) => {
  const stderr = 'file:///x/faulty-scp.ts:27\n    throw new RangeError(...)\n\nRangeError: AE title overflows\n    at copyAeTitle (file:///work/test/fuzz/fixtures/faulty-scp.ts:27:13)\n    at Socket.<anonymous> (file:///work/test/fuzz/fixtures/faulty-scp.ts:98:24)\n';
  t.equal(crashLocation(stderr, 1, null), 'copyAeTitle (faulty-scp.ts:27)');
  t.equal(crashLocation('    at /srv/app/main.js:10:5\n', 1, null), '<anonymous> (main.js:10)');
  t.equal(crashLocation('', null, 'SIGSEGV'), 'signal SIGSEGV');
  t.not(findingId('dicom', { oracle: 'exit', location: 'a (x.ts:1)' }), findingId('dicom', { oracle: 'exit', location: 'a (x.ts:2)' }), 'ids differ by location');
});

t.test('policy: denied AE titles and HL7 senders reaching the backend are findings', async (t) => {
  const peer = { address: '127.0.0.1', subjects: ['fuzz'], sans: ['fuzz.klinikum.internal'] };
  const rules = [{ peerSans: ['fuzz.klinikum.internal'], callingAeTitles: ['CT01'] }];
  const conn = (calling: string) => ({ id: 1, openedAt: 0, received: Buffer.alloc(0), sent: Buffer.alloc(0), messages: [], association: { callingAeTitle: calling, calledAeTitle: 'PACS' } });
  t.equal(checkBackend('dicom', conn('CT01'), [], rules, peer), undefined, 'allowed AE title passes');
  t.equal(checkBackend('dicom', conn('EVIL'), [], rules, peer)?.location, 'dicom: denied association reached the backend');
  t.equal(checkBackend('dicom', conn('CT01'), [], rules, { ...peer, sans: ['other'] })?.oracle, 'policy', 'an unlisted peer certificate makes any association a bypass');
  const hl7Rules = [{ sendingApplications: ['LIS'], messageTypes: ['ORU^R01'] }];
  const msg = (app: string, type: string) => Buffer.from(`MSH|^~\\&|${app}|FAC|R|RF|20260101||${type}|1|P|2.5\rPID|1\r`, 'latin1');
  t.ok(messageAllowed(hl7Rules, peer, msg('LIS', 'ORU^R01^ORU_R01')));
  t.notOk(messageAllowed(hl7Rules, peer, msg('LIS', 'ADT^A01')));
  t.notOk(messageAllowed(hl7Rules, peer, msg('RIS', 'ORU^R01')));
  const oidRules = [{ sendingApplications: ['LIS^1.2.3^ISO'] }];
  t.ok(messageAllowed(oidRules, peer, msg('LIS^1.2.3^ISO', 'ORU^R01')), 'a rule with ^ names the whole HD');
  t.notOk(messageAllowed(oidRules, peer, msg('LIS^9.9^ISO', 'ORU^R01')), 'another universal ID is denied');
  t.ok(messageAllowed(hl7Rules, peer, msg('LIS^9.9^ISO', 'ORU^R01')), 'a bare name matches the namespace ID');
  const sent = [encodeFrame(msg('LIS', 'ORU^R01'))];
  t.equal(checkBackend('hl7', { id: 2, openedAt: 0, received: sent[0], sent: Buffer.alloc(0), messages: [msg('LIS', 'ORU^R01')] }, sent, hl7Rules, peer), undefined, 'forwarded unchanged');
  t.equal(checkBackend('hl7', { id: 3, openedAt: 0, received: sent[0], sent: Buffer.alloc(0), messages: [msg('LIS', 'ORU^R01X')] }, sent, undefined, peer)?.location, 'hl7: relayed message altered');
});

t.test('altered bytes: prefixes pass, a trailing gateway A-ABORT is allowed, changes are not', async (t) => {
  const stream = Buffer.from('0100000000100000000000000000000000000000000000', 'hex');
  const peer = { address: '127.0.0.1', subjects: [], sans: [] };
  const conn = (received: Buffer) => ({ id: 1, openedAt: 0, received, sent: Buffer.alloc(0), messages: [] });
  t.equal(checkBackend('dicom', conn(stream.subarray(0, 10)), [stream], undefined, peer), undefined);
  t.equal(checkBackend('dicom', conn(Buffer.concat([stream.subarray(0, 10), encodeAbort({ source: 2, reason: 1 })])), [stream], undefined, peer), undefined);
  const changed = Buffer.from(stream);
  changed[3] ^= 1;
  t.equal(checkBackend('dicom', conn(changed), [stream], undefined, peer)?.location, 'dicom: relayed bytes altered');
  t.equal(checkRelayedAnswer('dicom', stream.subarray(0, 7), [stream]), undefined);
  t.equal(checkRelayedAnswer('dicom', changed, [stream])?.location, 'dicom: relayed answer altered');
});

t.test('minimize: ddmin keeps only what the failure needs', async (t) => {
  const needle = Buffer.from('CRASH');
  const chunks = [Buffer.from('aaaa'), Buffer.concat([Buffer.alloc(300, 0x41), needle, Buffer.alloc(200, 0x42)]), Buffer.from('zzzz')];
  const { exchange, tests } = await minimize({ protocol: 'hl7', side: 'client', label: 'x', chunks }, async (c) => Buffer.concat(c.chunks).includes(needle), { maxTests: 500, deadline: Date.now() + 10_000 });
  const out = Buffer.concat(exchange.chunks);
  t.ok(out.includes(needle), 'still fails');
  t.ok(out.length <= needle.length + 8, `reduced 513 -> ${out.length} bytes in ${tests} tests`);
});

t.test('completion tracking across chunk boundaries matches the whole-buffer check', async (t) => {
  const { CompletionTracker, isComplete } = await import('../../src/fuzz/executor.ts');
  const ac = Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 3]), Buffer.from([1, 2, 3])]);
  const rp = Buffer.from([6, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
  const stream = Buffer.concat([ac, rp]);
  for (let cut = 1; cut < stream.length; cut++) {
    const tracker = new CompletionTracker('dicom', []);
    const first = tracker.push(stream.subarray(0, cut));
    const second = tracker.push(stream.subarray(cut));
    t.equal(first || second, isComplete('dicom', stream, []), `cut at ${cut}`);
    t.notOk(first, `not complete before the A-RELEASE-RP body (cut ${cut})`);
  }
  const hl7 = new CompletionTracker('hl7', [Buffer.from([0x0b, 0x41, 0x1c, 0x0d, 0x0b, 0x42, 0x1c, 0x0d])]);
  t.notOk(hl7.push(Buffer.from([0x0b, 0x41, 0x1c, 0x0d])), 'one ACK of two');
  t.ok(hl7.push(Buffer.from([0x0b, 0x42, 0x1c, 0x0d])), 'two ACKs of two');
});

t.test('stream window: prefixes across chunks, HL7 frames, culprit, eviction after keepMs and after the connections that may need a stream', async (t) => {
  const { StreamWindow } = await import('../../src/fuzz/stream-window.ts');
  const peer = { address: '127.0.0.1', subjects: [], sans: [] };
  const w = new StreamWindow<string>('dicom', 1000);
  const a = [Buffer.from('01000000004c0001', 'hex'), Buffer.from('0000414e592d534350202020202020202020', 'hex'), Buffer.alloc(40, 0x20)];
  const b = [Buffer.from('01000000004c00010000', 'hex'), Buffer.from('4f544845522d53435020', 'hex')];
  w.add(1, a, 'a');
  w.add(2, b, 'b');
  const whole = Buffer.concat(a);
  t.ok(w.hasPrefix(whole.subarray(0, 30)), 'a prefix spanning chunk boundaries is found');
  t.ok(w.hasPrefix(whole), 'the whole stream is its own prefix');
  const altered = Buffer.from(whole.subarray(0, 30));
  altered[20] ^= 1;
  t.notOk(w.hasPrefix(altered), 'one changed byte is not a prefix of anything sent');
  t.equal(checkBackend('dicom', { id: 1, openedAt: 0, received: altered, sent: Buffer.alloc(0), messages: [] }, w, undefined, peer)?.location, 'dicom: relayed bytes altered');
  t.same(w.closest(altered), { tag: 'a', common: 20, written: 66 }, 'the culprit is the stream sharing the longest prefix, with where they part');
  t.same(w.closest(Buffer.alloc(20, 7)), { tag: 'b', common: 0, written: 20 }, 'nothing begins like it: the newest exec, and no byte in common');
  t.equal(describeMatch({ id: 9, openedAt: 1000, closedAt: 1250, received: altered, sent: Buffer.alloc(0), messages: [] }, { tag: { index: 4 }, common: 20, written: 66 }),
    `closest stream sent: exec 4, 66 bytes written, agreeing on the first 20; connection open 250 ms; received from byte 12: ${altered.subarray(12).toString('hex')}`,
    'the evidence: where the record parts from the closest stream, and how long its connection was open');
  w.settle(1, 20, 0);
  t.notOk(w.hasPrefix(whole.subarray(0, 30)), 'after settling, only what was written counts');
  t.ok(w.hasPrefix(whole.subarray(0, 20)));
  w.evict(999);
  t.equal(w.size, 2, 'kept until keepMs after its end');
  w.evict(5000, 999);
  t.equal(w.size, 2, 'and while a backend connection that arrived within keepMs of its end is open (a record that closes late)');
  w.evict(1000);
  t.equal(w.size, 1, 'then dropped');
  t.notOk(w.hasPrefix(whole.subarray(0, 20)));

  const h = new StreamWindow('hl7');
  const msg = Buffer.from('MSH|^~\\&|LIS|FAC|R|RF|20260101||ORU^R01|1|P|2.5\rPID|1\r', 'latin1');
  h.add(7, [encodeFrame(msg).subarray(0, 10), encodeFrame(msg).subarray(10)]);
  t.ok(h.hasPayload(msg), 'a frame split across chunks is indexed whole');
  t.notOk(h.hasPayload(Buffer.concat([msg, Buffer.from('X')])));
  t.equal(checkBackend('hl7', { id: 2, openedAt: 0, received: Buffer.alloc(0), sent: Buffer.alloc(0), messages: [msg] }, h, undefined, peer), undefined);
});
