/**
 * The judging rules on hand-made records: each case is the smallest exchange that must flip a verdict,
 * so a rule that drifts shows here without running a client. The real-client tests (lego, certbot,
 * npm acme-client, reference client) show the same rules on recorded exchanges.
 */
import t from 'tap';
import { ACME_CLIENT_CHECKS, CHECK_REGISTRY, DEFAULT_FAULT_PLAN, judgeExchange, loadRequirements, type ExchangeRecord } from '../../src/conformance/index.ts';
import type { RecordedCertificate, RecordedOrder, RecordedRequest } from '../../src/conformance/acme-client/exchange.ts';

const BASE = 'https://127.0.0.1:14000/icm-x';
const DIR = `${BASE}/acme/directory`;
let seq = 0;

function req(p: Partial<RecordedRequest> & Pick<RecordedRequest, 'resource' | 'at'>): RecordedRequest {
  return {
    seq: ++seq, phase: 'enroll', invocation: 1, respondedAt: p.at + 1, listener: 'acme', method: 'POST', url: `${BASE}/acme/${p.resource}`, discovered: true,
    response: { status: 200, nonce: `n${seq}` }, ...p,
  };
}

function record(p: Partial<ExchangeRecord> = {}): ExchangeRecord {
  return {
    directoryUrl: DIR, startedAt: '2026-01-01T00:00:00.000Z', claims: [], plan: DEFAULT_FAULT_PLAN, phases: ['enroll', 'renew'], requests: [], tlsFailures: [],
    faults: [], orders: [], certificates: [], windows: [], commands: [], endedAt: 60_000, notes: [], ...p,
  };
}

const cert = (p: Partial<RecordedCertificate> = {}): RecordedCertificate => ({
  serial: 'aa', certId: 'AKI.aa', orderId: 'o1', phase: 'enroll', issuedAt: 1000, notBefore: '2025-12-31T23:55:01.000Z', notAfter: '2026-01-01T00:01:01.000Z',
  names: ['device.test'], spkiSha256: 'k1', ...p,
});

const order = (p: Partial<RecordedOrder> = {}): RecordedOrder => ({
  id: 'o1', url: `${BASE}/acme/order/o1`, phase: 'enroll', at: 500, requestedIdentifiers: [{ type: 'dns', value: 'device.test' }],
  identifiers: [{ type: 'dns', value: 'device.test' }], status: 'valid', authorizations: [], csrs: [], ...p,
});

const verdict = (r: ExchangeRecord, check: string) => ACME_CLIENT_CHECKS[check].judge(r);

t.test('every pending requirement is judged by a real check now', async (t) => {
  const reqs = loadRequirements().requirements.filter((r) => r.check.startsWith('acme-client:'));
  t.same(reqs.map((r) => r.id), ['ICM-GEN-005', ...Array.from({ length: 14 }, (_, i) => `ICM-ENR-${String(i + 1).padStart(3, '0')}`), 'ICM-ENR-016',
    ...Array.from({ length: 6 }, (_, i) => `ICM-REN-00${i + 1}`), 'ICM-TA-004']);
  for (const r of reqs) t.equal(CHECK_REGISTRY.get(r.check)?.kit, 'acme-client', `${r.id} -> ${r.check}`);
  const verdicts = judgeExchange(record());
  t.equal(verdicts.size, Object.keys(ACME_CLIENT_CHECKS).length, 'every check gives a verdict, even on an empty record');
  t.ok([...verdicts.values()].every((v) => v.status === 'inconclusive' || v.status === 'not-applicable'), 'an empty record proves nothing either way');
});

t.test('ARI: claimed but renewing before the window fails; not claimed is not applicable', async (t) => {
  const c = cert();
  const early = order({ id: 'o2', url: `${BASE}/acme/order/o2`, phase: 'renew', at: 3000 });
  const base = { certificates: [c], orders: [order(), early] };
  t.equal(verdict(record(base), 'acme-client:ari-window').status, 'not-applicable');
  const claimed = record({ ...base, claims: ['ARI'] });
  const v = verdict(claimed, 'acme-client:ari-window');
  t.equal(v.status, 'fail');
  t.match(v.evidence, /before the suggested window opened/);
  // Inside the pulled-forward window: [issued + 6 s, + 21 s].
  t.equal(verdict(record({ ...base, claims: ['ARI'], orders: [order(), { ...early, at: 1000 + 8000 }] }), 'acme-client:ari-window').status, 'pass');
  // Never renewed although the window closed before the run ended.
  t.equal(verdict(record({ ...base, claims: ['ARI'], orders: [order()], endedAt: 80_000 }), 'acme-client:ari-window').status, 'fail');
  t.equal(verdict(record({ ...base, claims: ['ARI'], orders: [order()], endedAt: 10_000 }), 'acme-client:ari-window').status, 'inconclusive');
});

t.test('ARI fetch, Retry-After and replaces', async (t) => {
  const c = cert();
  const renewal = order({ id: 'o2', url: `${BASE}/acme/order/o2`, phase: 'renew', at: 9000, replaces: 'AKI.aa' });
  const info = (at: number) => req({ resource: 'renewalInfo', at, method: 'GET', url: `${BASE}/acme/renewal-info/AKI.aa`, response: { status: 200, retryAfter: 2 } });
  const commands: ExchangeRecord['commands'] = [{ phase: 'renew', invocation: 2, argv: ['client'], startedAt: 8500, ms: 1000, exitCode: 0, outputTail: '' }];
  const r = record({ claims: ['ARI'], certificates: [c], orders: [order(), renewal], requests: [info(2000), info(7500)], commands });
  t.equal(verdict(r, 'acme-client:ari-fetch').status, 'pass');
  t.equal(verdict(r, 'acme-client:ari-retry-after').status, 'pass', 'fetched again after the pull at 7 s');
  t.equal(verdict(r, 'acme-client:ari-replaces').status, 'pass');
  t.equal(verdict({ ...r, requests: [info(2000)] }, 'acme-client:ari-retry-after').status, 'fail', 'one fetch only: the moved window was missed');
  t.equal(verdict({ ...r, requests: [{ ...info(2000), method: 'POST' }] }, 'acme-client:ari-fetch').status, 'fail', 'POST-as-GET is not how renewalInfo is read');
  t.equal(verdict({ ...r, orders: [order(), { ...renewal, replaces: undefined }] }, 'acme-client:ari-replaces').status, 'fail');
});

t.test('badNonce: a retry with a fresh nonce passes (naming its source); the rejected nonce again, a refused one, or giving up fails', async (t) => {
  const faulted = req({ resource: 'newOrder', at: 100, fault: 'badNonce', response: { status: 400, problem: 'urn:ietf:params:acme:error:badNonce', nonce: 'fresh' } });
  const retry = (nonce: string) => req({ resource: 'newOrder', at: 200, jws: { alg: 'ES256', nonce, payload: {} }, response: { status: 201 } });
  const withJws = { ...faulted, jws: { alg: 'ES256', nonce: 'old', payload: {} } };
  t.equal(verdict(record({ requests: [withJws, retry('fresh')] }), 'acme-client:bad-nonce-retry').status, 'pass');
  t.match(verdict(record({ requests: [withJws, retry('fresh')] }), 'acme-client:bad-nonce-retry').evidence, /Replay-Nonce of the error response/);
  t.equal(verdict(record({ requests: [withJws, retry('other')] }), 'acme-client:bad-nonce-retry').status, 'pass', 'a nonce from a new newNonce is acceptable (RFC 8555 §6.5 SHOULD)');
  t.equal(verdict(record({ requests: [withJws, retry('old')] }), 'acme-client:bad-nonce-retry').status, 'fail', 'the same rejected nonce');
  const refused = req({ resource: 'newOrder', at: 200, jws: { alg: 'ES256', nonce: 'x', payload: {} }, response: { status: 400, problem: 'urn:ietf:params:acme:error:badNonce' } });
  t.equal(verdict(record({ requests: [withJws, refused] }), 'acme-client:bad-nonce-retry').status, 'fail', 'a retry whose nonce is refused again');
  t.equal(verdict(record({ requests: [withJws] }), 'acme-client:bad-nonce-retry').status, 'fail');
  t.equal(verdict(record(), 'acme-client:bad-nonce-retry').status, 'inconclusive');
});

t.test('Retry-After: a poll before the interval fails; an action after it does not count', async (t) => {
  const jws = (payload: unknown) => ({ alg: 'ES256', payload });
  const fin = req({ resource: 'finalize', at: 100, group: 'order:o1', jws: jws({ csr: 'x' }), response: { status: 200, retryAfter: 2, resourceStatus: 'processing' } });
  const poll = (at: number) => req({ resource: 'order', at, group: 'order:o1', jws: jws('') });
  t.equal(verdict(record({ requests: [fin, poll(2200)] }), 'acme-client:retry-after').status, 'pass');
  t.equal(verdict(record({ requests: [fin, poll(600)] }), 'acme-client:retry-after').status, 'fail');
  const authz = req({ resource: 'authorization', at: 50, group: 'authz:a', jws: jws(''), response: { status: 200, retryAfter: 1, resourceStatus: 'pending' } });
  const answer = req({ resource: 'challenge', at: 60, group: 'authz:a', jws: jws({}) });
  t.equal(verdict(record({ requests: [authz, answer] }), 'acme-client:retry-after').status, 'inconclusive', 'answering the challenge is not a poll');
});

t.test('POST-as-GET, IP identifiers, new key on renewal, untrusted server', async (t) => {
  const jws = (payload: unknown) => ({ alg: 'ES256', payload });
  t.equal(verdict(record({ requests: [req({ resource: 'order', at: 1, jws: jws('') })] }), 'acme-client:post-as-get').status, 'pass');
  t.equal(verdict(record({ requests: [req({ resource: 'certificate', at: 1, method: 'GET', response: { status: 404 } })] }), 'acme-client:post-as-get').status, 'fail');

  const ip = (value: string, type = 'ip') => record({ claims: ['IP identifiers'], orders: [order({ requestedIdentifiers: [{ type, value }] })] });
  t.equal(verdict(ip('127.0.0.5'), 'acme-client:ip-identifier').status, 'pass');
  t.equal(verdict(ip('127.0.0.5', 'dns'), 'acme-client:ip-identifier').status, 'fail', 'an address sent as a dns identifier');
  t.equal(verdict(ip('2001:DB8::1'), 'acme-client:ip-identifier').status, 'fail', 'not RFC 5952 text');
  t.equal(verdict(record({ orders: [order()] }), 'acme-client:ip-identifier').status, 'not-applicable');

  const renewal = order({ id: 'o2', url: `${BASE}/acme/order/o2`, phase: 'renew', at: 3000, csrs: [{ seq: 9, at: 3100, identifiers: [], spkiSha256: 'k1', keyType: 'ecdsa-p256' }] });
  t.equal(verdict(record({ certificates: [cert()], orders: [order(), renewal] }), 'acme-client:new-key-on-renewal').status, 'fail', 'same SPKI as the first certificate');
  t.equal(verdict(record({ certificates: [cert()], orders: [order(), { ...renewal, csrs: [{ ...renewal.csrs[0], spkiSha256: 'k2' }] }] }), 'acme-client:new-key-on-renewal').status, 'pass');

  const phases: ExchangeRecord['phases'] = ['enroll', 'untrusted-server'];
  t.equal(verdict(record({ phases, tlsFailures: [{ at: 5, phase: 'untrusted-server', detail: 'alert 48' }] }), 'acme-client:server-authentication').status, 'pass');
  t.equal(verdict(record({ phases, requests: [req({ resource: 'directory', at: 5, method: 'GET', phase: 'untrusted-server' })] }), 'acme-client:server-authentication').status, 'fail');
});

t.test('orderNotReady and backoff', async (t) => {
  const jws = (payload: unknown) => ({ alg: 'ES256', payload });
  const faulted = req({ resource: 'finalize', at: 100, group: 'order:o1', fault: 'orderNotReady', jws: jws({ csr: 'x' }), response: { status: 403, problem: 'urn:ietf:params:acme:error:orderNotReady' } });
  const read = req({ resource: 'order', at: 150, group: 'order:o1', jws: jws(''), response: { status: 200, resourceStatus: 'ready' } });
  const again = req({ resource: 'finalize', at: 200, group: 'order:o1', jws: jws({ csr: 'x' }) });
  t.equal(verdict(record({ requests: [faulted, read, again] }), 'acme-client:order-not-ready').status, 'pass');
  t.equal(verdict(record({ requests: [faulted, again] }), 'acme-client:order-not-ready').status, 'fail', 'finalized again without reading');
  t.equal(verdict(record({ requests: [faulted] }), 'acme-client:order-not-ready').status, 'fail', 'gave up');

  const failed = req({ resource: 'finalize', at: 100, jws: jws({ csr: 'x' }), response: { status: 400, problem: 'urn:ietf:params:acme:error:badCSR' } });
  const tight = req({ resource: 'newOrder', at: 5_000, jws: jws({}) });
  t.equal(verdict(record({ requests: [failed, tight] }), 'acme-client:backoff').status, 'fail');
  t.equal(verdict(record({ requests: [failed, { ...tight, invocation: 2 }] }), 'acme-client:backoff').status, 'inconclusive', 'a re-run by the kit is not the client retrying');
});
