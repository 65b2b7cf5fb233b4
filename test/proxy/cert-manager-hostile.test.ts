/**
 * The gateway's ACME client against a CA that misbehaves (test/proxy/fixtures/hostile-acme.ts): a
 * certificate for the wrong name or already expired must be refused before it replaces the one in
 * use, and a CA that answers slowly or endlessly must not hold renewal (or start-up) forever.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Http01Responder } from '../../src/proxy/cert-manager/http01.ts';
import { CertManager, type CertManagerOptions } from '../../src/proxy/cert-manager/manager.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort } from './fixtures/peers.ts';
import { type HostileMode, startHostileAcme } from './fixtures/hostile-acme.ts';
import { proxyPki } from './fixtures/pki.ts';

const NAME = 'gw.klinikum.internal';

/** A manager whose state directory already holds a valid certificate, so start() loads instead of enrolling. */
async function managerWithStoredCert(t: Test, host: string, mode: HostileMode, extra: Partial<CertManagerOptions> = {}) {
  const pki = await proxyPki(t);
  const acme = await startHostileAcme(t, pki, host, mode);
  const state = tempDir(t);
  const stored = await pki.issue('stored', [NAME]);
  copyFileSync(stored.cert, join(state, `${NAME}-ecdsa.pem`));
  copyFileSync(stored.key, join(state, `${NAME}-ecdsa.key`));
  const responder = new Http01Responder({ host, port: await freeLoopbackPort() });
  t.teardown(() => responder.stop());
  const log: string[] = [];
  const manager = new CertManager({ directoryUrl: acme.directoryUrl, names: [NAME], stateDir: state, http01: responder, directoryCa: acme.directoryCa, keyTypes: ['ecdsa'], log: (m) => log.push(m), ...extra });
  t.teardown(() => manager.stop());
  const swapped: string[] = [];
  manager.onChange((c) => swapped.push(c.pairs[0].cert));
  return { manager, acme, log, swapped, storedCert: readFileSync(stored.cert, 'utf8'), certFile: join(state, `${NAME}-ecdsa.pem`) };
}

for (const [mode, host, reason] of [['wrong-name', '127.30.7.1', /does not certify gw\.klinikum\.internal/], ['expired', '127.30.7.2', /not valid now/]] as const) {
  t.test(`a ${mode} certificate from the CA is refused and the old one keeps serving`, async (t) => {
    // Found in review: enroll() only checked that the key matches the leaf; a certificate for another
    // name, or an expired one, was written over the good one on disk and hot-swapped into the live
    // route, so every client handshake failed until the next renewal (a third of the lifetime later).
    const { manager, swapped, storedCert, certFile } = await managerWithStoredCert(t, host, mode);
    await withTimeout(manager.start(), 30_000, 'start with the stored certificate');
    await t.rejects(withTimeout(manager.renewNow(), 60_000, 'renewal'), reason);
    t.same(swapped, [], 'nothing hot-swapped into the route');
    t.equal(manager.credentials.pairs[0].cert, storedCert, 'the stored certificate is still in use');
    t.equal(readFileSync(certFile, 'utf8'), storedCert, 'and still on disk');
    const due = manager.schedule().ecdsa.getTime() - Date.now();
    t.ok(due > 30_000 && due < 2 * 3_600_000, `a retry is scheduled with backoff (in ${Math.round(due / 1000)} s)`);
  });
}

t.test('a CA that drips its answers does not hold start-up or renewal forever', async (t) => {
  // Found in review: the ARI fetch and acme-client's requests only had an idle timeout (or none): a CA
  // sending one byte every few seconds held start() forever, and a renewal stuck this way never
  // re-armed the timer nor released the renewal lock, so the certificate silently expired.
  const { manager, swapped, storedCert } = await managerWithStoredCert(t, '127.30.7.3', 'drip', { requestTimeoutMs: 1_000, enrollTimeoutMs: 3_000 });
  await withTimeout(manager.start(), 60_000, 'start against a dripping CA');
  await t.rejects(withTimeout(manager.renewNow(), 60_000, 'renewal against a dripping CA'), /ACME|within/);
  t.same(swapped, []);
  t.equal(manager.credentials.pairs[0].cert, storedCert, 'the stored certificate is still in use');
});

t.test('a CA that answers with a huge body is cut off', async (t) => {
  // Found in review: response bodies were read whole (ARI by string concatenation, acme-client via axios
  // with no maxContentLength): a 64 MiB or endless directory body was held in memory and parsed.
  const { manager, acme, swapped } = await managerWithStoredCert(t, '127.30.7.4', 'huge', { requestTimeoutMs: 5_000, enrollTimeoutMs: 8_000 });
  await withTimeout(manager.start(), 60_000, 'start against a huge-answering CA');
  await t.rejects(withTimeout(manager.renewNow(), 60_000, 'renewal against a huge-answering CA'));
  t.same(swapped, []);
  const sent = acme.hugeSent();
  t.notOk(sent.finished, `no 64 MiB body was read to the end (largest accepted: ${(sent.bytes / 1048576).toFixed(1)} MiB)`);
});

// An enrollment given up at its deadline keeps running inside acme-client (its retry timers are not
// cancellable and keep the process alive ~1 min): the results are in, so do not wait for them.
t.teardown(() => setImmediate(() => process.exit(process.exitCode ?? 0)));
