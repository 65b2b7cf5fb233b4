/**
 * A client that enrolls with a P-256 key and renews with an RSA-1024 one: the test CA refuses the second
 * CSR for its key, and ICM-ENR-008 (csr-key) must fail on it instead of judging the first CSR alone.
 * CSRs are made with the openssl CLI and read back through the kit's own collector (csrOf).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ACME_CLIENT_CHECKS, DEFAULT_FAULT_PLAN, type ExchangeRecord } from '../../src/conformance/index.ts';
import { csrOf } from '../../src/conformance/acme-client/collect.ts';
import type { RecordedCsr, RecordedOrder, RecordedRequest } from '../../src/conformance/acme-client/exchange.ts';
import { tempDir } from '../helpers/tmp.ts';

function csrDer(dir: string, name: string, keyArgs: string[]): string {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  execFileSync('openssl', ['genpkey', ...keyArgs, '-out', key], { stdio: 'pipe' });
  execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=device.test', '-addext', 'subjectAltName=DNS:device.test', '-outform', 'DER', '-out', csr], { stdio: 'pipe' });
  return readFileSync(csr).toString('base64url');
}

async function recorded(seq: number, csr: string): Promise<RecordedCsr> {
  const c = await csrOf({ seq, at: seq * 1000, jws: { payload: { csr } } } as unknown as RecordedRequest);
  if (!c) throw new Error('no CSR read back');
  return c;
}

const order = (id: string, phase: string, at: number, csrs: RecordedCsr[]): RecordedOrder => ({
  id, url: `https://127.64.1.1/acme/order/${id}`, phase, at, requestedIdentifiers: [{ type: 'dns', value: 'device.test' }],
  identifiers: [{ type: 'dns', value: 'device.test' }], status: phase === 'enroll' ? 'valid' : 'invalid', authorizations: [], csrs,
} as RecordedOrder);

function record(orders: RecordedOrder[]): ExchangeRecord {
  return {
    directoryUrl: 'https://127.64.1.1/acme/directory', startedAt: '2026-01-01T00:00:00.000Z', claims: [], plan: DEFAULT_FAULT_PLAN, phases: ['enroll', 'renew'],
    requests: [], tlsFailures: [], faults: [], orders, certificates: [], windows: [], commands: [], endedAt: 60_000, notes: [],
  } as ExchangeRecord;
}

t.test('a renewal CSR with an RSA-1024 key fails csr-key although the first CSR was fine', async (t) => {
  const dir = tempDir(t);
  const good = await recorded(1, csrDer(dir, 'p256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']));
  const weak = await recorded(2, csrDer(dir, 'rsa1024', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024']));
  t.equal(good.error, undefined, 'the P-256 CSR is accepted');
  t.equal(weak.keyRejected, true, `the RSA-1024 CSR is refused for its key: ${weak.error}`);
  const v = ACME_CLIENT_CHECKS['acme-client:csr-key'].judge(record([order('o1', 'enroll', 500, [good]), order('o2', 'renew', 30_000, [weak])]));
  t.equal(v.status, 'fail', v.evidence);
  t.match(v.evidence, /renew order: CSR key RSA/);
});

t.test('only a CSR that cannot be parsed at all stays out of csr-key (csr-identifiers fails it)', async (t) => {
  const dir = tempDir(t);
  const good = await recorded(1, csrDer(dir, 'p256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']));
  const junk = await recorded(2, Buffer.from('not a CSR').toString('base64url'));
  t.ok(junk.error && !junk.keyRejected, `junk is an unparsable CSR, not a key refusal: ${junk.error}`);
  const v = ACME_CLIENT_CHECKS['acme-client:csr-key'].judge(record([order('o1', 'enroll', 500, [good, junk])]));
  t.equal(v.status, 'pass', v.evidence);
  t.equal(ACME_CLIENT_CHECKS['acme-client:csr-identifiers'].judge(record([order('o1', 'enroll', 500, [good, junk])])).status, 'fail');
});
