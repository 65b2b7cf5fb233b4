/**
 * DICOM through the gateway with real dcmtk peers (loopback only):
 * - storescu +tls -> inbound route -> plaintext storescp: the stored data set is byte-identical;
 * - plaintext echoscu/storescu -> outbound route -> storescp +tls requiring a client certificate;
 * - a client certificate from another CA, an expired one, a plaintext client, and a calling AE title
 *   the allow rules do not bind to the peer are refused, and the backend sees no connection at all.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/tmp.ts';
import { datasetOf, writeDicomFile } from './fixtures/dicom-file.ts';
import { auditWith, freeLoopbackPort, peerOption, requireBinary, run, sentinel, startGateway, startStorescp } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const GW = '127.30.0.1';

function inboundRoute(name: string, port: number, upstreamPort: number, files: { cert: string[]; key: string[]; ca: string }, extra: object = {}) {
  return { name, direction: 'inbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `127.0.0.1:${upstreamPort}`, tls: { ...files }, limits: { artimTimeoutMs: 10_000 }, ...extra };
}

t.test('storescu +tls -> inbound -> plaintext storescp: object stored byte-identical, audited', peerOption('storescu', 'storescp'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const gwEc = await pki.issue('gw-ec', [GW, 'gw.klinikum.internal'], 'ecdsa-p256');
  const gwRsa = await pki.issue('gw-rsa', [GW, 'gw.klinikum.internal'], 'rsa-2048');
  const device = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
  const scpPort = await freeLoopbackPort();
  const stored = join(work, 'stored');
  (await import('node:fs')).mkdirSync(stored);
  await startStorescp(t, scpPort, stored);
  const gwPort = await freeLoopbackPort();
  const auditFile = join(work, 'audit.log');
  const gateway = await startGateway(t, {
    routes: [inboundRoute('pacs-in', gwPort, scpPort, { cert: [gwEc.cert, gwRsa.cert], key: [gwEc.key, gwRsa.key], ca: pki.trust }, {
      allow: [{ peerSans: ['ct1.rad.klinikum.internal'], callingAeTitles: ['CT1'] }],
    })],
    audit: { file: auditFile, sourceId: 'wardgate-test' },
  });

  const file = join(work, 'image.dcm');
  const uid = '1.2.826.0.1.3680043.10.1234.77.1';
  writeDicomFile(file, { sopInstanceUid: uid, rows: 512, columns: 1024 });
  const r = await run(requireBinary('storescu'), ['-aet', 'CT1', '-aec', 'STORESCP', '+tls', device.key, device.cert, '+cf', pki.trust, GW, String(gwPort), file]);
  t.equal(r.code, 0, `storescu succeeded: ${r.output}`);
  const files = readdirSync(stored);
  t.equal(files.length, 1, `storescp stored one file: ${files.join(', ')}`);
  t.ok(datasetOf(join(stored, files[0])).equals(datasetOf(file)), 'stored data set is byte-identical to the sent one');

  await new Promise((r) => setTimeout(r, 300));
  const audit = readFileSync(auditFile, 'utf8');
  t.match(audit, /^<85>1 \S+ \S+ wardgate \d+ IHE\+RFC-3881 - \uFEFF<\?xml/m, 'RFC 5424 header with ATNA facility/severity and MSGID');
  t.match(audit, /csd_code="110120"/, 'Application Start recorded');
  t.match(audit, /csd_code="110124"[^\n]*UserID="CT1"/, 'association established (Attach) names the calling AE');
  t.match(audit, /csd_code="110125"[^\n]*association released/, 'association closed (Detach) after release');
  t.match(audit, new RegExp(`csd_code="110104"[^\\n]*Instance UID="${uid.replace(/\./g, '\\.')}"`), 'DICOM Instances Transferred lists the SOP instance');
  t.match(audit, /UserName="CN=ct1\.rad\.klinikum\.internal"/, 'the peer certificate subject is recorded');
  t.equal(gateway.metrics.get('wardgate_associations_total', { route: 'pacs-in' }), 1, 'one association counted');
});

t.test('plaintext echoscu/storescu -> outbound -> storescp +tls requiring our client certificate', peerOption('echoscu', 'storescu', 'storescp'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const pacs = await pki.issue('pacs', ['127.0.0.1', 'pacs.klinikum.internal'], 'rsa-2048');
  const gwClient = await pki.issue('gw-client', ['gw.klinikum.internal']);
  const scpPort = await freeLoopbackPort();
  const stored = join(work, 'stored');
  (await import('node:fs')).mkdirSync(stored);
  await startStorescp(t, scpPort, stored, { tls: { cert: pacs.cert, key: pacs.key, trust: pki.trust } });
  const gwPort = await freeLoopbackPort();
  await startGateway(t, {
    routes: [{ name: 'modality-out', direction: 'outbound', protocol: 'dicom', listen: `${GW}:${gwPort}`, upstream: `127.0.0.1:${scpPort}`, tls: { cert: [gwClient.cert], key: [gwClient.key], ca: pki.trust } }],
  });
  const echo = await run(requireBinary('echoscu'), ['-aet', 'MOD1', '-aec', 'STORESCP', GW, String(gwPort)]);
  t.equal(echo.code, 0, `echoscu through the outbound route: ${echo.output}`);
  const file = join(work, 'image.dcm');
  writeDicomFile(file, { sopInstanceUid: '1.2.826.0.1.3680043.10.1234.77.2', rows: 256, columns: 256 });
  const store = await run(requireBinary('storescu'), ['-aet', 'MOD1', '-aec', 'STORESCP', GW, String(gwPort), file]);
  t.equal(store.code, 0, `storescu through the outbound route: ${store.output}`);
  const files = readdirSync(stored);
  t.equal(files.length, 1, 'stored on the TLS storescp');
  t.ok(datasetOf(join(stored, files[0])).equals(datasetOf(file)), 'byte-identical');
});

t.test('outbound route refuses an upstream whose certificate is not trusted', peerOption('echoscu', 'storescp'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const rogue = await pki.foreign('rogue-pacs', ['127.0.0.1']);
  const gwClient = await pki.issue('gw-client', ['gw.klinikum.internal']);
  const scpPort = await freeLoopbackPort();
  await startStorescp(t, scpPort, work, { tls: { cert: rogue.cert, key: rogue.key, trust: pki.trust } });
  const gwPort = await freeLoopbackPort();
  const log: string[] = [];
  await startGateway(t, {
    routes: [{ name: 'modality-out', direction: 'outbound', protocol: 'dicom', listen: `${GW}:${gwPort}`, upstream: `127.0.0.1:${scpPort}`, tls: { cert: [gwClient.cert], key: [gwClient.key], ca: pki.trust } }],
    audit: { file: join(work, 'audit.log') },
  }, log);
  const echo = await run(requireBinary('echoscu'), ['-aet', 'MOD1', '-aec', 'STORESCP', GW, String(gwPort)]);
  t.not(echo.code, 0, 'echoscu fails');
  t.match(echo.output, /Association Rejected/i, `the legacy SCU gets an A-ASSOCIATE-RJ: ${echo.output}`);
  await new Promise((r) => setTimeout(r, 200));
  t.match(readFileSync(join(work, 'audit.log'), 'utf8'), /csd_code="110126"[^\n]*upstream TLS authentication failed/, 'node authentication failure audited');
});

t.test('inbound refusals: foreign CA, expired certificate, plaintext client, unbound AE title; the backend sees nothing', peerOption('storescu', 'echoscu'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const gw = await pki.issue('gw', [GW]);
  const good = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
  const expired = await pki.expired('old', ['ct1.rad.klinikum.internal']);
  const foreign = await pki.foreign('foreign', ['ct1.rad.klinikum.internal']);
  const backend = await sentinel(t);
  const gwPort = await freeLoopbackPort();
  const auditFile = join(work, 'audit.log');
  const gateway = await startGateway(t, {
    routes: [inboundRoute('pacs-in', gwPort, backend.port, { cert: [gw.cert], key: [gw.key], ca: pki.trust }, {
      allow: [{ peerSans: ['ct1.rad.klinikum.internal'], callingAeTitles: ['CT1'] }],
    })],
    audit: { file: auditFile },
  });
  const file = join(work, 'image.dcm');
  writeDicomFile(file, { sopInstanceUid: '1.2.826.0.1.3680043.10.1234.77.3' });
  const storescu = requireBinary('storescu');

  const foreignRun = await run(storescu, ['-aet', 'CT1', '+tls', foreign.key, foreign.cert, '+cf', pki.trust, GW, String(gwPort), file]);
  t.not(foreignRun.code, 0, 'certificate from another CA: refused');
  const expiredRun = await run(storescu, ['-aet', 'CT1', '+tls', expired.key, expired.cert, '+cf', pki.trust, GW, String(gwPort), file]);
  t.not(expiredRun.code, 0, 'expired certificate: refused');
  const plainRun = await run(storescu, ['-aet', 'CT1', GW, String(gwPort), file]);
  t.not(plainRun.code, 0, 'plaintext client: refused');
  const wrongAe = await run(storescu, ['-aet', 'CT9', '+tls', good.key, good.cert, '+cf', pki.trust, GW, String(gwPort), file]);
  t.not(wrongAe.code, 0, 'calling AE not bound to this certificate: refused');
  t.match(wrongAe.output, /Association Rejected[\s\S]*Calling AE Title Not Recognized/i, `proper A-ASSOCIATE-RJ: ${wrongAe.output}`);

  await new Promise((r) => setTimeout(r, 300));
  t.equal(backend.connections(), 0, 'the backend never saw a connection');
  t.equal(gateway.metrics.get('wardgate_handshake_failures_total', { route: 'pacs-in' }) >= 3, true, 'three handshake failures counted');
  t.equal(gateway.metrics.get('wardgate_denials_total', { route: 'pacs-in', reason: 'policy' }), 1, 'one policy denial counted');
  const audit = readFileSync(auditFile, 'utf8');
  t.match(audit, /csd_code="110126"[^\n]*TLS handshake failed: client certificate rejected: UNABLE_TO_GET_ISSUER_CERT_LOCALLY/, 'foreign CA audited as node-authentication failure');
  t.match(audit, /csd_code="110126"[^\n]*CERT_HAS_EXPIRED/, 'expired certificate audited');
  t.match(audit, /csd_code="110126"[^\n]*TLS handshake failed[^\n]*wrong version number/, 'plaintext client audited');
  t.match(audit, /csd_code="110132"[^\n]*calling AE "CT9"/, 'policy denial audited as use of restricted function');
});

t.test('an association the gateway admits and storescp --refuse rejects: the RJ reaches the SCU, audited as a failed Attach', peerOption('echoscu', 'storescp'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const gw = await pki.issue('gw-rj', [GW]);
  const device = await pki.issue('ct2', ['ct2.rad.klinikum.internal']);
  const scpPort = await freeLoopbackPort();
  await startStorescp(t, scpPort, work, { extra: ['--refuse'] });
  const gwPort = await freeLoopbackPort();
  const auditFile = join(work, 'audit.log');
  const gateway = await startGateway(t, {
    routes: [inboundRoute('pacs-rj', gwPort, scpPort, { cert: [gw.cert], key: [gw.key], ca: pki.trust }, {
      allow: [{ peerSans: ['ct2.rad.klinikum.internal'], callingAeTitles: ['CT2'] }],
    })],
    audit: { file: auditFile },
  });
  const r = await run(requireBinary('echoscu'), ['-aet', 'CT2', '-aec', 'STORESCP', '+tls', device.key, device.cert, '+cf', pki.trust, GW, String(gwPort)]);
  t.not(r.code, 0, 'echoscu fails');
  t.match(r.output, /Association Rejected/i, `echoscu saw the acceptor's A-ASSOCIATE-RJ: ${r.output}`);
  const audit = await auditWith(auditFile, /rejected by the acceptor/);
  const line = audit.split('\n').find((l) => /rejected by the acceptor/.test(l)) ?? '';
  t.match(line, /csd_code="110108"/, 'Network Entry');
  t.match(line, /csd_code="110124"/, 'Attach');
  t.match(line, /EventOutcomeIndicator="4"/, 'minor failure');
  t.match(line, /UserID="CT2"/, 'names the calling AE title');
  t.match(line, /rejected-permanent|rejected-transient/, 'and the rejection as the acceptor gave it');
  t.notMatch(audit, /csd_code="110113"/, 'no Security Alert: the gateway\'s policy admitted the peer');
  t.equal(gateway.metrics.get('wardgate_associations_rejected_total', { route: 'pacs-rj' }), 1, 'counted');
  t.equal(gateway.metrics.get('wardgate_associations_total', { route: 'pacs-rj' }) ?? 0, 0, 'not counted as established');
});
