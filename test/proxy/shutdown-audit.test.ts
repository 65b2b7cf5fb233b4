/**
 * Stopping the gateway while associations are open: every session writes its last audit records
 * (association closed) before the auditor closes. Found in review: stop() closed the listeners and the
 * client connections, then the audit sinks, while each session still waited for its upstream
 * connection to close; its Detach record then hit a closed file ("write after end") and was lost.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { SOP_CLASS, TRANSFER_SYNTAX, encodeAssociateRq } from '../../src/protocols/dicom/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { freeLoopbackPort, peerOption, startGateway, startStorescp } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const GW = '127.30.0.9';

t.test('gateway stop with an association open: its Detach record is in the audit file', peerOption('storescp'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const gw = await pki.issue('gw', [GW]);
  const device = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
  const scpPort = await freeLoopbackPort();
  const stored = join(work, 'stored');
  mkdirSync(stored);
  await startStorescp(t, scpPort, stored);
  const gwPort = await freeLoopbackPort();
  const auditFile = join(work, 'audit.log');
  const log: string[] = [];
  const gateway = await startGateway(t, {
    routes: [{ name: 'pacs-in', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${gwPort}`, upstream: `127.0.0.1:${scpPort}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust } }],
    audit: { file: auditFile },
  }, log);

  // storescp takes one association at a time: one is enough to show it.
  const calling = 'CT1';
  {
    const socket = tls.connect({ host: GW, port: gwPort, ca: readFileSync(pki.trust), cert: readFileSync(device.cert), key: readFileSync(device.key), checkServerIdentity: () => undefined });
    socket.on('error', () => undefined);
    t.teardown(() => socket.destroy());
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    socket.write(encodeAssociateRq({
      calledAeTitle: 'STORESCP', callingAeTitle: calling,
      presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }],
      userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.9' },
    }));
    // The first byte of the answer: 0x02 is A-ASSOCIATE-AC (PS3.8 §9.3.3).
    const type = await new Promise<number>((resolve) => socket.once('data', (d: Buffer) => resolve(d[0])));
    t.equal(type, 0x02, `${calling}: association accepted`);
  }

  await gateway.stop();
  const audit = readFileSync(auditFile, 'utf8');
  t.match(audit, new RegExp(`csd_code="110125"[^\\n]*UserID="${calling}"`), `${calling}: association closed (Detach) recorded`);
  t.match(audit, /csd_code="110121"/, 'Application Stop recorded');
  t.notMatch(log.join('\n'), /write after end|AUDIT_SINK_FAILED/, `no audit record lost: ${log.join('\n')}`);
});
