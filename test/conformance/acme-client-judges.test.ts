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

// What Node 20's tlsClientError says on the kit's side, as recorded in /tmp runs against OpenSSL 3.0.
const openssl = (fn: string, reason: string, tail = '') => `80DCABEB677F0000:error:0A000000:SSL routines:${fn}:${reason}:../deps/openssl/openssl/ssl/x.c:1601:${tail}\n`;
const UNKNOWN_CA = openssl('ssl3_read_bytes', 'tlsv1 alert unknown ca', 'SSL alert number 48'); // OpenSSL clients: certbot, curl

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
  t.equal(verdict(record({ phases, tlsFailures: [{ at: 5, phase: 'untrusted-server', detail: UNKNOWN_CA, serverBytes: 776 }] }), 'acme-client:server-authentication').status, 'pass');
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

t.test('untrusted server: only a refusal of the certificate passes; a failed negotiation or an early hang-up is inconclusive', async (t) => {
  const phases: ExchangeRecord['phases'] = ['enroll', 'untrusted-server'];
  const judge = (...failures: Array<{ detail: string; serverBytes?: number }>) =>
    verdict(record({ phases, tlsFailures: failures.map((f, i) => ({ at: 5 + i, phase: 'untrusted-server' as const, ...f })) }), 'acme-client:server-authentication');
  const goBadCertificate = openssl('ssl3_read_bytes', 'sslv3 alert bad certificate', 'SSL alert number 42'); // lego (Go crypto/tls)
  t.match(judge({ detail: UNKNOWN_CA, serverBytes: 776 }), { status: 'pass', evidence: /certificate alert \(unknown_ca \(48\)\)/ });
  t.match(judge({ detail: goBadCertificate, serverBytes: 776 }), { status: 'pass', evidence: /bad_certificate \(42\)/ });
  t.match(judge({ detail: openssl('ssl3_read_bytes', 'sslv3 alert certificate expired') }), { status: 'pass', evidence: /certificate_expired \(45\)/ }, 'OpenSSL reason without the alert number');
  // Node's https client checks the certificate after OpenSSL's handshake and just drops the socket (npm acme-client).
  t.match(judge({ detail: 'socket hang up', serverBytes: 775 }), { status: 'pass', evidence: /without an alert after receiving the server's certificate flight \(775 bytes\)/ });

  const cases: Array<[string, { detail: string; serverBytes?: number }, RegExp]> = [
    ['no shared cipher', { detail: openssl('tls_post_process_client_hello', 'no shared cipher') }, /negotiation failed before any certificate was judged: no shared cipher/],
    ['TLS 1.1 only', { detail: openssl('tls_early_post_process_client_hello', 'unsupported protocol') }, /unsupported protocol/],
    ['plain HTTP on the HTTPS port', { detail: openssl('ssl3_get_record', 'http request') }, /http request/],
    ['hang-up before the server sent anything', { detail: 'socket hang up', serverBytes: 0 }, /before the server sent anything/],
    ['hang-up, bytes not recorded', { detail: 'socket hang up' }, /was not recorded/],
    ['a non-certificate alert', { detail: openssl('ssl3_read_bytes', 'sslv3 alert handshake failure', 'SSL alert number 40') }, /alert 40, not a certificate alert/],
    ['handshake timeout', { detail: 'TLS handshake timeout' }, /TLS handshake timeout/],
  ];
  for (const [name, failure, evidence] of cases) t.match(judge(failure), { status: 'inconclusive', evidence }, name);
  t.equal(judge({ detail: 'socket hang up', serverBytes: 0 }, { detail: UNKNOWN_CA }).status, 'pass', 'one refused certificate among other failures is enough');
});

t.test('renewal timing without ARI: the renewal run must obtain a certificate, not only order one', async (t) => {
  const c = cert();
  const run: ExchangeRecord['commands'] = [{ phase: 'renew', invocation: 2, argv: ['client'], startedAt: 8500, ms: 2000, exitCode: 1, outputTail: '' }];
  const o2 = order({ id: 'o2', url: `${BASE}/acme/order/o2`, phase: 'renew', at: 9000, status: 'invalid',
    authorizations: [{ identifier: { type: 'dns', value: 'device.test' }, status: 'invalid', challenges: [{ type: 'http-01', status: 'invalid', error: 'urn:ietf:params:acme:error:connection: connection refused' }] }] });
  const made = req({ resource: 'newOrder', at: 8990, phase: 'renew', invocation: 2, response: { status: 201, location: o2.url } });
  const failed = record({ certificates: [c], orders: [order(), o2], requests: [made], commands: run });
  const v = verdict(failed, 'acme-client:renewal-timing');
  t.equal(v.status, 'fail', 'an order that ended invalid is no renewal');
  t.match(v.evidence, /obtained none: the order ended invalid \(http-01 for device\.test: urn:ietf:params:acme:error:connection: connection refused\)/);
  const issued = record({ certificates: [c, cert({ serial: 'bb', certId: 'AKI.bb', orderId: 'o2', phase: 'renew', issuedAt: 9500 })], orders: [order(), { ...o2, status: 'valid', authorizations: [] }], requests: [made], commands: run });
  t.match(verdict(issued, 'acme-client:renewal-timing'), { status: 'pass', evidence: /ordered and obtained a new certificate/ });
});

t.test('ARI: renewalInfo fetched again before its Retry-After is remarked (RFC 9773 §4.3.2 SHOULD), within one run only', async (t) => {
  const c = cert();
  const renewal = order({ id: 'o2', url: `${BASE}/acme/order/o2`, phase: 'renew', at: 9000, replaces: 'AKI.aa' });
  const info = (at: number, invocation = 2) => req({ resource: 'renewalInfo', at, invocation, method: 'GET', url: `${BASE}/acme/renewal-info/AKI.aa`, response: { status: 200, retryAfter: 2 } });
  const commands: ExchangeRecord['commands'] = [{ phase: 'renew', invocation: 2, argv: ['client'], startedAt: 1500, ms: 8000, exitCode: 0, outputTail: '' }];
  const base = { claims: ['ARI'], certificates: [c], orders: [order(), renewal], commands };
  const early = verdict(record({ ...base, requests: [info(2000), info(2600), info(7500)] }), 'acme-client:ari-retry-after');
  t.equal(early.status, 'pass', 'a SHOULD: the moved window was still seen');
  t.match(early.evidence, /Remark \(RFC 9773 §4\.3\.2 SHOULD\): 1 renewalInfo fetch\(es\) came before Retry-After had elapsed: 0\.6 s after a Retry-After of 2 s/);
  t.notMatch(verdict(record({ ...base, requests: [info(2000), info(3950), info(7500)] }), 'acme-client:ari-retry-after').evidence, /Remark/, '1.95 s of 2 s is within the 10 % allowance');
  t.notMatch(verdict(record({ ...base, requests: [info(2000, 1), info(2600, 2), info(7500)] }), 'acme-client:ari-retry-after').evidence, /Remark/, 'a new run started by the kit is not the client polling');
  t.match(verdict(record({ ...base, requests: [info(2000), info(2600)] }), 'acme-client:ari-retry-after'), { status: 'fail', evidence: /missed the window.*Remark/ });
});

t.test('ARI: every renewal is judged, not only the first certificate\'s', async (t) => {
  const c1 = cert();
  // The renew phase renews c1 inside its pulled-forward window (6..21 s after issuance); that renewal gets c2.
  const r1 = order({ id: 'o2', url: `${BASE}/acme/order/o2`, phase: 'renew', at: 9000, replaces: 'AKI.aa' });
  const c2 = cert({ serial: 'bb', certId: 'AKI.bb', orderId: 'o2', phase: 'renew', issuedAt: 10_000, notAfter: '2026-01-01T00:00:20.000Z' });
  const r2 = order({ id: 'o3', url: `${BASE}/acme/order/o3`, phase: 'order-not-ready', at: 15_000, replaces: 'AKI.bb' });
  const run = (startedAt: number, ms: number, invocation: number): ExchangeRecord['commands'][number] => ({ phase: 'order-not-ready', invocation, argv: ['client'], startedAt, ms, exitCode: 0, outputTail: '' });
  const made = (o: RecordedOrder, invocation: number) => req({ resource: 'newOrder', at: o.at - 10, invocation, response: { status: 201, location: o.url } });
  const base = { claims: ['ARI'], certificates: [c1, c2], commands: [run(8500, 2000, 2), run(14_000, 2000, 3)], requests: [made(r1, 2)] };
  const good = record({ ...base, orders: [order(), r1, r2] });
  t.match(verdict(good, 'acme-client:ari-replaces'), { status: 'pass', evidence: /all 2 renewal order\(s\).*AKI\.aa, AKI\.bb/ });
  t.match(verdict(good, 'acme-client:ari-window'), { status: 'pass', evidence: /all 2 renewal\(s\)/ });

  const noReplaces = verdict(record({ ...base, orders: [order(), r1, { ...r2, replaces: undefined }] }), 'acme-client:ari-replaces');
  t.equal(noReplaces.status, 'fail', 'the second renewal forgot replaces');
  t.match(noReplaces.evidence, /1 of 2 .*order-not-ready renewal order carried no "replaces"; expected AKI\.bb/);
  t.match(verdict(record({ ...base, orders: [order(), r1, { ...r2, replaces: 'AKI.aa' }] }), 'acme-client:ari-replaces'), { status: 'fail', evidence: /expected AKI\.bb/ }, 'naming the first certificate again');

  // c2's window is [issuance, notAfter] = [10 s, 20 s]: a renewal at 30 s by a client running all along is late...
  const late = { ...r2, at: 30_000 };
  const lateVerdict = verdict(record({ ...base, commands: [run(8500, 2000, 2), run(14_000, 17_000, 3)], orders: [order(), r1, late] }), 'acme-client:ari-window');
  t.match(lateVerdict, { status: 'fail', evidence: /1 of 2 renewal\(s\) outside the suggested window: 10\.0 s after the suggested window closed \(certificate bb/ });
  // ...but a run the kit started after the window closed renews at once, as RFC 9773 §4.2 asks.
  t.match(verdict(record({ ...base, commands: [run(8500, 2000, 2), run(29_000, 2000, 3)], orders: [order(), r1, late] }), 'acme-client:ari-window'), { status: 'pass', evidence: /in a run the kit started later/ });
});
