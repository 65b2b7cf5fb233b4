/**
 * tls.crl revokes intermediates too: a hospital that revokes a department sub-CA (its key leaked) with
 * the root's CRL must see every leaf under it refused, on inbound routes (the client's chain) and on
 * outbound routes (the upstream's), also on resumed sessions. Found in review: only the leaf was looked
 * up, so every leaf under a revoked intermediate kept getting in. Real peers: dcmtk echoscu/storescp
 * with TLS, Node's TLS client for session resumption.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { buildCrl } from '../../src/pki/crl.ts';
import { generateDeviceKey } from '../../src/pki/device-key.ts';
import { identifierFromText } from '../../src/pki/names.ts';
import { normalizeSerial } from '../../src/pki/serial.ts';
import { x509 } from '../../src/pki/x509.ts';
import { MllpDecoder, buildAck, encodeFrame } from '../../src/protocols/hl7/index.ts';
import { PDU_TYPE, SOP_CLASS, TRANSFER_SYNTAX, encodeAssociateRq } from '../../src/protocols/dicom/index.ts';
import { type PeerCertificate, RevocationList, trustAnchors } from '../../src/proxy/revocation.ts';
import { testCa } from '../helpers/ca.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort, requireBinary, run, sentinel, startGateway, startStorescp } from './fixtures/peers.ts';

type T = Parameters<Parameters<typeof t.test>[0]>[0];

/**
 * Root -> "ECDSA Issuing CA 1" (revoked by the root's CRL) and root -> "ECDSA Issuing CA 2" (not), a
 * leaf under each, trust bundles with and without the intermediates, and CRL files.
 */
async function chainPki(t: T) {
  const { ca, work } = await testCa(t);
  const issue = async (file: string, names: string[]) => {
    const key = generateDeviceKey('ecdsa-p256');
    const { chainPem } = await ca.issue({ spki: key.spki, keyType: 'ecdsa-p256', identifiers: names.map(identifierFromText), profile: 'dicom-node' });
    const files = { cert: join(work, `${file}.pem`), key: join(work, `${file}.key`) };
    writeFileSync(files.cert, chainPem);
    writeFileSync(files.key, key.privateKeyPem, { mode: 0o600 });
    return files;
  };
  const revokedId = ca.activeIssuerInfo('ecdsa').id;
  const underRevoked = await issue('under-revoked', ['ct1.rad.klinikum.internal', '127.0.0.1']);
  const [{ id: goodId }] = await ca.rollover(['ecdsa']);
  const underGood = await issue('under-good', ['ct2.rad.klinikum.internal', '127.0.0.1']);
  const gw = await issue('gw', ['127.44.1.1', '127.44.2.1', '127.44.3.1', '127.44.4.1']);

  const bundle = (file: string, pems: string[]) => { writeFileSync(join(work, file), pems.join('\n')); return join(work, file); };
  const trust = bundle('trust.pem', [ca.rootPem, ca.issuerPem(revokedId), ca.issuerPem(goodId)]);
  const rootOnly = bundle('root.pem', [ca.rootPem]);

  const rootCert = new x509.X509Certificate(ca.rootPem);
  const revokedSerial = normalizeSerial(new X509Certificate(ca.issuerPem(revokedId)).serialNumber);
  const revocation = [{ serial: revokedSerial, reason: 1, revokedAt: new Date(Date.now() - 60_000).toISOString() }];
  const rootSigner = { id: 'root', key: await ca.rootKey(), cert: rootCert };
  const rootCrl = async (entries: typeof revocation, signer = rootSigner) =>
    (await buildCrl(signer, entries, 1)).toString('pem');
  // A file as a cron job assembles it: the root's CRL and both issuers' (empty) CRLs.
  const issuerCrls = [(await ca.crl(revokedId)).toString('pem'), (await ca.crl(goodId)).toString('pem')];
  const crlFile = async (file: string, root: string) => bundle(file, [root, ...issuerCrls]);
  return {
    ca, work, trust, rootOnly, underRevoked, underGood, gw, issuerCrls, revokedSerial,
    /** The root's CRL revoking Issuing CA 1, with the issuers' CRLs. */
    revokingCrl: await crlFile('revoking.crl', await rootCrl(revocation)),
    /** The root's CRL listing nothing, with the issuers' CRLs. */
    cleanCrl: await crlFile('clean.crl', await rootCrl([])),
    /** Naming the root and carrying its key identifier, but signed by Issuing CA 2's key. */
    forgedCrl: await crlFile('forged.crl', await rootCrl(revocation, { id: 'forged', key: (await ca.issuer(goodId)).key, cert: rootCert })),
  };
}

/** getPeerCertificate(true)'s shape for a list of PEM certificates, leaf first; the last links to itself. */
function peerOf(pems: string[]): PeerCertificate {
  const certs = pems.map((pem) => new X509Certificate(pem));
  const links: PeerCertificate[] = certs.map((c) => ({ serialNumber: c.serialNumber, raw: c.raw }));
  links.forEach((l, i) => { l.issuerCertificate = links[i + 1] ?? (certs[i].checkIssued(certs[i]) ? l : undefined); });
  return links[0];
}

function pemsOf(file: string): string[] {
  return readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!;
}

const echo = (files: { cert: string; key: string }, trust: string, host: string, port: number) =>
  run(requireBinary('echoscu'), ['-aet', 'CT1', '-aec', 'STORESCP', '+tls', files.key, files.cert, '+cf', trust, host, String(port)]);

t.test('RevocationList: a CA certificate listed by its issuer\'s CRL revokes the chain; a forged CRL does not', async (t) => {
  const pki = await chainPki(t);
  const anchors = trustAnchors(readFileSync(pki.trust, 'utf8'));
  const root = pki.ca.rootPem;
  const revokedChain = peerOf([...pemsOf(pki.underRevoked.cert), root]);
  const goodChain = peerOf([...pemsOf(pki.underGood.cert), root]);

  const list = new RevocationList(pki.revokingCrl, 0);
  t.match(list.check(revokedChain, anchors), /^certificate's CA "CN=Test Klinikum ECDSA Issuing CA 1.*" \(serial [0-9A-F]+\) is revoked/, 'a leaf under the revoked intermediate');
  t.equal(list.check(goodChain, anchors), undefined, 'a leaf under the other intermediate passes');
  t.match(list.check(peerOf(pemsOf(pki.underGood.cert).slice(0, 1)), anchors), /chain cannot be checked.*stops at/, 'a leaf without its chain (a resumed session) cannot be checked: refused');
  t.match(list.check(goodChain, new Set()), /not in the route's trust bundle/, 'a chain ending at a root outside the trust bundle: refused');
  // The look-alike: Issuing CA 1's public key and name in a certificate under another root named like
  // the hospital's. Its serial is not listed; only the chain check stands between it and the route.
  const other = await testCa(t, { name: 'Test Klinikum' });
  const lookalike = await x509.X509CertificateGenerator.create({
    serialNumber: '0102', subject: new x509.X509Certificate(pemsOf(pki.underRevoked.cert)[1]).subject,
    issuer: new x509.X509Certificate(other.ca.rootPem).subject, notBefore: new Date(Date.now() - 3_600_000), notAfter: new Date(Date.now() + 3_600_000),
    publicKey: new x509.X509Certificate(pemsOf(pki.underRevoked.cert)[1]).publicKey, signingKey: (await other.ca.rootKey()).signingKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' }, extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
  });
  const forgedChain = peerOf([pemsOf(pki.underRevoked.cert)[0], lookalike.toString('pem'), other.ca.rootPem]);
  t.match(list.check(forgedChain, anchors), /chain cannot be checked/, 'a look-alike of the revoked intermediate under a look-alike root: refused');

  const reports: string[] = [];
  const forged = new RevocationList(pki.forgedCrl, 0, (m) => reports.push(m));
  t.equal(forged.check(revokedChain, anchors), undefined, 'a CRL naming the root but not signed by its key revokes nothing');
  t.match(reports.join('\n'), /not signed by that issuer's key: ignored/, 'and is reported');
});

t.test('inbound: a client whose intermediate the root\'s CRL revokes is refused before the backend; one under another intermediate passes', async (t) => {
  const pki = await chainPki(t);
  const scpPort = await freeLoopbackPort();
  await startStorescp(t, scpPort, pki.work);
  const backend = await sentinel(t, '127.44.0.9');
  const [toScp, toSentinel] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const log: string[] = [];
  const route = (name: string, listen: string, upstream: string) => ({
    name, direction: 'inbound', protocol: 'dicom', listen, upstream, tls: { cert: [pki.gw.cert], key: [pki.gw.key], ca: pki.trust, crl: pki.revokingCrl },
  });
  await startGateway(t, { routes: [route('ct-in', `127.44.1.1:${toScp}`, `127.0.0.1:${scpPort}`), route('ct-sentinel', `127.44.2.1:${toSentinel}`, `127.44.0.9:${backend.port}`)] }, log);

  const good = await echo(pki.underGood, pki.trust, '127.44.1.1', toScp);
  t.equal(good.code, 0, `a leaf under Issuing CA 2: echo succeeds: ${good.output}`);
  const refused = await echo(pki.underRevoked, pki.trust, '127.44.1.1', toScp);
  t.not(refused.code, 0, 'a leaf under the revoked Issuing CA 1: echo fails');
  const refusedToSentinel = await echo(pki.underRevoked, pki.trust, '127.44.2.1', toSentinel);
  t.not(refusedToSentinel.code, 0, 'also on the route to the sentinel');
  t.equal(backend.connections(), 0, 'nothing reached the backend');
  t.match(log.join('\n'), /route ct-in: refused 127\.0\.0\.1: client certificate's CA "CN=Test Klinikum ECDSA Issuing CA 1[^"]*" \(serial [0-9A-F]+\) is revoked/, 'logged with the revoked CA');
});

t.test('outbound: an upstream whose intermediate the root\'s CRL revokes is refused; one under another intermediate passes', async (t) => {
  const pki = await chainPki(t);
  const [revokedScp, goodScp] = [await freeLoopbackPort(), await freeLoopbackPort()];
  await startStorescp(t, revokedScp, pki.work, { tls: { cert: pki.underRevoked.cert, key: pki.underRevoked.key, trust: pki.trust } });
  await startStorescp(t, goodScp, pki.work, { tls: { cert: pki.underGood.cert, key: pki.underGood.key, trust: pki.trust } });
  const [toRevoked, toGood] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const log: string[] = [];
  const route = (name: string, listen: string, upstream: string) => ({
    name, direction: 'outbound', protocol: 'dicom', listen, upstream, tls: { cert: [pki.gw.cert], key: [pki.gw.key], ca: pki.trust, crl: pki.revokingCrl },
  });
  await startGateway(t, { routes: [route('pacs-revoked', `127.44.3.1:${toRevoked}`, `127.0.0.1:${revokedScp}`), route('pacs-good', `127.44.4.1:${toGood}`, `127.0.0.1:${goodScp}`)] }, log);

  for (const attempt of [1, 2]) {
    const ok = await run(requireBinary('echoscu'), ['-aet', 'MOD1', '-aec', 'STORESCP', '127.44.4.1', String(toGood)]);
    t.equal(ok.code, 0, `upstream under Issuing CA 2, association ${attempt}: echo succeeds: ${ok.output}`);
  }
  const refused = await run(requireBinary('echoscu'), ['-aet', 'MOD1', '-aec', 'STORESCP', '127.44.3.1', String(toRevoked)]);
  t.not(refused.code, 0, 'upstream under the revoked Issuing CA 1: echo fails');
  t.match(refused.output, /Association Rejected/i, `the modality gets an A-ASSOCIATE-RJ: ${refused.output}`);
  t.match(log.join('\n'), /pacs-revoked[^\n]*upstream certificate's CA "CN=Test Klinikum ECDSA Issuing CA 1[^"]*" \(serial [0-9A-F]+\) is revoked/, 'logged with the revoked CA');
});

/** A-ASSOCIATE-RQ for Verification. */
function echoRq(): Buffer {
  return encodeAssociateRq({
    calledAeTitle: 'STORESCP', callingAeTitle: 'CT1',
    presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }],
    userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.1' },
  });
}

t.test('inbound resumption: checked against the chain of the full handshake, or the trust bundle\'s, else refused', async (t) => {
  // A resumed handshake carries no certificates: OpenSSL's ticket keeps the client's leaf, not the chain
  // it sent. The route remembers the chains that passed in full handshakes (src/proxy/verified-chains.ts);
  // Node also completes a chain from the route's trust bundle when the intermediates are there. A leaf
  // with neither (here: one refused in full, whose ticket it still got) cannot be checked and is refused.
  const pki = await chainPki(t);
  const scpPort = await freeLoopbackPort();
  await startStorescp(t, scpPort, pki.work);
  const [withIntermediates, rootOnly] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const log: string[] = [];
  const route = (name: string, listen: string, ca: string) => ({
    name, direction: 'inbound', protocol: 'dicom', listen, upstream: `127.0.0.1:${scpPort}`, tls: { cert: [pki.gw.cert], key: [pki.gw.key], ca, crl: pki.revokingCrl },
  });
  await startGateway(t, { routes: [route('full-trust', `127.44.1.1:${withIntermediates}`, pki.trust), route('root-trust', `127.44.2.1:${rootOnly}`, pki.rootOnly)] }, log);

  const client = (host: string, port: number, who = pki.underGood) => {
    let session: Buffer | undefined;
    return () => new Promise<{ reused: boolean; answer: number | undefined }>((resolve) => {
      // The client sends its leaf and its Issuing CA (the cert file holds both).
      const socket = tls.connect({ host, port, ca: readFileSync(pki.trust), cert: readFileSync(who.cert), key: readFileSync(who.key), checkServerIdentity: () => undefined, session });
      socket.on('error', () => undefined);
      socket.on('session', (s: Buffer) => { session = s; });
      let answer: number | undefined;
      let reused = false;
      socket.once('secureConnect', () => { reused = socket.isSessionReused(); socket.write(echoRq()); });
      socket.once('data', (d: Buffer) => { answer = d[0]; setTimeout(() => socket.end(), 100); });
      socket.once('close', () => resolve({ reused, answer }));
    });
  };
  for (const [name, host, port] of [['full-trust', '127.44.1.1', withIntermediates], ['root-trust', '127.44.2.1', rootOnly]] as const) {
    const connect = client(host, port);
    const full = await withTimeout(connect(), 10_000, `${name}: first connection`);
    t.equal(full.answer, PDU_TYPE.AssociateAc, `${name}: a full handshake (chain sent) under Issuing CA 2 is admitted`);
    const resumed = await withTimeout(connect(), 10_000, `${name}: resumed connection`);
    t.ok(resumed.reused, `${name}: the next connection resumes the session`);
    t.equal(resumed.answer, PDU_TYPE.AssociateAc, `${name}: admitted: the chain of the full handshake was checked again`);
  }
  // Under the revoked Issuing CA 1: refused in full, so its chain was never remembered; the TLS 1.3
  // ticket it got before the refusal brings the leaf alone, which the root-only bundle cannot complete.
  const revoked = client('127.44.2.1', rootOnly, pki.underRevoked);
  t.equal((await withTimeout(revoked(), 10_000, 'revoked: full')).answer, undefined, 'a client under the revoked CA is refused in full');
  const again = await withTimeout(revoked(), 10_000, 'revoked: resumed');
  t.equal(again.answer, undefined, `and refused again (${again.reused ? 'resumed' : 'full'} handshake)`);
  t.match(log.join('\n'), /route root-trust: refused [^\n]*client certificate's CA [^\n]*is revoked/, 'and the log says why');
});

/** One HL7 message through a route's plaintext side; resolves with the ACK's MSA-1, or the error. */
function sendHl7(host: string, port: number, id: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const decoder = new MllpDecoder();
    const timer = setTimeout(() => { socket.destroy(); resolve('timeout'); }, 5000);
    socket.once('connect', () => socket.write(encodeFrame(`MSH|^~\\&|LIS|FAC|RIS|RFAC|20260101120000||ADT^A01|CRL${id}|P|2.5\rPID|1||${id}\r`)));
    socket.on('data', (d: Buffer) => {
      for (const ack of decoder.push(d)) { clearTimeout(timer); socket.end(); resolve(/\rMSA\|([A-Z]{2})/.exec(ack.toString('latin1'))?.[1] ?? '?'); }
    });
    socket.once('close', () => { clearTimeout(timer); resolve('closed'); });
    socket.on('error', () => undefined);
  });
}

t.test('outbound resumption: a resumed upstream session is checked against the chain of its full handshake', async (t) => {
  const pki = await chainPki(t);
  const resumed: boolean[] = [];
  const server = tls.createServer({ cert: readFileSync(pki.underGood.cert), key: readFileSync(pki.underGood.key), ca: readFileSync(pki.trust), requestCert: true, rejectUnauthorized: true }, (socket) => {
    resumed.push(socket.isSessionReused());
    const decoder = new MllpDecoder();
    socket.on('data', (chunk: Buffer) => { for (const m of decoder.push(chunk)) socket.write(encodeFrame(buildAck(m, { code: 'AA' }))); });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.44.0.10', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => resolve()); }));
  const port = await freeLoopbackPort();
  await startGateway(t, { routes: [{
    name: 'ris-out', direction: 'outbound', protocol: 'hl7', listen: `127.44.3.1:${port}`, upstream: `127.44.0.10:${(server.address() as net.AddressInfo).port}`,
    tls: { cert: [pki.gw.cert], key: [pki.gw.key], ca: pki.trust, crl: pki.revokingCrl, serverName: '127.0.0.1' },
  }] });
  for (let i = 1; i <= 3; i++) t.equal(await sendHl7('127.44.3.1', port, i), 'AA', `message ${i} acknowledged`);
  t.same(resumed, [false, true, true], 'the later upstream connections resumed, and passed the check with the remembered chain');
});
