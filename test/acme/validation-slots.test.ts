// A global bound on concurrent challenge validations. Before it, every challenge POST started its
// validation at once: an attacker with many accounts could make the CA hold thousands of outbound
// connections to slow or silent allow-listed addresses (resource exhaustion, and the CA as a probe).
// Addresses of this file: 127.33.0.0/24.
import http from 'node:http';
import type net from 'node:net';
import t from 'tap';
import { ValidationSlots } from '../../src/acme/validation-slots.ts';
import { startServer, type RunningServer } from '../../src/acme/serve.ts';
import type { AcmeServerOptions } from '../../src/acme/server.ts';
import type { CertificateAuthority } from '../../src/pki/ca.ts';
import { freePort } from '../../src/net/free-port.ts';
import { testCa } from '../helpers/ca.ts';
import { httpsTransport, newAccountKey, TestAcmeClient } from '../helpers/acme-test-client.ts';

type T = Parameters<Parameters<typeof t.test>[0]>[0];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A job the test finishes by hand, recording the signal it was given. */
function manualJob(log: string[], name: string) {
  let finish!: () => void;
  let signal: AbortSignal | undefined;
  const done = new Promise<void>((r) => { finish = r; });
  const job = async (s: AbortSignal) => {
    signal = s;
    log.push(`start ${name}`);
    await Promise.race([done, new Promise((_r, reject) => s.addEventListener('abort', () => reject(s.reason), { once: true }))]);
    log.push(`end ${name}`);
  };
  return { job, finish: () => finish(), signal: () => signal };
}

t.test('slots: at most N run, the rest start in arrival order', async (t) => {
  const slots = new ValidationSlots(2, 10);
  const log: string[] = [];
  const jobs = ['a', 'b', 'c', 'd', 'e'].map((n) => manualJob(log, n));
  const runs = jobs.map((j) => slots.run(j.job));
  await sleep(0);
  t.same(log, ['start a', 'start b'], 'two start at once');
  t.same(slots.stats(), { running: 2, queued: 3, maxRunning: 2, maxQueued: 10 });
  jobs[1].finish();
  await sleep(0);
  t.same(log.slice(2), ['end b', 'start c'], 'the oldest waiter takes the freed slot');
  // A newcomer while the queue is not empty waits behind it, even right after a slot frees.
  const late = manualJob(log, 'late');
  const lateRun = slots.run(late.job);
  jobs[0].finish();
  await sleep(0);
  t.same(log.slice(4), ['end a', 'start d'], 'FIFO: d before the newcomer');
  for (const j of [jobs[2], jobs[3], jobs[4], late]) { j.finish(); await sleep(0); }
  await Promise.all([...runs, lateRun]);
  t.same(log.filter((l) => l.startsWith('start')), ['start a', 'start b', 'start c', 'start d', 'start e', 'start late']);
  t.same(slots.stats(), { running: 0, queued: 0, maxRunning: 2, maxQueued: 10 });
});

t.test('slots: hasRoom() counts free slots and free queue places', async (t) => {
  const slots = new ValidationSlots(1, 1);
  const log: string[] = [];
  t.ok(slots.hasRoom(), 'empty');
  const a = manualJob(log, 'a');
  const ra = slots.run(a.job);
  t.ok(slots.hasRoom(), 'one running, the queue place is free');
  const b = manualJob(log, 'b');
  const rb = slots.run(b.job);
  t.notOk(slots.hasRoom(), 'one running, one waiting: full');
  a.finish();
  await ra;
  await sleep(0);
  t.ok(slots.hasRoom(), 'b took the slot, the queue place is free again');
  b.finish();
  await rb;

  const noQueue = new ValidationSlots(1, 0);
  const c = manualJob(log, 'c');
  const rc = noQueue.run(c.job);
  t.notOk(noQueue.hasRoom(), 'with no queue, one running job fills it');
  c.finish();
  await rc;
  t.ok(noQueue.hasRoom());
});

t.test('slots: a failing job releases its slot and its rejection reaches the caller', async (t) => {
  const slots = new ValidationSlots(1, 5);
  const failing = slots.run(async () => { throw new Error('boom'); });
  const log: string[] = [];
  const next = manualJob(log, 'next');
  const r = slots.run(next.job);
  await t.rejects(failing, /boom/);
  await sleep(0);
  t.same(log, ['start next']);
  next.finish();
  await r;
  t.equal(slots.stats().running, 0);
});

t.test('slots: close() abandons waiting jobs at once and aborts running ones', async (t) => {
  const slots = new ValidationSlots(1, 5);
  const log: string[] = [];
  const running = manualJob(log, 'running');
  const waiting = manualJob(log, 'waiting');
  const r1 = slots.run(running.job);
  const r2 = slots.run(waiting.job);
  await sleep(0);
  slots.close();
  await t.rejects(r1, /the ACME server is closing/, 'the running job sees the abort');
  t.equal(running.signal()?.aborted, true);
  await r2;
  t.same(log, ['start running'], 'the waiting job never ran');
  let ran = false;
  await slots.run(async () => { ran = true; });
  t.notOk(ran, 'after close, run() returns without running');
  t.same(slots.stats(), { running: 0, queued: 0, maxRunning: 1, maxQueued: 5 });
});

t.test('slots: per-owner counts follow the jobs', async (t) => {
  const slots = new ValidationSlots(1, 10, 2);
  const gates: Array<() => void> = [];
  const job = () => new Promise<void>((r) => gates.push(r));
  const runs = [slots.runOwned(['acct:a', 'addr:x'], job), slots.runOwned(['acct:a', 'addr:x'], job)];
  t.equal(slots.ownerAtCap(['acct:a', 'addr:y']), 'acct:a', 'the account has two under way (one running, one waiting)');
  t.equal(slots.ownerAtCap(['acct:b', 'addr:x']), 'addr:x', 'and so has the address');
  t.equal(slots.ownerAtCap(['acct:b', 'addr:y']), undefined, 'others are not affected');
  gates.shift()!();
  await runs[0];
  t.equal(slots.ownerAtCap(['acct:a']), undefined, 'a finished job no longer counts');
  await new Promise((r) => setImmediate(r));
  gates.shift()!();
  await runs[1];
  t.equal(new ValidationSlots(1, 10).ownerAtCap(['acct:a']), undefined, 'no cap by default');
});

t.test('slots: bounds must be whole numbers', async (t) => {
  t.throws(() => new ValidationSlots(0, 5), { code: 'CLI_ARGUMENT' });
  t.throws(() => new ValidationSlots(1.5, 5), { code: 'CLI_ARGUMENT' });
  t.throws(() => new ValidationSlots(2, -1), { code: 'CLI_ARGUMENT' });
  t.doesNotThrow(() => new ValidationSlots(1, 0));
});

/**
 * The device side of http-01 on several loopback addresses (one port): it accepts each validation
 * request and holds the answer until the test calls release(), counting how many it holds at once.
 */
async function heldDevices(t: T, addresses: string[]) {
  const answers = new Map<string, string>();
  const held: Array<() => void> = [];
  let released = false;
  let active = 0;
  let maxActive = 0;
  let requests = 0;
  const sockets = new Set<net.Socket>();
  const port = await freePort(addresses[0]);
  for (const address of addresses) {
    const server = http.createServer((req, res) => {
      requests++;
      active++;
      maxActive = Math.max(maxActive, active);
      let counted = true;
      const uncount = () => { if (counted) { counted = false; active--; } };
      res.on('close', uncount);
      const answer = () => { uncount(); res.end(answers.get(req.url?.split('/').pop() ?? '') ?? 'unknown token'); };
      if (released) answer(); else held.push(answer);
    });
    server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}); });
    await new Promise<void>((r, reject) => { server.once('error', reject); server.listen(port, address, r); });
    t.teardown(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  }
  return {
    port, answers,
    active: () => active, maxActive: () => maxActive, requests: () => requests,
    release() { released = true; for (const a of held.splice(0)) a(); },
  };
}

async function startAcme(t: T, ca: CertificateAuthority, host: string, acme: Omit<AcmeServerOptions, 'baseUrl'>): Promise<RunningServer> {
  const server = await startServer(ca, { listen: { host, port: await freePort(host) }, httpListen: { host, port: 0 }, acme });
  let closed = false;
  t.teardown(async () => { if (!closed) await server.close(); });
  return { ...server, close: async () => { closed = true; await server.close(); } };
}

/** One account, one order for `ips`, and the http-01 challenge of each authorization (answers registered). */
async function orderChallenges(c: TestAcmeClient, device: { answers: Map<string, string> }, ips: string[]) {
  const account = await c.register();
  if (account.status !== 201) throw new Error(`newAccount failed: ${account.text}`);
  const order = await c.order(ips.map((value) => ({ type: 'ip', value })));
  if (order.status !== 201) throw new Error(`newOrder failed: ${order.text}`);
  const challenges: Array<{ url: string; ip: string; authzUrl: string }> = [];
  for (const authzUrl of order.body.authorizations) {
    const authz = (await c.post(authzUrl, undefined)).body;
    const ch = authz.challenges.find((x: { type: string }) => x.type === 'http-01');
    device.answers.set(ch.token, await c.keyAuthorization(ch.token));
    challenges.push({ url: ch.url, ip: authz.identifier.value, authzUrl });
  }
  return { order, challenges };
}

const statusOf = async (c: TestAcmeClient, url: string) => (await c.post(url, undefined)).body.status as string;

t.test('a real server with --max-validations 2: five challenges, never more than two validations at once', async (t) => {
  const { ca } = await testCa(t);
  const ips = ['127.33.0.11', '127.33.0.12', '127.33.0.13', '127.33.0.14', '127.33.0.15'];
  const device = await heldDevices(t, ips);
  const server = await startAcme(t, ca, '127.33.0.1', {
    maxConcurrentValidations: 2, processingWaitMs: 0,
    validation: { http01Port: device.port, timeoutMs: 8000, attempts: 1 },
  });
  const c = await new TestAcmeClient(httpsTransport(ca.rootPem), server.directoryUrl, await newAccountKey()).init();
  const { order, challenges } = await orderChallenges(c, device, ips);

  for (const ch of challenges) {
    const r = await c.post(ch.url, {});
    t.equal(r.status, 200, r.text);
    t.equal(r.body.status, 'processing', `${ch.ip}: accepted, processing`);
    t.equal(r.headers['retry-after'], '1');
  }
  await waitUntil('two validations to reach the device', () => device.requests() >= 2);
  await sleep(300); // time for any validation that slipped past the bound to arrive as well
  t.equal(device.maxActive(), 2, 'the device saw at most two validation requests at once');
  t.equal(device.requests(), 2, 'the other three have not connected');
  t.same(server.ctx.validations.stats(), { running: 2, queued: 3, maxRunning: 2, maxQueued: 4096 });
  for (const ch of challenges) t.equal(await statusOf(c, ch.url), 'processing', `${ch.ip} is processing (running or waiting)`);

  device.release();
  await waitUntil('all five challenges to be valid', async () => (await Promise.all(challenges.map((ch) => statusOf(c, ch.url)))).every((s) => s === 'valid'));
  t.equal(device.requests(), 5, 'each challenge was validated once');
  t.ok(device.maxActive() <= 2, `never more than two at once (max ${device.maxActive()})`);
  t.equal(await statusOf(c, order.headers.location), 'ready');
  t.same(server.ctx.validations.stats(), { running: 0, queued: 0, maxRunning: 2, maxQueued: 4096 });
});

t.test('queue full: rateLimited with Retry-After, the challenge stays pending and can be retried later', async (t) => {
  const { ca } = await testCa(t);
  const ips = ['127.33.0.21', '127.33.0.22', '127.33.0.23'];
  const device = await heldDevices(t, ips);
  const server = await startAcme(t, ca, '127.33.0.2', {
    maxConcurrentValidations: 1, maxQueuedValidations: 1, processingWaitMs: 0,
    validation: { http01Port: device.port, timeoutMs: 3000, attempts: 1 },
  });
  const c = await new TestAcmeClient(httpsTransport(ca.rootPem), server.directoryUrl, await newAccountKey()).init();
  const { challenges: [first, second, third] } = await orderChallenges(c, device, ips);

  t.equal((await c.post(first.url, {})).body.status, 'processing', 'first: running');
  t.equal((await c.post(second.url, {})).body.status, 'processing', 'second: waiting');
  await waitUntil('the first validation to reach the device', () => device.requests() === 1);
  const refused = await c.post(third.url, {});
  t.equal(refused.status, 429);
  t.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8');
  t.equal(refused.body.type, 'urn:ietf:params:acme:error:rateLimited');
  t.match(refused.body.detail, /busy validating \(1 running, 1 waiting\)/);
  t.equal(refused.headers['retry-after'], '3', 'Retry-After: one attempt time budget (3000 ms)');
  t.ok(refused.headers['replay-nonce'], 'a fresh nonce to retry with');
  t.equal(await statusOf(c, third.url), 'pending', 'the refused challenge is still pending, not stuck in processing');
  t.equal(ca.store.acme.getChallenge(third.url.split('/').pop()!)?.status, 'pending');

  device.release();
  await waitUntil('the first two to be valid', async () => (await statusOf(c, first.url)) === 'valid' && (await statusOf(c, second.url)) === 'valid');
  const retried = await c.post(third.url, {});
  t.equal(retried.status, 200, retried.text);
  t.match(retried.body.status, /^(processing|valid)$/);
  await waitUntil('the retried challenge to be valid', async () => (await statusOf(c, third.url)) === 'valid');
  t.equal(device.maxActive(), 1);
});

t.test('per client: one account, or one client address, gets at most its share of the queue', async (t) => {
  // Found in review: the global queue was first come, first served, so one client (many names, or many
  // accounts from one address) could fill it and every other device's challenge POST was refused.
  const { ca } = await testCa(t);
  const ips = ['127.33.0.51', '127.33.0.52', '127.33.0.53', '127.33.0.54'];
  const device = await heldDevices(t, ips);
  const server = await startAcme(t, ca, '127.33.0.6', {
    maxConcurrentValidations: 1, maxQueuedValidations: 100, maxValidationsPerOwner: 2, processingWaitMs: 0,
    validation: { http01Port: device.port, timeoutMs: 3000, attempts: 1 },
  });
  const a = await new TestAcmeClient(httpsTransport(ca.rootPem), server.directoryUrl, await newAccountKey()).init();
  const { challenges: [a1, a2, a3] } = await orderChallenges(a, device, ips.slice(0, 3));
  t.equal((await a.post(a1.url, {})).body.status, 'processing');
  t.equal((await a.post(a2.url, {})).body.status, 'processing');
  const refused = await a.post(a3.url, {});
  t.equal(refused.status, 429);
  t.equal(refused.body.type, 'urn:ietf:params:acme:error:rateLimited');
  t.match(refused.body.detail, /this account has 2 validations under way/);
  t.equal(await statusOf(a, a3.url), 'pending', 'refused: still pending');
  t.same(server.ctx.validations.stats().queued + server.ctx.validations.stats().running, 2, 'the queue had room: the cap is the account\'s');

  // A second account from the same address: the address has its two under way as well.
  const b = await new TestAcmeClient(httpsTransport(ca.rootPem), server.directoryUrl, await newAccountKey()).init();
  const { challenges: [b1] } = await orderChallenges(b, device, ips.slice(3));
  const sameAddress = await b.post(b1.url, {});
  t.equal(sameAddress.status, 429);
  t.match(sameAddress.body.detail, /client address \S+ has 2 validations under way/);

  device.release();
  await waitUntil('the first two to be valid', async () => (await statusOf(a, a1.url)) === 'valid' && (await statusOf(a, a2.url)) === 'valid');
  t.match((await a.post(a3.url, {})).body.status, /^(processing|valid)$/, 'once they ended, the account may validate again');
  t.match((await b.post(b1.url, {})).body.status, /^(processing|valid)$/, 'and so may the other account');
  await waitUntil('all to be valid', async () => (await statusOf(a, a3.url)) === 'valid' && (await statusOf(b, b1.url)) === 'valid');
});

t.test('shutdown drops waiting validations at once; the next start validates them through the same slots', async (t) => {
  const { ca } = await testCa(t);
  const ips = ['127.33.0.31', '127.33.0.32', '127.33.0.33'];
  const device = await heldDevices(t, ips);
  const acme = { maxConcurrentValidations: 1, processingWaitMs: 0, validation: { http01Port: device.port, timeoutMs: 8000, attempts: 1 } };
  const first = await startAcme(t, ca, '127.33.0.3', acme);
  const c = await new TestAcmeClient(httpsTransport(ca.rootPem), first.directoryUrl, await newAccountKey()).init();
  const { challenges } = await orderChallenges(c, device, ips);
  for (const ch of challenges) t.equal((await c.post(ch.url, {})).body.status, 'processing');
  await waitUntil('one validation to reach the device', () => device.requests() === 1);
  t.same(first.ctx.validations.stats(), { running: 1, queued: 2, maxRunning: 1, maxQueued: 4096 });

  const start = Date.now();
  await first.close();
  const took = Date.now() - start;
  t.ok(took < 2000, `close() took ${took} ms: it waited neither for the held validation nor for the queue`);
  const ids = challenges.map((ch) => ch.url.split('/').pop()!);
  t.same(ids.map((id) => ca.store.acme.getChallenge(id)?.status), ['processing', 'processing', 'processing'], 'all stay processing for the next start');
  await waitUntil('the device to see the aborted request go', () => device.active() === 0);

  const second = await startAcme(t, ca, '127.33.0.4', acme);
  await waitUntil('a resumed validation to reach the device', () => device.requests() === 2);
  await sleep(300);
  t.equal(device.requests(), 2, 'resumed validations queue behind --max-validations 1 as well');
  t.same(second.ctx.validations.stats(), { running: 1, queued: 2, maxRunning: 1, maxQueued: 4096 });
  device.release();
  await waitUntil('all three to be valid', () => ids.every((id) => ca.store.acme.getChallenge(id)?.status === 'valid'));
  t.equal(device.maxActive(), 1);
});

t.test('a waiting validation whose authorization was deactivated meanwhile makes no connection', async (t) => {
  const { ca } = await testCa(t);
  const ips = ['127.33.0.41', '127.33.0.42'];
  const device = await heldDevices(t, ips);
  const server = await startAcme(t, ca, '127.33.0.5', {
    maxConcurrentValidations: 1, processingWaitMs: 0,
    validation: { http01Port: device.port, timeoutMs: 3000, attempts: 1 },
  });
  const c = await new TestAcmeClient(httpsTransport(ca.rootPem), server.directoryUrl, await newAccountKey()).init();
  const { challenges: [running, waiting] } = await orderChallenges(c, device, ips);
  await c.post(running.url, {});
  await c.post(waiting.url, {});
  await waitUntil('the first validation to reach the device', () => device.requests() === 1);
  t.equal((await c.post(waiting.authzUrl, { status: 'deactivated' })).body.status, 'deactivated');
  device.release();
  await waitUntil('the slots to empty', () => server.ctx.validations.stats().running === 0);
  await sleep(100);
  t.equal(device.requests(), 1, 'the deactivated authorization was not validated');
  t.equal(await statusOf(c, running.url), 'valid');
  const abandoned = await c.post(waiting.url, undefined);
  t.equal(abandoned.body.status, 'invalid', 'its challenge ends invalid instead of processing for ever');
  t.match(abandoned.body.error?.detail, /not validated: its authorization is deactivated/);
});
