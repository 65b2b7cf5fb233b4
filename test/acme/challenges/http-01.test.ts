import t from 'tap';
import { validateChallenge, resolveValidationOptions, type ValidationOptions } from '../../../src/acme/challenges/index.ts';
import { challTestSrvRequired, startChallTestSrv } from './fixtures/challtestsrv.ts';
import { dropsSyn, httpDevice, tarpit } from './fixtures/device.ts';
import { recordConnects } from '../../helpers/connect-guard.ts';

// Addresses of this file: 127.31.1.0/24.
const KEYAUTH = 'tok-http01-abcdefghijk.thumbprint-xyz';
const TOKEN = 'tok-http01-abcdefghijk';

t.test('http-01 against pebble-challtestsrv (DNS and responder)', challTestSrvRequired(), async (t) => {
  const srv = await startChallTestSrv(t, { dns: '127.31.1.1', http: '127.31.1.2', tls: '127.31.1.3' });
  const opts: ValidationOptions = resolveValidationOptions({ http01Port: srv.http01Port, dnsResolvers: [srv.resolver], timeoutMs: 2000, attempts: 2 });
  await srv.addA('pacs.klinikum.internal', [srv.httpAddress]);
  await srv.addHttp01(TOKEN, KEYAUTH);

  t.test('success: the name resolves through the test DNS and the responder answers', async (t) => {
    const r = await validateChallenge('http-01', { type: 'dns', value: 'pacs.klinikum.internal' }, TOKEN, KEYAUTH, opts);
    t.same(r, { ok: true, addressUsed: '127.31.1.2' });
  });

  t.test('wrong key authorization: unauthorized, says what was received, no retry', async (t) => {
    const start = Date.now();
    const r = await validateChallenge('http-01', { type: 'dns', value: 'pacs.klinikum.internal' }, TOKEN, `${TOKEN}.other-thumbprint`, opts);
    t.equal(r.ok, false);
    if (r.ok) return;
    t.equal(r.problem.type, 'unauthorized');
    t.match(r.problem.detail, /127\.31\.1\.2/);
    t.match(r.problem.detail, KEYAUTH, 'detail shows the body the device sent');
    t.ok(Date.now() - start < 1000, 'a definite answer is not retried');
  });

  t.test('unknown token: challtestsrv answers 200 with an empty body', async (t) => {
    const r = await validateChallenge('http-01', { type: 'dns', value: 'pacs.klinikum.internal' }, 'no-such-token', 'no-such-token.x', opts);
    t.match(r, { ok: false, problem: { type: 'unauthorized', detail: /answered 200 with "", which is not the key authorization/ } });
  });

  t.test('a name without A/AAAA records: dns problem naming the resolver', async (t) => {
    const r = await validateChallenge('http-01', { type: 'dns', value: 'ghost.klinikum.internal' }, TOKEN, KEYAUTH, opts);
    t.match(r, { ok: false, problem: { type: 'dns', detail: /ghost\.klinikum\.internal.*127\.31\.1\.1:\d+.*ENODATA/ } });
  });

  t.test('nothing listening: connection problem naming address and port, retried', async (t) => {
    await srv.addA('off.klinikum.internal', ['127.31.1.9']);
    const r = await validateChallenge('http-01', { type: 'dns', value: 'off.klinikum.internal' }, TOKEN, KEYAUTH, opts);
    t.match(r, { ok: false, problem: { type: 'connection', detail: new RegExp(`127\\.31\\.1\\.9:${srv.http01Port}.*ECONNREFUSED.*gave up after 2 attempts`) } });
  });

  t.test('addresses outside allowedNetworks are refused before any connection', async (t) => {
    await srv.addA('public.klinikum.internal', ['8.8.8.8']);
    const connects = recordConnects(t);
    const r = await validateChallenge('http-01', { type: 'dns', value: 'public.klinikum.internal' }, TOKEN, KEYAUTH, opts);
    t.match(r, { ok: false, problem: { type: 'rejectedIdentifier', detail: /8\.8\.8\.8.*outside the networks.*no connection was made/ } });
    t.same(connects, [], 'no TCP connection was attempted at all');
  });

  t.test('a name with a public and a private address: only the private one is contacted', async (t) => {
    await srv.addA('mixed.klinikum.internal', ['8.8.4.4', srv.httpAddress]);
    const connects = recordConnects(t);
    const r = await validateChallenge('http-01', { type: 'dns', value: 'mixed.klinikum.internal' }, TOKEN, KEYAUTH, opts);
    t.same(r, { ok: true, addressUsed: srv.httpAddress });
    t.same(connects, [srv.httpAddress]);
  });

  t.test('IPv4 first; a refused connection falls through to the AAAA address', async (t) => {
    const dev = await httpDevice(t, '::1', (_req, res) => res.end(KEYAUTH));
    await srv.addA('dual.klinikum.internal', ['127.31.1.30']);
    await srv.addAAAA('dual.klinikum.internal', ['::1']);
    const connects = recordConnects(t);
    const r = await validateChallenge('http-01', { type: 'dns', value: 'dual.klinikum.internal' }, TOKEN, KEYAUTH, { ...opts, http01Port: dev.port });
    t.same(r, { ok: true, addressUsed: '::1' });
    t.same(connects, ['127.31.1.30', '::1']);
    t.same(dev.seen, [{ path: `/.well-known/acme-challenge/${TOKEN}`, host: `dual.klinikum.internal:${dev.port}` }]);
  });

  t.test('an address that drops packets does not hide a working one (RFC 8305 connection attempt delay)', async (t) => {
    const dev = await httpDevice(t, '127.31.1.41', (_req, res) => res.end(KEYAUTH));
    await dropsSyn(t, '127.31.1.40', dev.port);
    await srv.addA('stale.klinikum.internal', ['127.31.1.40', '127.31.1.41']);
    const connects = recordConnects(t);
    const start = Date.now();
    const r = await validateChallenge('http-01', { type: 'dns', value: 'stale.klinikum.internal' }, TOKEN, KEYAUTH, { ...opts, http01Port: dev.port, attempts: 1 });
    const elapsed = Date.now() - start;
    t.same(r, { ok: true, addressUsed: '127.31.1.41' });
    t.same(connects, ['127.31.1.40', '127.31.1.41']);
    t.ok(elapsed < 1500, `answered in ${elapsed} ms, not after the 2000 ms timeout`);
  });

  t.test('every address silent: at most 3 attempts open at once, the timeout names each one tried', async (t) => {
    const port = (await httpDevice(t, '127.31.1.44', (_req, res) => res.end(KEYAUTH))).port;
    const dark = ['127.31.1.42', '127.31.1.43', '127.31.1.45', '127.31.1.46'];
    for (const a of dark) await dropsSyn(t, a, port);
    await srv.addA('dark.klinikum.internal', dark);
    const connects = recordConnects(t);
    const r = await validateChallenge('http-01', { type: 'dns', value: 'dark.klinikum.internal' }, TOKEN, KEYAUTH, { ...opts, http01Port: port, timeoutMs: 1200, attempts: 1 });
    t.same(connects, dark.slice(0, 3), 'the fourth address waits for a slot that never frees');
    t.match(r, { ok: false, problem: { type: 'connection', detail: /timed out after 1200 ms connecting to 127\.31\.1\.42:\d+; timed out after 1200 ms connecting to 127\.31\.1\.43:\d+; timed out after 1200 ms connecting to 127\.31\.1\.45/ } });
  });

  t.test('when the allowed address fails, the detail names the public one that was not contacted', async (t) => {
    await srv.addA('half.klinikum.internal', ['8.8.4.4', '127.31.1.31']);
    const connects = recordConnects(t);
    const r = await validateChallenge('http-01', { type: 'dns', value: 'half.klinikum.internal' }, TOKEN, KEYAUTH, { ...opts, attempts: 1 });
    t.match(r, { ok: false, problem: { type: 'connection', detail: /127\.31\.1\.31:\d+.*ECONNREFUSED.*not contacted, outside the validation networks: 8\.8\.4\.4/ } });
    t.same(connects, ['127.31.1.31']);
  });

  t.test('a narrower allow-list refuses loopback too', async (t) => {
    const r = await validateChallenge('http-01', { type: 'dns', value: 'pacs.klinikum.internal' }, TOKEN, KEYAUTH, { ...opts, allowedNetworks: ['10.0.0.0/8'] });
    t.match(r, { ok: false, problem: { type: 'rejectedIdentifier', detail: /127\.31\.1\.2.*10\.0\.0\.0\/8/ } });
  });
});

t.test('http-01 against device fixtures', async (t) => {
  const base = resolveValidationOptions({ dnsResolvers: ['127.31.1.250:9'], timeoutMs: 600, attempts: 2 });

  t.test('IP identifier: connects to the IP itself, no DNS, Host header is the IP:port', async (t) => {
    const dev = await httpDevice(t, '127.31.1.20', (_req, res) => res.end(`${KEYAUTH}\r\n \n`));
    const r = await validateChallenge('http-01', { type: 'ip', value: '127.31.1.20' }, TOKEN, KEYAUTH, { ...base, http01Port: dev.port });
    t.same(r, { ok: true, addressUsed: '127.31.1.20' }, 'trailing whitespace is ignored (RFC 8555 §8.3)');
    t.same(dev.seen, [{ path: `/.well-known/acme-challenge/${TOKEN}`, host: `127.31.1.20:${dev.port}` }]);
  });

  t.test('leading whitespace is not ignored', async (t) => {
    const dev = await httpDevice(t, '127.31.1.21', (_req, res) => res.end(` ${KEYAUTH}`));
    const r = await validateChallenge('http-01', { type: 'ip', value: '127.31.1.21' }, TOKEN, KEYAUTH, { ...base, http01Port: dev.port });
    t.match(r, { ok: false, problem: { type: 'unauthorized' } });
  });

  t.test('a 404 names the status and the body', async (t) => {
    const dev = await httpDevice(t, '127.31.1.26', (_req, res) => { res.statusCode = 404; res.end('Not Found'); });
    const r = await validateChallenge('http-01', { type: 'ip', value: '127.31.1.26' }, TOKEN, KEYAUTH, { ...base, http01Port: dev.port });
    t.match(r, { ok: false, problem: { type: 'unauthorized', detail: /answered HTTP 404 instead of 200.*"Not Found"/ } });
  });

  t.test('redirects are refused, naming the target', async (t) => {
    const dev = await httpDevice(t, '127.31.1.22', (_req, res) => { res.writeHead(302, { Location: 'http://8.8.8.8/x' }); res.end(); });
    const connects = recordConnects(t);
    const r = await validateChallenge('http-01', { type: 'ip', value: '127.31.1.22' }, TOKEN, KEYAUTH, { ...base, http01Port: dev.port });
    t.match(r, { ok: false, problem: { type: 'unauthorized', detail: /302 redirecting to "http:\/\/8\.8\.8\.8\/x".*no redirects/ } });
    t.same(connects, ['127.31.1.22']);
  });

  t.test('a device-chosen Location is clipped in the problem detail', async (t) => {
    const dev = await httpDevice(t, '127.31.1.27', (_req, res) => { res.writeHead(301, { Location: `http://x/${'a'.repeat(12_000)}` }); res.end(); });
    const r = await validateChallenge('http-01', { type: 'ip', value: '127.31.1.27' }, TOKEN, KEYAUTH, { ...base, http01Port: dev.port });
    t.match(r, { ok: false, problem: { type: 'unauthorized', detail: /redirecting to "http:\/\/x\/a+…" \(12009 characters\)/ } });
    t.ok(!r.ok && r.problem.detail.length < 400, 'the detail stays short');
  });

  t.test('an oversized body is cut off', async (t) => {
    const dev = await httpDevice(t, '127.31.1.23', (_req, res) => res.end('x'.repeat(100_000)));
    const r = await validateChallenge('http-01', { type: 'ip', value: '127.31.1.23' }, TOKEN, KEYAUTH, { ...base, http01Port: dev.port });
    t.match(r, { ok: false, problem: { type: 'unauthorized', detail: /larger than 8192 bytes/ } });
  });

  t.test('a tarpit times out per attempt and is retried', async (t) => {
    const pit = await tarpit(t, '127.31.1.24');
    const start = Date.now();
    const r = await validateChallenge('http-01', { type: 'ip', value: '127.31.1.24' }, TOKEN, KEYAUTH, { ...base, http01Port: pit.port });
    const elapsed = Date.now() - start;
    t.match(r, { ok: false, problem: { type: 'connection', detail: /timed out after 600 ms waiting for the HTTP response.*127\.31\.1\.24.*gave up after 2 attempts/ } });
    t.equal(pit.accepted(), 2, 'two attempts reached the tarpit');
    t.ok(elapsed >= 1200 && elapsed < 4000, `took ${elapsed} ms (2 × 600 ms + backoff)`);
  });

  t.test('the caller abort rejects with its reason', async (t) => {
    const pit = await tarpit(t, '127.31.1.25');
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('server shutting down')), 100);
    try {
      await validateChallenge('http-01', { type: 'ip', value: '127.31.1.25' }, TOKEN, KEYAUTH, { ...base, http01Port: pit.port, timeoutMs: 5000 }, ac.signal);
      t.fail('should reject');
    } catch (err) {
      t.equal((err as Error).message, 'server shutting down');
    }
  });

  t.test('a public IP identifier is refused without connecting', async (t) => {
    const connects = recordConnects(t);
    const r = await validateChallenge('http-01', { type: 'ip', value: '8.8.8.8' }, TOKEN, KEYAUTH, base);
    t.match(r, { ok: false, problem: { type: 'rejectedIdentifier', detail: /IP identifier 8\.8\.8\.8 is outside/ } });
    t.same(connects, []);
  });
});
