/**
 * Gateway access decisions an attacker on the hospital LAN could get around, found in review (one test
 * per bug): with a certificate of the hospital CA for another device, a revoked one, or a forged one.
 * Real TLS connections to an in-process gateway, with dcmtk (storescp, echoscu) behind or in front of it;
 * the renegotiating client is OpenSSL itself, through Perl's Net::SSLeay (Node's client cannot change
 * its certificate between handshakes).
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { generateDeviceKey } from '../../src/pki/device-key.ts';
import { identifierFromText } from '../../src/pki/names.ts';
import { signLeaf } from '../../src/pki/leaf.ts';
import { PDU_TYPE, SOP_CLASS, TRANSFER_SYNTAX, encodeAssociateRq } from '../../src/protocols/dicom/index.ts';
import { RevocationList } from '../../src/proxy/revocation.ts';
import { testCa } from '../helpers/ca.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort, requireBinary, run, startGateway, startStorescp } from './fixtures/peers.ts';

const GW = '127.42.16.1';
const CT1 = 'ct1.rad.klinikum.internal';

/** The project CA, its trust bundle (root and both issuing intermediates), and leaves written to files. */
async function hospitalPki(t: Parameters<typeof testCa>[0]) {
  const { ca, work } = await testCa(t);
  const trust = join(work, 'trust.pem');
  writeFileSync(trust, [ca.rootPem, ca.issuerPem(ca.activeIssuerInfo('ecdsa').id), ca.issuerPem(ca.activeIssuerInfo('rsa').id)].join('\n'));
  const issue = async (file: string, names: string[]) => {
    const key = generateDeviceKey('ecdsa-p256');
    const { record, chainPem } = await ca.issue({ spki: key.spki, keyType: 'ecdsa-p256', identifiers: names.map(identifierFromText), profile: 'dicom-node' });
    const files = { cert: join(work, `${file}.pem`), key: join(work, `${file}.key`), serial: record.serial };
    writeFileSync(files.cert, chainPem);
    writeFileSync(files.key, key.privateKeyPem, { mode: 0o600 });
    return files;
  };
  /** The active ECDSA issuer's CRL (every test leaf comes from it), written as PEM. */
  const writeCrl = async (file: string) => {
    const path = join(work, file);
    writeFileSync(path, (await ca.crl()).toString('pem'));
    return path;
  };
  return { ca, work, trust, issue, writeCrl };
}

/** A-ASSOCIATE-RQ for Verification, calling CT1, called STORESCP. */
function echoRq(): Buffer {
  return encodeAssociateRq({
    calledAeTitle: 'STORESCP',
    callingAeTitle: 'CT1',
    presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }],
    userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.1' },
  });
}

/**
 * TLS 1.2 client (OpenSSL via Net::SSLeay): handshake with cert1, then a client-initiated renegotiation
 * presenting cert2, then the payload; prints "handshake", "renegotiated" or "renegotiation failed: ...",
 * and "reply HEX" with the first bytes the gateway answered.
 */
const RENEGOTIATING_CLIENT = String.raw`
use strict; use warnings; use Net::SSLeay; use IO::Socket::INET;
my ($host, $port, $c1, $k1, $c2, $k2, $hex) = @ARGV;
Net::SSLeay::initialize();
my $err = sub { my $e = Net::SSLeay::ERR_get_error(); $e ? Net::SSLeay::ERR_error_string($e) : 'no OpenSSL error' };
my $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port) or die "connect: $!\n";
my $ctx = Net::SSLeay::CTX_new_with_method(Net::SSLeay::TLS_client_method());
Net::SSLeay::CTX_set_max_proto_version($ctx, Net::SSLeay::TLS1_2_VERSION());
Net::SSLeay::CTX_use_certificate_chain_file($ctx, $c1) or die "cannot load $c1\n";
Net::SSLeay::CTX_use_PrivateKey_file($ctx, $k1, Net::SSLeay::FILETYPE_PEM()) or die "cannot load $k1\n";
my $ssl = Net::SSLeay::new($ctx);
Net::SSLeay::set_fd($ssl, fileno($sock));
Net::SSLeay::connect($ssl) == 1 or die 'handshake failed: ' . $err->() . "\n";
print "handshake\n";
Net::SSLeay::use_certificate_chain_file($ssl, $c2) or die "cannot load $c2\n";
Net::SSLeay::use_PrivateKey_file($ssl, $k2, Net::SSLeay::FILETYPE_PEM()) or die "cannot load $k2\n";
my $ok = Net::SSLeay::renegotiate($ssl) == 1 && Net::SSLeay::do_handshake($ssl) == 1;
print $ok ? "renegotiated\n" : 'renegotiation failed: ' . $err->() . "\n";
Net::SSLeay::write($ssl, pack('H*', $hex));
my $reply = '';
while (length($reply) < 6) { my $got = Net::SSLeay::read($ssl, 65536); last unless defined $got && length $got; $reply .= $got; }
print 'reply ' . unpack('H*', $reply) . "\n";
`;

function requireNetSsleay(): void {
  const probe = spawnSync('perl', ['-MNet::SSLeay', '-e', '1'], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error(`Perl's Net::SSLeay is needed (Debian package libnet-ssleay-perl): ${probe.stderr || probe.error?.message}`);
}

async function renegotiate(port: number, first: { cert: string; key: string }, second: { cert: string; key: string }, payload: Buffer) {
  const r = await run('perl', ['-e', RENEGOTIATING_CLIENT, GW, String(port), first.cert, first.key, second.cert, second.key, payload.toString('hex')], 20_000);
  const reply = /^reply ([0-9a-f]*)$/m.exec(r.output)?.[1] ?? '';
  return { output: r.output, renegotiated: /^renegotiated$/m.test(r.output), replyType: reply ? parseInt(reply.slice(0, 2), 16) : undefined };
}

/** First PDU type the gateway answers an RQ with over a plain Node TLS client, or undefined when it closes. */
async function answerTo(port: number, ca: string, who: { cert: string; key: string }): Promise<number | undefined> {
  const socket = tls.connect({ host: GW, port, ca: readFileSync(ca), cert: readFileSync(who.cert), key: readFileSync(who.key), checkServerIdentity: () => undefined });
  socket.on('error', () => undefined);
  try {
    return await withTimeout(new Promise<number | undefined>((resolve) => {
      socket.once('secureConnect', () => socket.write(echoRq()));
      socket.once('data', (d: Buffer) => resolve(d[0]));
      socket.once('close', () => resolve(undefined));
    }), 10_000, 'answer to the A-ASSOCIATE-RQ');
  } finally {
    socket.destroy();
  }
}

t.test('a TLS 1.2 renegotiation cannot swap in the client certificate the allow rules judge (forged or revoked)', async (t) => {
  // Found in review: Node sets socket.authorized at the first handshake only, and getPeerCertificate()
  // returns the certificate of the latest one. The peer identity is read from the certificate when the
  // first rule needs it (the A-ASSOCIATE-RQ, the first HL7 message), and the CRL is checked once, at
  // secureConnection. A client with any valid certificate (here another device's) could renegotiate
  // with a self-signed certificate naming the admitted device, or with that device's revoked one,
  // and be judged as that device: the A-ASSOCIATE-AC came back from storescp.
  requireNetSsleay();
  const pki = await hospitalPki(t);
  const gw = await pki.issue('gw', [GW]);
  const other = await pki.issue('dev7', ['dev7.lab.klinikum.internal']);
  const ct1 = await pki.issue('ct1', [CT1]);
  const ct1Revoked = await pki.issue('ct1-old', [CT1]);
  pki.ca.revoke(ct1Revoked.serial, 1);
  const crl = await pki.writeCrl('issuer.crl');
  const forged = { cert: join(pki.work, 'forged.pem'), key: join(pki.work, 'forged.key') };
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', forged.key, '-out', forged.cert,
    '-subj', `/CN=${CT1}`, '-addext', `subjectAltName=DNS:${CT1}`, '-addext', 'extendedKeyUsage=clientAuth', '-days', '2'], { encoding: 'utf8' });
  t.equal(made.status, 0, `forged self-signed certificate made${made.status === 0 ? '' : `: ${made.stderr}`}`);

  const scpPort = await freeLoopbackPort();
  await startStorescp(t, scpPort, pki.work);
  const port = await freeLoopbackPort();
  await startGateway(t, {
    routes: [{
      name: 'ct-in', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `127.0.0.1:${scpPort}`,
      tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust, crl }, allow: [{ peerSans: [CT1] }],
    }],
  });

  // The route works as configured: ct1 is admitted, the other device and the revoked certificate are not.
  t.equal(await answerTo(port, pki.trust, ct1), PDU_TYPE.AssociateAc, 'ct1 gets the A-ASSOCIATE-AC from storescp');
  t.equal(await answerTo(port, pki.trust, other), PDU_TYPE.AssociateRj, 'dev7 gets an A-ASSOCIATE-RJ');
  t.equal(await answerTo(port, pki.trust, ct1Revoked), undefined, 'the revoked ct1 certificate is refused at the handshake');

  for (const [name, second] of [['self-signed certificate naming ct1', forged], ['revoked ct1 certificate', ct1Revoked]] as const) {
    const r = await renegotiate(port, other, second, echoRq());
    t.match(r.output, /^handshake$/m, `${name}: the first handshake (dev7's valid certificate) succeeds`);
    t.notOk(r.renegotiated, `${name}: the renegotiation is refused: ${r.output.trim()}`);
    t.not(r.replyType, PDU_TYPE.AssociateAc, `${name}: no A-ASSOCIATE-AC`);
  }
});

t.test('an outbound route with tls.crl refuses an upstream whose certificate the CRL lists', async (t) => {
  // Found in review: tls.crl was loaded on outbound routes too but only client certificates of inbound
  // routes were checked against it, so an upstream presenting a revoked certificate (a PACS whose key
  // leaked, or whoever holds that key on the LAN) got the legacy modality's association and data.
  const pki = await hospitalPki(t);
  const gwClient = await pki.issue('gw-client', ['gw.klinikum.internal']);
  const pacs = await pki.issue('pacs', ['127.0.0.1']);
  const before = await pki.writeCrl('before.crl');
  pki.ca.revoke(pacs.serial, 1);
  const after = await pki.writeCrl('after.crl');
  const scpPort = await freeLoopbackPort();
  await startStorescp(t, scpPort, pki.work, { tls: { cert: pacs.cert, key: pacs.key, trust: pki.trust } });
  const [okPort, revokedPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const route = (name: string, listenPort: number, crl: string) => ({
    name, direction: 'outbound', protocol: 'dicom', listen: `${GW}:${listenPort}`, upstream: `127.0.0.1:${scpPort}`,
    tls: { cert: [gwClient.cert], key: [gwClient.key], ca: pki.trust, crl },
  });
  const auditFile = join(pki.work, 'audit.log');
  const gateway = await startGateway(t, { routes: [route('before-revocation', okPort, before), route('after-revocation', revokedPort, after)], audit: { file: auditFile } });

  const ok = await run(requireBinary('echoscu'), ['-aet', 'MOD1', '-aec', 'STORESCP', GW, String(okPort)]);
  t.equal(ok.code, 0, `a CRL that does not list the PACS: echoscu succeeds: ${ok.output}`);
  const refused = await run(requireBinary('echoscu'), ['-aet', 'MOD1', '-aec', 'STORESCP', GW, String(revokedPort)]);
  t.not(refused.code, 0, 'a CRL listing the PACS certificate: echoscu fails');
  t.match(refused.output, /Association Rejected/i, `the legacy SCU gets an A-ASSOCIATE-RJ: ${refused.output}`);
  await gateway.stop();
  t.match(readFileSync(auditFile, 'utf8'), /csd_code="110126"[^\n]*after-revocation: upstream TLS authentication failed[^\n]*revoked/, 'node authentication failure audited');
});

t.test('a CRL file caught mid-rewrite neither empties the revocation list nor hides the complete file', async (t) => {
  // Found in review: the list was replaced by whatever a half-written PEM file held (no complete block:
  // an empty list, so every revoked certificate was admitted again), and the file's mtime was taken as
  // read before it parsed: the complete file, written within the same timestamp tick, was never loaded.
  const pki = await hospitalPki(t);
  const leaked = await pki.issue('ct1-old', [CT1]);
  const stolen = await pki.issue('dev7', ['dev7.lab.klinikum.internal']);
  const asPeer = (file: string) => {
    const cert = new X509Certificate(readFileSync(file));
    return { serialNumber: cert.serialNumber, raw: cert.raw };
  };
  pki.ca.revoke(leaked.serial, 1);
  const file = await pki.writeCrl('issuer.crl');
  const list = new RevocationList(file, 0);
  t.ok(list.check(asPeer(leaked.cert), new Set()) !== undefined, 'the first CRL revokes ct1-old');

  pki.ca.revoke(stolen.serial, 1);
  const complete = readFileSync(await pki.writeCrl('next.crl'));
  // A fetcher rewriting the file in place (curl -o): the gateway reads it half-written.
  // Timestamps are set to one whole second, the tick of an mtime taken from HTTP's Last-Modified (curl -R).
  const tick = Math.floor(Date.now() / 1000);
  writeFileSync(file, complete.subarray(0, Math.floor(complete.length / 2)));
  utimesSync(file, tick, tick);
  t.ok(list.check(asPeer(leaked.cert), new Set()) !== undefined, 'a half-written CRL keeps the last complete list: ct1-old stays revoked');
  writeFileSync(file, complete);
  utimesSync(file, tick, tick); // the rest was written within the same timestamp tick
  t.ok(list.check(asPeer(stolen.cert), new Set()) !== undefined, 'the completed CRL is loaded: dev7 is revoked');
  t.ok(list.check(asPeer(leaked.cert), new Set()) !== undefined, 'and ct1-old still is');
});

t.test('a resumed TLS session is refused once the client certificate it was made with has expired', async (t) => {
  // A resumed handshake does not verify the client certificate again: OpenSSL hands back the verify
  // result stored in the session, so `authorized` stayed true for a certificate that expired after the
  // full handshake, for as long as the ticket lived (300 s by default).
  const pki = await hospitalPki(t);
  const gw = await pki.issue('gw', [GW]);
  const issuer = await pki.ca.activeIssuer('ecdsa');
  const key = generateDeviceKey('ecdsa-p256');
  // dicom-node certificates live 90 days: signed with a clock that far back, less 3 s, it expires in 3 s.
  const { cert } = await signLeaf(issuer, { spki: key.spki, keyType: 'ecdsa-p256', identifiers: [identifierFromText(CT1)], profile: pki.ca.profiles.get('dicom-node') }, undefined, Date.now() - 90 * 86_400_000 + 3000);
  const short = { cert: join(pki.work, 'short.pem'), key: join(pki.work, 'short.key') };
  writeFileSync(short.cert, `${cert.toString('pem')}\n${pki.ca.issuerPem(issuer.id)}`);
  writeFileSync(short.key, key.privateKeyPem, { mode: 0o600 });
  const expiresAt = cert.notAfter.getTime();

  const scpPort = await freeLoopbackPort();
  await startStorescp(t, scpPort, pki.work);
  const port = await freeLoopbackPort();
  const log: string[] = [];
  await startGateway(t, {
    routes: [{ name: 'ct-in', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `127.0.0.1:${scpPort}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust } }],
  }, log);

  let session: Buffer | undefined;
  const connect = () => new Promise<{ reused: boolean; answer: number | undefined }>((resolve) => {
    const socket = tls.connect({ host: GW, port, ca: readFileSync(pki.trust), cert: readFileSync(short.cert), key: readFileSync(short.key), checkServerIdentity: () => undefined, session });
    socket.on('error', () => undefined);
    socket.on('session', (s: Buffer) => { session = s; });
    let answer: number | undefined;
    let reused = false;
    // Read at the handshake: once the socket is closed its TLS state is gone and this says false.
    socket.once('secureConnect', () => { reused = socket.isSessionReused(); socket.write(echoRq()); });
    socket.once('data', (d: Buffer) => {
      answer = d[0];
      // Keep the connection until the TLS 1.3 ticket is in, then end it.
      setTimeout(() => socket.end(), 100);
    });
    socket.once('close', () => resolve({ reused, answer }));
  });

  const full = await withTimeout(connect(), 10_000, 'first connection');
  t.equal(full.answer, PDU_TYPE.AssociateAc, 'a full handshake with the still-valid certificate is admitted');
  t.ok(session, 'the client got a session ticket');
  const resumedValid = await withTimeout(connect(), 10_000, 'resumed connection');
  t.ok(resumedValid.reused, 'the next connection resumes the session');
  t.equal(resumedValid.answer, PDU_TYPE.AssociateAc, 'and is admitted while the certificate is valid');
  if (Date.now() > expiresAt) return t.fail('the certificate expired before the valid resumption was checked (machine too slow)');

  await new Promise((r) => setTimeout(r, expiresAt - Date.now() + 1100));
  const resumedExpired = await withTimeout(connect(), 10_000, 'resumed connection after expiry');
  t.ok(resumedExpired.reused, 'the session still resumes at the TLS layer');
  t.equal(resumedExpired.answer, undefined, 'but the gateway closes it before any answer');
  t.match(log.join('\n'), /resumed session with a client certificate that expired/, 'and says why');
});
