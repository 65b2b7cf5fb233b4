/**
 * A route aborts a requestor whose P-DATA-TF arrives before its A-ASSOCIATE-AC (PS3.8 §9.2, Sta5).
 * Fuzz execs that wrote the whole association at once therefore never reached a route's P-DATA relay:
 * every PDV lie, data-set mutation and command mutation died at the association stage. Most DICOM client
 * execs now send the A-ASSOCIATE-RQ alone and the rest once it is accepted (awaitAccept). Checked here
 * through the real gateway (outbound route, in-process) into the instrumented backend.
 */
import t from 'tap';
import { runClient } from '../../src/fuzz/executor.ts';
import { InputGenerator } from '../../src/fuzz/generate.ts';
import { prepareTarget } from '../../src/fuzz/setup.ts';
import type { RouteTarget } from '../../src/fuzz/route-target.ts';
import { routeFixture } from './fixtures/routes.ts';

/** PDU types of a byte stream, in order, as far as the headers can be followed (PS3.8 §9.3.1). */
function pduTypes(stream: Buffer): number[] {
  const types: number[] = [];
  for (let pos = 0; pos + 6 <= stream.length; pos += 6 + stream.readUInt32BE(pos + 2)) types.push(stream[pos]);
  return types;
}

t.test('most DICOM client execs wait for the A-ASSOCIATE-AC, so their P-DATA reaches the route relay and the backend', async (t) => {
  const f = await routeFixture(t, '127.41.0.3');
  const p = prepareTarget({ route: 'dicom-out', config: f.config, cert: f.cert, key: f.key, ca: f.ca, side: 'client', inProcess: true });
  const target = p.target as RouteTarget;
  await target.start();
  t.teardown(() => target.close!());

  const gen = new InputGenerator({ protocol: 'dicom', seed: 11, sides: ['client'], dicom: p.dicom });
  const inputs = Array.from({ length: 240 }, (_, i) => gen.generate(i).client);
  const waiting = inputs.filter((ex) => ex.awaitAccept);
  t.ok(waiting.length >= inputs.length * 0.6, `${waiting.length} of ${inputs.length} client execs wait for the AC`);
  t.ok(waiting.length < inputs.length, 'some still write everything at once (the eager case stays tested)');
  // The RQ alone: one PDU (its type may be a mutation's), and more to come once it is answered.
  t.ok(waiting.every((ex) => ex.chunks.length > 1 && ex.chunks[0].length >= 6), 'each of those has a first PDU and more behind it');
  t.ok(waiting.filter((ex) => ex.chunks[0][0] === 0x01).length >= waiting.length * 0.9, 'the first PDU is (nearly always) the A-ASSOCIATE-RQ');

  for (let i = 0; i < inputs.length; i += 16) await Promise.all(inputs.slice(i, i + 16).map((ex) => runClient(ex, target.endpoint())));
  // Let the gateway close its upstream connections, so the backend has recorded them.
  await new Promise((r) => setTimeout(r, 1500));
  const seen = target.backend.drain();
  const withData = seen.filter((c) => pduTypes(c.received).slice(1).includes(0x04));
  t.ok(withData.length >= 20, `${withData.length} of ${seen.length} associations that reached the backend carried P-DATA-TF through the route`);
});

t.test('DICOM floods (command, empty-command, data) always wait for the A-ASSOCIATE-AC, so they reach the relay', async (t) => {
  const f = await routeFixture(t, '127.41.0.4');
  const p = prepareTarget({ route: 'dicom-out', config: f.config, cert: f.cert, key: f.key, ca: f.ca, side: 'client', inProcess: true });
  const gen = new InputGenerator({ protocol: 'dicom', seed: 5, sides: ['client'], dicom: p.dicom });
  const floods = [];
  for (let i = 0; floods.length < 6 && i < 20_000; i++) {
    const ex = gen.generate(i).client!;
    if (/command-flood|data-flood/.test(ex.label)) floods.push(ex);
  }
  t.ok(floods.length >= 6, `${floods.length} floods generated`);
  t.ok(floods.every((ex) => ex.awaitAccept), 'every flood waits for the AC');
});
