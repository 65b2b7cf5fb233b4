/**
 * clientAuth required, as an operator debugging a device sees it: a client without a certificate gets a
 * TLS alert naming the problem (TLS 1.3 certificate_required, TLS 1.2 handshake_failure) from OpenSSL,
 * not a reset after a handshake that seemed to succeed; every refusal is still counted, audited with the
 * client's address and logged, and nothing reaches the backend.
 */
import { join } from 'node:path';
import t from 'tap';
import { loadKeyPairs } from '../../src/proxy/credentials.ts';
import { auditWith, freeLoopbackPort, peerOption, run, sentinel, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const GW = '127.45.1.1';

/** s_client keeps reading after its stdin ends (-ign_eof), so a TLS 1.3 alert sent after its Finished is printed. */
async function sClient(port: number, args: string[]): Promise<string> {
  return (await run('openssl', ['s_client', '-connect', `${GW}:${port}`, '-ign_eof', ...args], 10_000)).output;
}

t.test('clientAuth required: no certificate gets an alert, an untrusted one a refusal; both audited', peerOption('openssl'), async (t) => {
  const pki = await proxyPki(t);
  const gw = await pki.issue('gw', [GW]);
  const foreign = await pki.foreign('foreign', ['ct1.rad.klinikum.internal']);
  const backend = await sentinel(t, '127.45.1.2');
  const port = await freeLoopbackPort();
  const audit = join(pki.dir, 'audit.log');
  const log: string[] = [];
  const gateway = await startGateway(t, {
    audit: { file: audit },
    routes: [{ name: 'req', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `127.45.1.2:${backend.port}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust } }],
  }, log);

  const tls13 = await sClient(port, ['-tls1_3', '-CAfile', pki.trust]);
  t.match(tls13, /alert certificate required|alert number 116/, `TLS 1.3 client is told a certificate is required: ${tls13.slice(-300)}`);
  const tls12 = await sClient(port, ['-tls1_2', '-CAfile', pki.trust]);
  t.match(tls12, /alert handshake failure|alert number 40/, `TLS 1.2 client gets handshake_failure: ${tls12.slice(-300)}`);

  // Node's verify callback accepts every chain, so no alert is possible here: the refusal must still be recorded.
  await sClient(port, ['-tls1_3', '-CAfile', pki.trust, '-cert', foreign.cert, '-key', foreign.key]);
  await sClient(port, ['-tls1_2', '-CAfile', pki.trust, '-cert', foreign.cert, '-key', foreign.key]);

  const text = await auditWith(audit, /(client certificate rejected[\s\S]*){2}/);
  const noCert = text.split('\n').filter((l) => /TLS handshake failed: no client certificate presented/.test(l));
  t.equal(noCert.length, 2, 'both certificate-less handshakes audited as such');
  t.ok(noCert.every((l) => l.includes('127.0.0.1') && l.includes('csd_code="110126"')), 'as node-authentication failures with the client address');
  const rejected = text.split('\n').filter((l) => /TLS handshake failed: client certificate rejected: UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT_LOCALLY)/.test(l));
  t.equal(rejected.length, 2, 'both foreign-CA handshakes audited with the verification error');
  t.ok(rejected.every((l) => l.includes('127.0.0.1')), 'with the client address, not "unknown"');
  t.equal(gateway.metrics.get('wardgate_handshake_failures_total', { route: 'req' }), 4, 'four handshake failures counted');
  const lines = log.join('\n');
  t.match(lines, /route req: refused 127\.0\.0\.1: no client certificate presented/, 'logged with the reason');
  t.match(lines, /route req: refused 127\.0\.0\.1: client certificate rejected: UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT_LOCALLY)/, 'logged with the verification error');
  t.equal(backend.connections(), 0, 'nothing reached the backend');

  // setSecureContext replaces the whole context; the verify mode is the socket's, so it survives a hot swap.
  const renewed = await pki.issue('gw2', [GW]);
  gateway.routes[0].updateCredentials(loadKeyPairs([renewed.cert], [renewed.key]));
  const afterSwap = await sClient(port, ['-tls1_3', '-CAfile', pki.trust]);
  t.match(afterSwap, /alert certificate required|alert number 116/, 'still told after a certificate hot swap');
  t.equal(backend.connections(), 0, 'and still nothing reached the backend');
});

t.test('clientAuth optional is not turned into required', peerOption('openssl'), async (t) => {
  const pki = await proxyPki(t);
  const gw = await pki.issue('gw', [GW]);
  const backend = await sentinel(t, '127.45.1.2');
  const port = await freeLoopbackPort();
  const gateway = await startGateway(t, {
    routes: [{ name: 'opt', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `127.45.1.2:${backend.port}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust, clientAuth: 'optional' } }],
  });
  // No -ign_eof: the route waits for an A-ASSOCIATE-RQ, so s_client ends the connection itself.
  const out = (await run('openssl', ['s_client', '-connect', `${GW}:${port}`, '-tls1_3', '-CAfile', pki.trust], 10_000)).output;
  t.match(out, /Verification: OK|Verify return code: 0/, 'a certificate-less client completes the handshake');
  t.notMatch(out, /alert/i, 'without an alert');
  t.equal(gateway.metrics.get('wardgate_handshake_failures_total', { route: 'opt' }), 0, 'not counted as a failure');
});
