// Pruning of orders that never became valid: the housekeeping loop, its wiring into the server, and what
// a client sees afterwards. Addresses of this file: 127.44.0.0/24.
import t from 'tap';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { startHousekeeping, pruneExpiredOrders, type HousekeepingLog } from '../../src/acme/housekeeping.ts';
import { buildAcmeContext, buildAcmeServer } from '../../src/acme/server.ts';
import { startServer } from '../../src/acme/serve.ts';
import { freePort } from '../../src/net/free-port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { DAY, danglingReferences, ids, seedOrder } from '../helpers/acme-orders.ts';
import { httpsTransport, injectTransport, newAccountKey, TestAcmeClient, type Response } from '../helpers/acme-test-client.ts';
import { testCa } from '../helpers/ca.ts';
import { makeCsr } from '../helpers/openssl.ts';
import { tempDir } from '../helpers/tmp.ts';

type T = Parameters<Parameters<typeof t.test>[0]>[0];

const NOW = Date.parse('2031-03-10T12:00:00.000Z');

async function waitUntil(what: string, probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function recordingLog(): HousekeepingLog & { lines: Array<Record<string, number>> } {
  const lines: Array<Record<string, number>> = [];
  return { lines, info: (obj) => { lines.push(obj as Record<string, number>); } };
}

/** RFC 8555 §6.7 / RFC 7807: what a client must get for an object that is not (any longer) there. */
function assertNotFoundProblem(t: T, r: Response, what: string): void {
  t.equal(r.status, 404, `${what}: 404`);
  t.match(r.headers['content-type'], /^application\/problem\+json/, `${what}: a problem document`);
  t.equal(r.body.type, 'urn:ietf:params:acme:error:malformed', `${what}: the type this server uses for unknown objects`);
  t.equal(r.body.status, 404);
  t.ok(r.headers['replay-nonce'], `${what}: a fresh nonce to retry with (§6.5)`);
}

t.test('the loop runs shortly after start and then every interval, logs only what it pruned, and stops', async (t) => {
  const s = new SqliteStore(join(tempDir(t), 'w.db'));
  t.teardown(() => s.close());
  let clock = NOW;
  let calls = 0;
  const real = s.acme.pruneExpired.bind(s.acme);
  s.acme.pruneExpired = (before, maxRows) => { calls++; return real(before, maxRows); };
  for (const id of ['a', 'b', 'c']) seedOrder(s.acme, { id, status: 'pending', expires: NOW - DAY });
  seedOrder(s.acme, { id: 'later', status: 'pending', expires: NOW + 3_600_000 });
  const log = recordingLog();
  const errors: unknown[] = [];
  const hk = startHousekeeping(s.acme, { retentionMs: 0, intervalMs: 30, now: () => clock, log, onError: (e) => errors.push(e) });

  await waitUntil('the first run', () => log.lines.length === 1);
  t.match(log.lines[0], { prunedOrders: 3, prunedAuthzs: 3, prunedChallenges: 9, batches: 1 }, 'the first run pruned what had expired and said so');
  t.same(ids(s.db, 'acme_orders'), ['later']);
  const after = calls;
  await waitUntil('two more runs', () => calls >= after + 2);
  t.equal(log.lines.length, 1, 'runs that prune nothing are not logged');

  clock = NOW + 2 * 3_600_000; // the injected clock moves on: the last order has now expired too
  await waitUntil('the run after the clock moved', () => log.lines.length === 2);
  t.equal(log.lines[1].prunedOrders, 1);
  t.same(ids(s.db, 'acme_orders'), []);

  await hk.stop();
  const stoppedAt = calls;
  await new Promise((r) => setTimeout(r, 100));
  t.equal(calls, stoppedAt, 'no run after stop()');
  t.same(errors, []);
});

t.test('stop() during a long run ends it between two batches and waits for it', async (t) => {
  const s = new SqliteStore(join(tempDir(t), 'w.db'));
  t.teardown(() => s.close());
  s.db.transaction(() => { for (let i = 0; i < 2000; i++) seedOrder(s.acme, { id: `o${i}`, status: 'invalid', expires: NOW - 30 * DAY }); })();
  const hk = startHousekeeping(s.acme, { retentionMs: 0, intervalMs: 3_600_000, batchRows: 100, now: () => NOW, log: recordingLog(), onError: () => undefined });
  let batches = 0;
  let stopped: Promise<void> | undefined;
  const real = s.acme.pruneExpired.bind(s.acme);
  s.acme.pruneExpired = (before, maxRows) => {
    if (++batches === 3) stopped = hk.stop();
    return real(before, maxRows);
  };
  const run = await hk.runNow();
  await stopped;
  t.equal(run.batches, 3, 'the batch in flight when stop() was called was the last');
  t.equal(ids(s.db, 'acme_orders').length, 2000 - run.orders, 'the rest is left for the next start');
  t.same(danglingReferences(s.db), { challengesWithoutAuthz: 0, authzsWithoutOrder: 0, ordersListingMissingAuthz: 0 });
});

t.test('a failing run is reported and the next one still comes', async (t) => {
  const s = new SqliteStore(join(tempDir(t), 'w.db'));
  t.teardown(() => s.close());
  let calls = 0;
  const real = s.acme.pruneExpired.bind(s.acme);
  s.acme.pruneExpired = (before, maxRows) => {
    if (++calls === 1) throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    return real(before, maxRows);
  };
  const errors: Error[] = [];
  const hk = startHousekeeping(s.acme, { retentionMs: 0, intervalMs: 20, now: () => NOW, log: recordingLog(), onError: (e) => errors.push(e as Error) });
  t.teardown(() => hk.stop());
  await waitUntil('a run after the failed one', () => calls >= 2);
  t.equal(errors.length, 1);
  t.match(errors[0].message, /locked/);
});

t.test('the ACME server prunes on its own and logs it through its logger; the order then answers 404', async (t) => {
  const { ca } = await testCa(t);
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  // Orders expire 1 ms after creation and are kept no longer: the server's own loop removes them at once.
  const ctx = buildAcmeContext(ca, { baseUrl: 'http://acme.test', orderLifetimeMs: 1, orderRetentionMs: 0, housekeepingIntervalMs: 50 });
  const app = await buildAcmeServer(ctx, { logger: { level: 'info', stream } });
  t.teardown(() => app.close());
  const c = await new TestAcmeClient(injectTransport(app, 'http://acme.test'), 'http://acme.test/acme/directory', await newAccountKey()).init();
  await c.register();
  // The order may be pruned any moment after this answer: only what the answer says is used below.
  const order = await c.order([{ type: 'ip', value: '127.44.0.9' }]);
  t.equal(order.status, 201);

  await waitUntil('the housekeeping log line', () => lines.some((l) => l.prunedOrders));
  const line = lines.find((l) => l.prunedOrders)!;
  t.match(line, { level: 30, msg: /pruned orders expired without a certificate/, prunedOrders: 1, prunedAuthzs: 1 }, 'logged at info with the counts');
  assertNotFoundProblem(t, await c.post(order.headers.location, undefined), 'the pruned order');
  assertNotFoundProblem(t, await c.post(order.body.authorizations[0], undefined), 'its authorization');
  assertNotFoundProblem(t, await c.post(order.body.finalize, { csr: 'AA' }), 'its finalize URL');
  t.same((await c.post(`${c.kid}/orders`, undefined)).body.orders, [], 'gone from the account\'s orders list');
});

t.test('through a running `wardgate serve`: pruned, valid and pending orders as a client sees them', async (t) => {
  const { ca, work } = await testCa(t);
  const host = '127.44.0.1';
  const device = '127.44.0.2';
  const answers = new Map<string, string>();
  const http01 = createServer((req, res) => {
    const a = answers.get(req.url?.split('/').pop() ?? '');
    res.writeHead(a ? 200 : 404).end(a ?? 'not found');
  });
  const http01Port = await freePort(device);
  await new Promise<void>((r) => http01.listen(http01Port, device, r));
  t.teardown(() => new Promise<void>((r) => http01.close(() => r())));
  const server = await startServer(ca, {
    listen: { host, port: await freePort(host) }, httpListen: { host, port: 0 },
    acme: { validation: { http01Port, timeoutMs: 3000, attempts: 1 } },
  });
  t.teardown(() => server.close());
  const c = await new TestAcmeClient(httpsTransport(readFileSync(ca.layout.rootCert, 'utf8')), server.directoryUrl, await newAccountKey()).init();
  await c.register();
  const ip = [{ type: 'ip', value: device }];

  async function validate(order: Response): Promise<void> {
    const authz = await c.post(order.body.authorizations[0], undefined);
    const ch = authz.body.challenges.find((x: { type: string }) => x.type === 'http-01');
    answers.set(ch.token, await c.keyAuthorization(ch.token));
    let r = await c.post(ch.url, {});
    for (let i = 0; i < 100 && r.body.status === 'processing'; i++) {
      await new Promise((res) => setTimeout(res, 20));
      r = await c.post(ch.url, undefined);
    }
    t.equal(r.body.status, 'valid', `http-01 validated for ${order.headers.location}`);
  }

  const abandoned = await c.order(ip);
  const abandonedAuthz = await c.post(abandoned.body.authorizations[0], undefined);
  const done = await c.order(ip);
  await validate(done);
  const { csr } = makeCsr(work, 'dev', { sans: [`IP:${device}`] });
  const der = Buffer.from(readFileSync(csr, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64url');
  const fin = await c.post(done.body.finalize, { csr: der });
  t.equal(fin.body.status, 'valid', 'the second order is finalized');
  let pending = await c.order(ip);
  if (pending.body.expires === abandoned.body.expires) pending = await c.order(ip); // same millisecond: one more
  t.ok(abandoned.body.expires < pending.body.expires);

  // The abandoned order, and only it, has expired (retention included) as of the pending order's expiry.
  const run = await pruneExpiredOrders(server.ctx.store, new Date(pending.body.expires));
  t.equal(run.orders, 1, 'one order pruned: the valid one is kept though it expired too');

  assertNotFoundProblem(t, await c.post(abandoned.headers.location, undefined), 'the pruned order');
  assertNotFoundProblem(t, await c.post(abandoned.body.authorizations[0], undefined), 'its authorization');
  assertNotFoundProblem(t, await c.post(abandonedAuthz.body.challenges[0].url, {}), 'its challenge');
  const valid = await c.post(done.headers.location, undefined);
  t.equal(valid.body.status, 'valid', 'the valid order is still there');
  const cert = await c.post(valid.body.certificate, undefined);
  t.equal(cert.status, 200, 'and its certificate downloads');
  t.equal((await c.post(done.body.authorizations[0], undefined)).body.status, 'valid', 'and its authorization reads');
  const list = await c.post(`${c.kid}/orders`, undefined);
  t.same(list.body.orders.sort(), [done.headers.location, pending.headers.location].sort(), 'the orders list (§7.1.2.1) holds what remains');

  await validate(pending);
  t.equal((await c.post(pending.headers.location, undefined)).body.status, 'ready', 'a pending order goes on to ready after the prune');
});
