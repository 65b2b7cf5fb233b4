/**
 * Storage commitment reverses the association like C-MOVE does (PS3.4 J.3.3): the SCP reports with an
 * N-EVENT-REPORT on an association it opens itself, to the SCU's AE title, the calling AE title of the
 * N-ACTION-RQ's association. On a route with `moveDestinations` that AE title is a reverse destination
 * too: a requestor calling itself after an AE the route does not map must not make the PACS (Orthanc,
 * Debian, DICOM TLS on) open an association to that device.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import {
  COMMAND_FIELD, DATA_SET_TYPE, PDU_TYPE, PduReader, TRANSFER_SYNTAX, encodeAssociateRq, encodeCommand, encodePDataTf, encodeReleaseRq,
} from '../../src/protocols/dicom/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { spawnPeer, withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort, peerOption, requireBinary, sentinel, startGateway, waitForPort } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';
import { implicitElement } from './fixtures/dicom-element.ts';

const PACS = '127.50.0.1';
const BACK = '127.50.0.2';
const OTHER = '127.50.0.3';
const MODALITY = '127.50.0.4';
const STORAGE_COMMITMENT_PUSH = '1.2.840.10008.1.20.1';
const STORAGE_COMMITMENT_INSTANCE = '1.2.840.10008.1.20.1.1';

const uid = (s: string) => Buffer.from(s.length % 2 ? `${s}\0` : s, 'latin1');

/** PS3.4 J.3.2.1.1: Transaction UID and one Referenced SOP Sequence item. */
function commitmentRequest(transactionUid: string): Buffer {
  const item = Buffer.concat([implicitElement(0x0008, 0x1150, uid('1.2.840.10008.5.1.4.1.1.7')), implicitElement(0x0008, 0x1155, uid('1.2.826.0.1.3680043.10.1234.99.1'))]);
  const sequence = implicitElement(0x0008, 0x1199, implicitElement(0xfffe, 0xe000, item));
  return Buffer.concat([implicitElement(0x0008, 0x1195, uid(transactionUid)), sequence]);
}

function nActionRq(messageId: number): Buffer {
  return encodeCommand({
    commandField: COMMAND_FIELD.NActionRq, messageId, requestedSopClassUid: STORAGE_COMMITMENT_PUSH,
    requestedSopInstanceUid: STORAGE_COMMITMENT_INSTANCE, actionTypeId: 1, dataSetType: DATA_SET_TYPE.Present,
  });
}

t.test('storage commitment from an AE title the route does not map never makes the PACS connect out', peerOption('Orthanc'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const orthancCert = await pki.issue('orthanc', [PACS, 'pacs.klinikum.internal']);
  const gwOut = await pki.issue('gw-out', ['gw.klinikum.internal']);
  const gwBack = await pki.issue('gw-back', [BACK]);
  const orthancPort = await freeLoopbackPort();
  const backPort = await freeLoopbackPort();
  const other = await sentinel(t, OTHER);
  const modality = await sentinel(t, MODALITY);
  mkdirSync(join(work, 'db'));
  const config = join(work, 'orthanc.json');
  writeFileSync(config, JSON.stringify({
    Name: 'wardgate-test', StorageDirectory: join(work, 'db'), IndexDirectory: join(work, 'db'), Plugins: [],
    HttpServerEnabled: false, DicomAet: 'ORTHANC', DicomPort: orthancPort, DicomCheckCalledAet: false, DicomScuTimeout: 2,
    DicomTlsEnabled: true, DicomTlsCertificate: orthancCert.cert, DicomTlsPrivateKey: orthancCert.key, DicomTlsTrustedCertificates: pki.trust,
    DicomTlsRemoteCertificateRequired: true,
    DicomModalities: {
      mod1: { AET: 'MOD1', Host: BACK, Port: backPort, UseDicomTls: true },
      other: { AET: 'OTHER', Host: OTHER, Port: other.port },
    },
  }));
  const orthanc = spawnPeer(t, requireBinary('Orthanc'), [config]);
  await waitForPort(PACS, orthancPort, 30_000).catch((err) => { throw new Error(`${err.message}: ${orthanc.stderr().slice(-2000)}`); });

  const outPort = await freeLoopbackPort();
  const gateway = await startGateway(t, {
    routes: [
      // No callingAeTitles: the plaintext side is trusted by address only, as the route's own allow rule says.
      { name: 'mod-out', direction: 'outbound', protocol: 'dicom', listen: `${PACS}:${outPort}`, upstream: `${PACS}:${orthancPort}`,
        tls: { cert: [gwOut.cert], key: [gwOut.key], ca: pki.trust }, allow: [{ peerAddresses: [PACS] }], moveDestinations: { MOD1: 'mod1-back' } },
      { name: 'mod1-back', direction: 'inbound', protocol: 'dicom', listen: `${BACK}:${backPort}`, upstream: `${MODALITY}:${modality.port}`,
        tls: { cert: [gwBack.cert], key: [gwBack.key], ca: pki.trust }, allow: [{ peerSans: ['pacs.klinikum.internal'], callingAeTitles: ['ORTHANC'], calledAeTitles: ['MOD1'] }] },
    ],
  });

  /** One association calling itself `callingAeTitle`: N-ACTION-RQ, then release; the PDU types it got back. */
  const commit = async (callingAeTitle: string, transactionUid: string): Promise<number[]> => {
    const socket = net.connect({ host: PACS, port: outPort, localAddress: PACS });
    socket.on('error', () => undefined);
    t.teardown(() => socket.destroy());
    const reader = new PduReader();
    const types: number[] = [];
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    let onPdu = (): void => undefined;
    socket.on('data', (chunk: Buffer) => {
      for (const raw of reader.push(chunk)) {
        types.push(raw.type);
        onPdu();
      }
    });
    const until = (type: number, what: string) => withTimeout(new Promise<void>((resolve) => {
      onPdu = () => { if (types.includes(type) || types.includes(PDU_TYPE.Abort)) resolve(); };
      onPdu();
    }), 15_000, what);
    await new Promise((r) => socket.once('connect', r));
    socket.write(encodeAssociateRq({
      calledAeTitle: 'ORTHANC', callingAeTitle,
      presentationContexts: [{ id: 1, abstractSyntax: STORAGE_COMMITMENT_PUSH, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }],
      userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.6' },
    }));
    await until(PDU_TYPE.AssociateAc, 'A-ASSOCIATE-AC');
    if (types.includes(PDU_TYPE.Abort)) return types;
    const pdata = types.length;
    socket.write(encodePDataTf([{ contextId: 1, command: true, last: true, data: nActionRq(1) }]));
    socket.write(encodePDataTf([{ contextId: 1, command: false, last: true, data: commitmentRequest(transactionUid) }]));
    await withTimeout(new Promise<void>((resolve) => {
      onPdu = () => { if (types.length > pdata) resolve(); };
      onPdu();
    }), 15_000, 'N-ACTION-RSP or A-ABORT');
    if (!types.includes(PDU_TYPE.Abort)) socket.write(encodeReleaseRq());
    await withTimeout(closed, 15_000, 'association closed');
    return types;
  };
  const eventually = async (done: () => boolean, ms: number) => {
    for (const end = Date.now() + ms; !done() && Date.now() < end;) await new Promise((r) => setTimeout(r, 50));
  };

  // Baseline: MOD1 is mapped; Orthanc reports over TLS through mod1-back, which reaches the modality.
  const mapped = await commit('MOD1', '1.2.826.0.1.3680043.10.1234.99.10');
  t.notOk(mapped.includes(PDU_TYPE.Abort), 'storage commitment from the mapped MOD1 relayed');
  await eventually(() => modality.connections() > 0, 15_000);
  t.equal(modality.connections(), 1, 'Orthanc opened the report association to MOD1 through the paired inbound route');

  // Found in review: only the C-MOVE-RQ's Move Destination was checked against moveDestinations, but an
  // N-ACTION-RQ for storage commitment names its reverse destination by the calling AE title: a peer
  // the allow rules let call itself anything had the PACS open an association (plaintext, outside
  // the gateway) to any AE title it knows.
  const rogue = await commit('OTHER', '1.2.826.0.1.3680043.10.1234.99.11');
  t.ok(rogue.includes(PDU_TYPE.Abort), 'storage commitment from the unmapped OTHER: the requestor gets an A-ABORT');
  await eventually(() => other.connections() > 0, 5_000);
  t.equal(other.connections(), 0, 'Orthanc never connected to OTHER');
  t.equal(gateway.metrics.get('wardgate_denials_total', { route: 'mod-out', reason: 'move-destination' }), 1, 'refusal counted');
});
