/**
 * Reverse associations with a real PACS (Debian Orthanc, DICOM TLS on): a legacy modality stores an
 * image through its outbound route, then asks for it back with C-MOVE. Orthanc opens the
 * sub-association to the move destination over TLS, to the inbound route the outbound route maps that
 * AE title to (`moveDestinations`), which hands it in plaintext to the modality's storescp. A C-MOVE
 * naming an unmapped destination is aborted before it reaches Orthanc.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/tmp.ts';
import { spawnPeer } from '../protocols/fixtures/helpers.ts';
import { datasetOf, writeDicomFile } from './fixtures/dicom-file.ts';
import { freeLoopbackPort, peerOption, requireBinary, run, startGateway, startStorescp, waitForPort } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const OUT = '127.30.8.1';
const BACK = '127.30.8.2';

t.test('C-MOVE from Orthanc comes back over TLS through the paired inbound route', peerOption('Orthanc', 'movescu', 'storescu', 'storescp'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const orthancCert = await pki.issue('orthanc', ['127.0.0.1', 'pacs.klinikum.internal']);
  const gwOut = await pki.issue('gw-out', ['gw.klinikum.internal']);
  const gwBack = await pki.issue('gw-back', [BACK]);
  const orthancPort = await freeLoopbackPort();
  const config = join(work, 'orthanc.json');
  const backPort = await freeLoopbackPort();
  mkdirSync(join(work, 'db'));
  writeFileSync(config, JSON.stringify({
    Name: 'wardgate-test', StorageDirectory: join(work, 'db'), IndexDirectory: join(work, 'db'), Plugins: [],
    HttpServerEnabled: false, DicomAet: 'ORTHANC', DicomPort: orthancPort, DicomCheckCalledAet: false,
    DicomTlsEnabled: true, DicomTlsCertificate: orthancCert.cert, DicomTlsPrivateKey: orthancCert.key, DicomTlsTrustedCertificates: pki.trust,
    DicomTlsRemoteCertificateRequired: true,
    DicomModalities: { mod1: { AET: 'MOD1', Host: BACK, Port: backPort, UseDicomTls: true } },
  }));
  const orthanc = spawnPeer(t, requireBinary('Orthanc'), [config]);
  await waitForPort('127.0.0.1', orthancPort, 30_000).catch((err) => { throw new Error(`${err.message}: ${orthanc.stderr().slice(-2000)}`); });

  const stored = join(work, 'modality');
  mkdirSync(stored);
  const modalityPort = await freeLoopbackPort();
  await startStorescp(t, modalityPort, stored, { aet: 'MOD1' });
  const outPort = await freeLoopbackPort();
  const gateway = await startGateway(t, {
    routes: [
      { name: 'mod1-out', direction: 'outbound', protocol: 'dicom', listen: `${OUT}:${outPort}`, upstream: `127.0.0.1:${orthancPort}`,
        tls: { cert: [gwOut.cert], key: [gwOut.key], ca: pki.trust }, moveDestinations: { MOD1: 'mod1-back' } },
      { name: 'mod1-back', direction: 'inbound', protocol: 'dicom', listen: `${BACK}:${backPort}`, upstream: `127.0.0.1:${modalityPort}`,
        tls: { cert: [gwBack.cert], key: [gwBack.key], ca: pki.trust }, allow: [{ peerSans: ['pacs.klinikum.internal'], callingAeTitles: ['ORTHANC'], calledAeTitles: ['MOD1'] }] },
    ],
  });

  const file = join(work, 'image.dcm');
  const uid = '1.2.826.0.1.3680043.10.1234.88.1';
  writeDicomFile(file, { sopInstanceUid: uid, rows: 128, columns: 128 });
  const store = await run(requireBinary('storescu'), ['-aet', 'MOD1', '-aec', 'ORTHANC', OUT, String(outPort), file]);
  t.equal(store.code, 0, `stored into Orthanc through the outbound route: ${store.output}`);

  const move = await run(requireBinary('movescu'), ['-aet', 'MOD1', '-aec', 'ORTHANC', '-aem', 'MOD1', '-S', '-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=${uid}.1`, OUT, String(outPort)], 60_000);
  t.equal(move.code, 0, `C-MOVE through the outbound route: ${move.output}`);
  const files = readdirSync(stored);
  t.equal(files.length, 1, 'the modality received the moved instance');
  if (files[0]) t.ok(datasetOf(join(stored, files[0])).equals(datasetOf(file)), 'moved instance byte-identical');
  t.equal(gateway.metrics.get('wardgate_associations_total', { route: 'mod1-back' }), 1, 'the sub-association crossed the inbound route (TLS from Orthanc)');

  const rogue = await run(requireBinary('movescu'), ['-aet', 'MOD1', '-aec', 'ORTHANC', '-aem', 'ELSEWHERE', '-S', '-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=${uid}.1`, OUT, String(outPort)], 30_000);
  t.match(rogue.output, /Peer aborted Association/, 'C-MOVE to an unmapped destination: the association is aborted');
  t.equal(gateway.metrics.get('wardgate_denials_total', { route: 'mod1-out', reason: 'move-destination' }), 1, 'refusal counted');
});
