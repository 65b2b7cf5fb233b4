/**
 * A gateway route with an ACME-managed certificate whose directory's TLS certificate does not verify
 * (no --acme-ca for a private CA, or the wrong bundle) fails at once with a message saying what to
 * give; through acme-client it took 76 s of retries and ended as "Cannot read properties of undefined
 * (reading 'config')" (found by running the README's example as written).
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { Http01Responder } from '../../src/proxy/cert-manager/http01.ts';
import { CertManager } from '../../src/proxy/cert-manager/manager.ts';
import { tempDir } from '../helpers/tmp.ts';
import { peerOption } from './fixtures/peers.ts';
import { startPebble } from './fixtures/pebble.ts';
import { proxyPki } from './fixtures/pki.ts';

t.test('an ACME directory whose certificate does not verify: a clear error at once', peerOption('pebble', 'pebble-challtestsrv'), async (t) => {
  const pki = await proxyPki(t);
  const pebble = await startPebble(t, pki);
  const responder = new Http01Responder({ host: pebble.httpAddress, port: pebble.httpPort });
  t.teardown(() => responder.stop());
  const attempt = async (directoryCa: string | undefined) => {
    const manager = new CertManager({ directoryUrl: pebble.directoryUrl, names: ['gw.klinikum.internal'], stateDir: tempDir(t), http01: responder, directoryCa });
    t.teardown(() => manager.stop());
    const started = Date.now();
    const err = await manager.start().then(() => undefined, (e: Error & { code?: string }) => e);
    return { err, ms: Date.now() - started };
  };

  const none = await attempt(undefined);
  t.equal(none.err?.code, 'ACME_CLIENT_FAILED');
  t.match(none.err?.message, /cannot verify the TLS certificate of the ACME server .*give its root with --acme-ca FILE/);
  t.ok(none.ms < 5000, `failed in ${none.ms} ms`);

  // pebble's TLS certificate comes from proxyPki; another test CA's root is the wrong bundle.
  const other = await proxyPki(t);
  t.not(readFileSync(other.trust, 'utf8'), readFileSync(pki.trust, 'utf8'), 'a CA of its own');
  const wrong = await attempt(readFileSync(other.trust, 'utf8'));
  t.match(wrong.err?.message, /the trust bundle given for it \(--acme-ca, tls\.acme\.directoryCa\) does not hold its CA/);
  t.ok(wrong.ms < 5000, `failed in ${wrong.ms} ms`);
});
