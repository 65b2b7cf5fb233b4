/**
 * Crash safety of the ACME server (issue 3 "Done when", DESIGN.md "a kill -9 at any moment loses no issued
 * certificate"): the real `wardgate serve` process is SIGKILLed twice while 50 acme-client issuances run
 * concurrently (once during challenge validation, once while it signs: see the waves below), and restarted
 * on the same data dir each time. Every certificate any client received must be in the store, no order may stay
 * `processing` (nor any challenge), no order may have two certificates, every client must get its
 * certificate in the end, and the store and its audit chain must verify.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import acme from 'acme-client';
import t from 'tap';
import { CertificateAuthority } from '../../src/pki/ca.ts';
import { verifyAuditChain } from '../../src/store/audit-chain.ts';
import { TEST_PASSPHRASE } from '../helpers/ca.ts';
import { tempDir } from '../helpers/tmp.ts';
import { initCa } from './fixtures/acme-env.ts';
import { startHttp01Responder, type Http01Responder } from './fixtures/http01-responder.ts';
import { freePort, requirePeers, skipUnlessPeers, waitUntil } from './fixtures/peers.ts';
import { spawnServe, type ServeProcess } from './fixtures/serve-process.ts';
import { startTestDns } from './fixtures/test-dns.ts';
import { assertIssued, leafInfo, unverified } from './fixtures/verify.ts';

const PEERS = ['pebble-challtestsrv', 'openssl'];
const HOST = '127.31.5.1';
const DEVICE = '127.31.5.2';
const ACCOUNTS = 10;
/**
 * Wave A: WAVE_A devices arrive one after the other (every STAGGER_MS). From their
 * KILL_AT_CHALLENGE_REQUEST-th challenge request on, the device's web server stops answering, and the
 * server is killed once the store shows a challenge `processing`: validation is certainly caught half-way.
 */
const WAVE_A = 30;
const STAGGER_MS = 40;
const KILL_AT_CHALLENGE_REQUEST = 20;
/**
 * Wave B: WAVE_B devices at once. Their finalize requests are held until all wait (or FINALIZE_GATE_MS
 * passed) and released together; the server is killed the moment the store shows an order `processing`,
 * i.e. while it signs. Should a loaded machine finish every order before the kill lands, another wave runs.
 */
const WAVE_B = 20;
const FINALIZE_GATE_MS = 5000;
const MAX_B_WAVES = 3;

function issue(client: acme.Client, web: Http01Responder, csr: Buffer): Promise<string> {
  return client.auto({
    csr, termsOfServiceAgreed: true, challengePriority: ['http-01'], skipChallengeVerification: true,
    challengeCreateFn: async (_a, challenge, keyAuthorization) => web.set(challenge.token, keyAuthorization),
    challengeRemoveFn: async (_a, challenge) => web.delete(challenge.token),
  });
}

/** Challenges still `processing` that belong to orders waiting for them (crash leftovers if any). */
function processingChallenges(ca: CertificateAuthority): string[] {
  return ca.store.acme.listOrdersByStatus('pending').flatMap((o) => o.authzIds)
    .flatMap((id) => ca.store.acme.listChallenges(id)).filter((c) => c.status === 'processing').map((c) => c.id);
}

t.test('SIGKILL during concurrent issuances loses nothing', { skip: skipUnlessPeers(...PEERS) }, async (t) => {
  if (!requirePeers(t, ...PEERS)) return;
  const work = tempDir(t, 'wardgate-sigkill-');
  const dir = join(work, 'data');
  (await initCa(dir)).close();
  const dns = await startTestDns(t, { host: HOST, defaultIPv4: DEVICE });
  const http01Port = await freePort(DEVICE);
  const web = await startHttp01Responder(t, DEVICE, http01Port);
  const listen = `${HOST}:${await freePort(HOST)}`;
  const args = ['--data-dir', dir, '--listen', listen, '--http-listen', `${HOST}:${await freePort(HOST)}`, '--http01-port', String(http01Port),
    '--dns-resolver', dns.resolver,
    // One client address drives all issuances: lift the per-address request limit for this load.
    '--rate-requests', '100000'];

  let server: ServeProcess = spawnServe(t, args);
  const directoryUrl = await server.ready;
  acme.axios.defaults.httpsAgent = new https.Agent({ ca: readFileSync(join(dir, 'ca', 'root.pem')) });
  // acme-client retries refused connections by itself; keep its waits short so the restart is ridden through quickly.
  (acme.axios.defaults as unknown as { acmeSettings: { retryDefaultDelay: number } }).acmeSettings.retryDefaultDelay = 0.25;
  const clients = await Promise.all(Array.from({ length: ACCOUNTS }, async (_, i) => {
    const c = new acme.Client({ directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey('P-256'), backoffMin: 100, backoffMax: 500, backoffAttempts: 12 });
    await c.createAccount({ termsOfServiceAgreed: true, contact: [`mailto:load${i}@wardgate.test`] });
    return c;
  }));

  const received = new Map<string, string>();
  const failures: string[] = [];
  const startedAt = Date.now();
  const ca = await CertificateAuthority.open(dir, { passphrase: TEST_PASSPHRASE });
  t.teardown(() => ca.close());

  // Workers that fail while the server is down wait for it to come back, then start their issuance over.
  let up: Promise<void> = Promise.resolve();
  let markUp: () => void = () => {};
  const kill = () => {
    up = new Promise<void>((r) => { markUp = r; });
    server.child.kill('SIGKILL');
  };

  let challengeRequests = 0;
  let gate: { size: number; held: Array<() => void>; timer?: NodeJS.Timeout } | undefined;
  const releaseGate = () => {
    if (!gate) return;
    clearTimeout(gate.timer);
    const held = gate.held;
    gate = undefined;
    for (const go of held) go();
    void waitUntil('an order processing', () => ca.store.acme.listOrdersByStatus('processing').length > 0, 10_000, 1)
      .catch(() => undefined).then(kill);
  };
  acme.axios.interceptors.request.use(async (config) => {
    const url = String(config.url);
    if (url.includes('/acme/chall/') && ++challengeRequests === KILL_AT_CHALLENGE_REQUEST) {
      web.hold(true);
      void waitUntil('a challenge processing', () => processingChallenges(ca).length > 0, 10_000, 5)
        .catch(() => undefined).then(() => setTimeout(kill, 50));
    }
    if (url.endsWith('/finalize') && gate) {
      const g = gate;
      await new Promise<void>((go) => {
        g.held.push(go);
        g.timer ??= setTimeout(releaseGate, FINALIZE_GATE_MS);
        if (g.held.length === g.size) releaseGate();
      });
    }
    return config;
  });

  let launched = 0;
  const worker = async (i: number, delayMs: number) => {
    await new Promise((r) => setTimeout(r, delayMs));
    const name = `load${i}.wardgate.test`;
    const [, csr] = await acme.crypto.createCsr({ altNames: [name] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
    for (let attempt = 1; attempt <= 5; attempt++) {
      try {
        received.set(name, await issue(clients[i % ACCOUNTS], web, csr));
        return;
      } catch (err) {
        failures.push(`${name} attempt ${attempt}: ${(err as Error).message}`);
        await up;
      }
    }
  };
  const wave = (n: number, staggerMs: number) => {
    const first = launched;
    launched += n;
    return Promise.all(Array.from({ length: n }, (_, k) => worker(first + k, k * staggerMs)));
  };

  /** Waits for the SIGKILL, records what the dead process left in the store, restarts on the same data dir. */
  const crashAndRestart = async (label: string) => {
    // A kill that never comes (a wave that stalled before its trigger) must fail the test, not hang it.
    const overdue = setTimeout(() => { t.fail(`${label}: the kill never came`); kill(); }, 90_000);
    const { signal } = await server.exited;
    clearTimeout(overdue);
    t.equal(signal, 'SIGKILL', `${label}: the server died of SIGKILL`);
    const state = {
      ms: Date.now() - startedAt,
      clientsDone: received.size,
      issued: ca.store.countCertificates() - 1, // minus the server's own TLS certificate
      orders: ca.store.acme.listOrdersByStatus('processing').map((o) => o.id),
      challenges: processingChallenges(ca),
    };
    t.ok(state.clientsDone < launched, `${label}: killed mid-run, ${state.clientsDone} of ${launched} clients held a certificate`);
    t.comment(`${label} at ${state.ms} ms: ${state.issued} issued, ${state.orders.length} orders processing, ${state.challenges.length} challenges processing`);
    web.hold(false);
    server = spawnServe(t, args);
    t.equal(await server.ready, directoryUrl, `${label}: restarted on the same data dir and address`);
    markUp();
    return state;
  };

  const waveA = wave(WAVE_A, STAGGER_MS);
  const a = await crashAndRestart('kill A (validation)');
  t.ok(a.challenges.length > 0, 'kill A cut validations off (challenges left processing)');
  await waveA;
  const stuckOrders = [...a.orders];
  const stuckChallenges = a.challenges;
  for (let n = 1; n <= MAX_B_WAVES; n++) {
    gate = { size: WAVE_B, held: [] };
    const waveB = wave(WAVE_B, 0);
    const b = await crashAndRestart(`kill B${n} (issuance)`);
    await waveB;
    stuckOrders.push(...b.orders);
    if (b.orders.length > 0) break;
  }
  t.ok(stuckOrders.length > 0, 'a kill cut issuances off (orders left processing)');
  t.comment(`all ${launched} clients done after ${Date.now() - startedAt} ms; ${failures.length} client-side restarts of a whole issuance`);

  await t.test('every certificate a client received is stored and verifies', async (t) => {
    t.equal(received.size, launched, `every client got its certificate in the end${failures.length ? ` (retries: ${failures.slice(0, 3).join('; ')})` : ''}`);
    for (const [name, pem] of received) {
      const { serial } = leafInfo(pem);
      const rec = ca.store.getCertificate(serial);
      t.ok(rec, `${name}: serial ${serial} is in the store`);
      t.same(rec?.names, [name], `${name}: stored names`);
    }
    t.same(unverified({ ca }, received), [], `all ${received.size} verify against root.pem with openssl`);
    // The full check (chain as served, SAN) for one certificate received before each kill and one after.
    for (const name of ['load0.wardgate.test', `load${launched - 1}.wardgate.test`]) {
      const pem = received.get(name);
      if (pem) assertIssued(t, { ca }, pem, [name], name);
    }
  });

  await t.test('nothing is left half-done after the restart', async (t) => {
    await waitUntil('no order processing', () => ca.store.acme.listOrdersByStatus('processing').length === 0, 5000).catch(() => undefined);
    t.same(ca.store.acme.listOrdersByStatus('processing').map((o) => o.id), [], 'no order is processing');
    await waitUntil('no challenge processing', () => processingChallenges(ca).length === 0, 5000).catch(() => undefined);
    t.same(processingChallenges(ca), [], 'no challenge of a pending order is processing');
    const verdicts = stuckChallenges.map((id) => ca.store.acme.getChallenge(id)!.status);
    t.notOk(verdicts.includes('processing'), `challenges cut off by the kill were validated again after the restart: ${verdicts.join(', ')}`);
    for (const id of stuckOrders) {
      const o = ca.store.acme.getOrder(id)!;
      t.equal(o.status, 'valid', `order ${id}, processing at the kill, was completed at start-up`);
      t.ok(ca.store.acme.certificateForOrder(id), `order ${id} has its certificate`);
    }
    const perOrder = new Map<string, number>();
    const certs = ca.store.listCertificates({ limit: 10_000 });
    for (const c of certs) if (c.orderId) perOrder.set(c.orderId, (perOrder.get(c.orderId) ?? 0) + 1);
    t.same([...perOrder].filter(([, n]) => n > 1), [], 'no order has two certificates');
    for (const o of ca.store.acme.listOrdersByStatus('valid')) {
      t.ok(o.certSerial && ca.store.getCertificate(o.certSerial), `valid order ${o.id} points at a stored certificate`);
    }
  });

  await t.test('store integrity and audit chain', async (t) => {
    t.doesNotThrow(() => ca.store.checkIntegrity(), 'SQLite integrity check passes');
    const entries = ca.store.readAudit(1, 1_000_000);
    const verdict = verifyAuditChain(entries, ca.store.auditHead());
    t.ok(verdict.entries > 0, `audit chain verifies (${verdict.entries} entries)`);
    const issued = entries.filter((e) => e.event === 'cert.issue').length;
    t.equal(issued, ca.store.countCertificates(), 'one cert.issue audit entry per stored certificate');
  });

  server.child.kill('SIGTERM');
  t.equal((await server.exited).code, 0, 'restarted server stops cleanly');
});
