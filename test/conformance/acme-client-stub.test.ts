/**
 * The acme-client part of the kit is a designed boundary without verdicts until src/acme/ serves:
 * its checks are registered (so requirements.json can name them), marked pending, and judge nothing;
 * the CLI says so with a typed error instead of pretending.
 */
import t from 'tap';
import { ACME_CLIENT_CHECKS, CHECK_REGISTRY, judgeExchange, loadRequirements, MemoryRecorder, runAcmeClient, type ExchangeRecord } from '../../src/conformance/index.ts';
import { isWardgateError } from '../../src/errors.ts';

const emptyRecord: ExchangeRecord = {
  directoryUrl: 'https://127.0.0.1:14000/acme/directory', claims: ['ARI'], requests: [], validations: [], csrs: [], certificates: [], faults: [],
  command: { argv: ['true'], exitCode: 0, outputTail: '' },
};

t.test('acme-client checks are registered as pending and produce no verdict yet', async (t) => {
  const names = Object.keys(ACME_CLIENT_CHECKS);
  t.ok(names.length >= 20);
  for (const n of names) t.equal(CHECK_REGISTRY.get(n)?.pending, true, `${n} pending`);
  t.equal(judgeExchange(emptyRecord).size, 0);
});

t.test('requirements judged by acme-client checks are not marked manual', async (t) => {
  const pending = loadRequirements().requirements.filter((r) => r.check.startsWith('acme-client:'));
  t.ok(pending.length >= 20, `${pending.length} requirements wait for the acme-client kit`);
  t.ok(pending.every((r) => r.actor === 'Enrolling Node'));
});

t.test('runAcmeClient refuses with CONFORMANCE_UNAVAILABLE', async (t) => {
  try {
    await runAcmeClient({ command: ['certbot'], claims: [], timeoutMs: 1000 });
    t.fail('did not refuse');
  } catch (err) {
    t.ok(isWardgateError(err, 'CONFORMANCE_UNAVAILABLE'));
    t.match((err as Error).message, /src\/acme/);
  }
});

t.test('MemoryRecorder keeps events in order and hands out copies', async (t) => {
  const rec = new MemoryRecorder('https://127.0.0.1:14000/acme/directory', ['ARI'], ['certbot']);
  rec.request({ at: 1, method: 'GET', url: 'https://127.0.0.1:14000/acme/directory', resource: 'directory', discovered: true, response: { status: 200 } });
  rec.fault({ kind: 'badNonce', at: 2, resource: 'newOrder' });
  rec.commandExited(0, 'done');
  const snap = rec.snapshot();
  t.equal(snap.requests.length, 1);
  t.equal(snap.faults[0].kind, 'badNonce');
  t.equal(snap.command.exitCode, 0);
  snap.requests.length = 0;
  t.equal(rec.snapshot().requests.length, 1, 'snapshot is a copy');
});
