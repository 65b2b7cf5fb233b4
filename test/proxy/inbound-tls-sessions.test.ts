/**
 * An inbound route's TLS listener as a LAN attacker sees it: handshakes that never finish, session
 * tickets (per route, and how long a ticket key lives), and what a certificate hot swap keeps.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { Auditor } from '../../src/audit/auditor.ts';
import { loadKeyPairs, loadTrustBundle } from '../../src/proxy/credentials.ts';
import { Metrics } from '../../src/proxy/metrics.ts';
import { Route } from '../../src/proxy/route.ts';
import { validateGatewayConfig } from '../../src/proxy/route-config.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { auditWith, freeLoopbackPort, peerOption, run, sentinel, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const GW = '127.55.3.1';

type Creds = { ca: Buffer; cert: Buffer; key: Buffer };

/** A full mTLS handshake; resolves with the session (ticket) the route issued. */
function ticketFrom(port: number, creds: Creds, maxVersion: tls.SecureVersion): Promise<Buffer> {
  return withTimeout(new Promise<Buffer>((resolve, reject) => {
    const s = tls.connect({ host: GW, port, ...creds, maxVersion, checkServerIdentity: () => undefined });
    s.once('error', reject);
    s.once('session', (session: Buffer) => { resolve(session); setTimeout(() => s.destroy(), 20); });
  }), 5000, 'ticket');
}

/** Offers `session`; resolves with whether the route resumed it (a refused handshake counts as not resumed). */
function resumes(port: number, creds: Creds, maxVersion: tls.SecureVersion, session: Buffer): Promise<boolean> {
  return withTimeout(new Promise<boolean>((resolve) => {
    const s = tls.connect({ host: GW, port, ...creds, maxVersion, session, checkServerIdentity: () => undefined });
    s.once('error', () => resolve(false));
    s.once('secureConnect', () => { resolve(s.isSessionReused()); s.destroy(); });
  }), 5000, 'resumption');
}

t.test('a handshake that times out is audited with the address of the peer that held it', async (t) => {
  const pki = await proxyPki(t);
  const gw = await pki.issue('gw', [GW]);
  const port = await freeLoopbackPort();
  const audit = join(pki.dir, 'audit.log');
  const log: string[] = [];
  await startGateway(t, {
    audit: { file: audit },
    routes: [{ name: 'in', direction: 'inbound', protocol: 'hl7', listen: `${GW}:${port}`, upstream: `${GW}:9`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust }, limits: { handshakeTimeoutMs: 300 } }],
  }, log);
  // A ClientHello that is never finished: the record header, then silence.
  const s = net.connect({ host: GW, port, localAddress: '127.55.3.77' });
  s.on('error', () => undefined);
  s.write(Buffer.from('1603010200', 'hex'));
  await withTimeout(new Promise((r) => s.once('close', r)), 5000, 'handshake timeout');
  const text = await auditWith(audit, /TLS handshake failed: TLS handshake timeout/);
  t.match(text, /TLS handshake failed: TLS handshake timeout/, 'the timeout is audited');
  t.match(text, /127\.55\.3\.77/, 'with the peer address');
  t.notMatch(text, /"unknown"|>unknown</, 'not "unknown"');
  t.match(log.join('\n'), /TLS handshake with 127\.55\.3\.77 failed/, 'and logged with it');
});

t.test('session tickets', async (t) => {
  const pki = await proxyPki(t);
  const gw = await pki.issue('gw', [GW]);
  const ct = await pki.issue('ct', ['ct1.rad.klinikum.internal']);
  const creds: Creds = { ca: readFileSync(pki.trust), cert: readFileSync(ct.cert), key: readFileSync(ct.key) };
  const config = (name: string, port: number) => validateGatewayConfig({
    routes: [{ name, direction: 'inbound', protocol: 'hl7', listen: `${GW}:${port}`, upstream: `${GW}:9`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust } }],
  }, 'test config').routes[0];
  const start = async (name: string, ticketKeyRotationMs?: number) => {
    const port = await freeLoopbackPort();
    const route = new Route(config(name, port), { metrics: new Metrics(), auditor: new Auditor([]), log: () => undefined, ticketKeyRotationMs }, loadKeyPairs([gw.cert], [gw.key]), loadTrustBundle(pki.trust));
    await route.start();
    t.teardown(() => route.stop());
    return port;
  };
  const steady = await start('steady');
  const sibling = await start('sibling');
  const rotating = await start('rotating', 400);
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    const ticket = await ticketFrom(steady, creds, version);
    t.equal(await resumes(steady, creds, version, ticket), true, `${version}: a ticket resumes on the route that issued it`);
    t.equal(await resumes(sibling, creds, version, ticket), false, `${version}: not on another route (its own ticket key)`);
    const old = await ticketFrom(rotating, creds, version);
    await new Promise((r) => setTimeout(r, 1000));
    t.equal(await resumes(steady, creds, version, ticket), true, `${version}: a second later it still resumes where the key has not changed`);
    t.equal(await resumes(rotating, creds, version, old), false, `${version}: not once the route's ticket key has been rotated`);
  }
});

/** openssl s_client against the in-process gateway (spawned asynchronously: the gateway shares our event loop). */
async function sClient(port: number, args: string[], input = ''): Promise<string> {
  return (await run('bash', ['-c', `printf '${input}' | openssl s_client -connect ${GW}:${port} ${args.join(' ')} 2>&1; sleep 0`], 10_000)).output;
}

t.test('a certificate hot swap keeps the profile: versions, suites, no renegotiation', peerOption('openssl'), async (t) => {
  const pki = await proxyPki(t);
  const first = await pki.issue('gw1', [GW]);
  const second = await pki.issue('gw2', [GW]);
  const ct = await pki.issue('ct', ['ct1.rad.klinikum.internal']);
  const backend = await sentinel(t);
  const port = await freeLoopbackPort();
  const legacyPort = await freeLoopbackPort();
  const route = (name: string, p: number, profile: string) => ({ name, direction: 'inbound', protocol: 'hl7', listen: `${GW}:${p}`, upstream: `127.0.0.1:${backend.port}`, tls: { cert: [first.cert], key: [first.key], ca: pki.trust, profile } });
  const gateway = await startGateway(t, { routes: [route('nd', port, 'bcp195-non-downgrading'), route('legacy', legacyPort, 'bcp195-legacy')] });
  for (const name of ['nd', 'legacy']) gateway.route(name)!.updateCredentials(loadKeyPairs([second.cert], [second.key]));
  for (const p of [port, legacyPort]) {
    const swapped = await sClient(p, ['-brief', '-tls1_3']);
    t.match(swapped, /Protocol version: TLSv1\.3/, 'the route still answers after the swap');
    t.match(await sClient(p, ['-showcerts', '-tls1_3']), new RegExp(readFileSync(second.cert, 'utf8').split('\n')[1].replace(/[+/]/g, '\\$&')), 'with the new certificate');
    for (const v of ['-tls1', '-tls1_1']) t.match(await sClient(p, [v, '-cipher', 'ALL:@SECLEVEL=0']), /alert protocol version|no protocols available|unsupported protocol|wrong version/i, `${v} still refused`);
    t.match(await sClient(p, ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA']), /handshake failure|no shared cipher|alert/i, 'a CBC suite still refused');
    const reneg = await sClient(p, ['-tls1_2', '-cert', ct.cert, '-key', ct.key, '-CAfile', pki.trust], 'R\\n');
    t.match(reneg, /RENEGOTIATING/, 'the client asked to renegotiate');
    t.match(reneg, /no renegotiation|alert/i, 'and was refused');
  }
  t.equal(backend.connections(), 0, 'nothing reached the backend');
});
