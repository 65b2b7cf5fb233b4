/**
 * The relay's pooled reads (src/proxy/pooled-reads.ts) under real dcmtk peers, both directions and
 * both route types at once, on 127.60.3.0/24: storescu (TCP) -> outbound route -> TLS -> inbound
 * route -> dcmqrscp, three large C-STOREs (in turn: dcmqrscp's index loses concurrent ones), then three concurrent C-GETs of them
 * (dcmqrscp -> inbound -> outbound -> getscu: the acceptor sends the data sets). All four sockets of
 * each chained association read into the shared pools; every object must come back byte-identical.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { TCP_POOL, TLS_POOL } from '../../src/proxy/pooled-reads.ts';
import { tempDir } from '../helpers/tmp.ts';
import { spawnPeer } from '../protocols/fixtures/helpers.ts';
import { datasetOf, writeDicomFile } from './fixtures/dicom-file.ts';
import { freeLoopbackPort, peerOption, requireBinary, run, startGateway, waitForPort } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const PACS = '127.60.3.1';
const GW_IN = '127.60.3.2';
const GW_OUT = '127.60.3.3';

t.test('3 C-STOREs and 3 concurrent C-GETs through outbound -> inbound -> dcmqrscp: byte-identical both ways', peerOption('storescu', 'getscu', 'dcmqrscp'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const gwIn = await pki.issue('gw-in', [GW_IN]);
  const gwOut = await pki.issue('gw-out', ['gw.klinikum.internal']);
  const qrPort = await freeLoopbackPort();
  const db = join(work, 'db');
  mkdirSync(db);
  const config = join(work, 'dcmqrscp.cfg');
  writeFileSync(config, [
    `NetworkTCPPort = ${qrPort}`, 'MaxPDUSize = 131072', 'MaxAssociations = 16',
    'HostTable BEGIN', 'HostTable END', 'VendorTable BEGIN', 'VendorTable END',
    'AETable BEGIN', `COMMON ${db} RW (200, 1024mb) ANY`, 'AETable END', '',
  ].join('\n'));
  spawnPeer(t, requireBinary('dcmqrscp'), ['-c', config, '-ta', '30', '-td', '30']);
  await waitForPort(PACS, qrPort);
  const inPort = await freeLoopbackPort();
  const outPort = await freeLoopbackPort();
  const gateway = await startGateway(t, {
    routes: [
      { name: 'ws-out', direction: 'outbound', protocol: 'dicom', listen: `${GW_OUT}:${outPort}`, upstream: `${GW_IN}:${inPort}`, tls: { cert: [gwOut.cert], key: [gwOut.key], ca: pki.trust } },
      { name: 'pacs-in', direction: 'inbound', protocol: 'dicom', listen: `${GW_IN}:${inPort}`, upstream: `${PACS}:${qrPort}`, tls: { cert: [gwIn.cert], key: [gwIn.key], ca: pki.trust } },
    ],
  });
  const peer = [GW_OUT, String(outPort)];
  const before = { tls: TLS_POOL.allocated, tcp: TCP_POOL.allocated };
  const files = [0, 1, 2].map((i) => {
    const file = join(work, `image${i}.dcm`);
    // ~12-24 MiB of pixel data each, different sizes so PDUs and reads never line up alike.
    writeDicomFile(file, { sopInstanceUid: `1.2.826.0.1.3680043.10.1234.60.${i + 1}`, rows: 2048 + 512 * i, columns: 3001 + 7 * i });
    return file;
  });
  // One after the other: dcmqrscp's index keeps only one of several concurrent stores (seen without the gateway too).
  for (const [i, file] of files.entries()) {
    const r = await run(requireBinary('storescu'), ['-aet', 'WS1', '-aec', 'COMMON', '-pdu', String([16384, 65536, 131072][i]), ...peer, file], 120_000);
    t.equal(r.code, 0, `C-STORE ${i}: ${r.output}`);
  }

  const gets = await Promise.all([0, 1, 2].map(async (i) => {
    const dir = join(work, `got${i}`);
    mkdirSync(dir);
    const r = await run(requireBinary('getscu'), ['-S', '-pdu', String([131072, 16384, 65536][i]), '-aet', 'WS1', '-aec', 'COMMON', '-od', dir, '-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=1.2.826.0.1.3680043.10.1234.60.${i + 1}.1`, ...peer], 120_000);
    return { r, dir };
  }));
  gets.forEach(({ r, dir }, i) => {
    t.equal(r.code, 0, `C-GET ${i}: ${r.output}`);
    const got = readdirSync(dir);
    t.equal(got.length, 1, `C-GET ${i}: one object retrieved`);
    if (got[0]) t.ok(datasetOf(join(dir, got[0])).equals(datasetOf(files[i])), `C-GET ${i}: the object dcmqrscp stored and sent back is byte-identical to the one storescu sent`);
  });
  t.ok(TLS_POOL.allocated > before.tls && TCP_POOL.allocated > before.tcp, `the relays read into both pools (TLS ${TLS_POOL.allocated - before.tls}, TCP ${TCP_POOL.allocated - before.tcp} buffers)`);
  for (const route of ['ws-out', 'pacs-in']) t.equal(gateway.metrics.get('wardgate_protocol_errors_total', { route }), 0, `${route}: no protocol error`);
});
