/**
 * OcspCache on its own: at most `maxEntries` answers (least recently used dropped first), and concurrent
 * misses of one query share one signature. The listener-level behaviour (reuse, revocation, nonces,
 * real openssl) is in ocsp-cached-answers.test.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { OcspCache } from '../../../src/acme/distribution/ocsp-cache.ts';
import { OcspResponder } from '../../../src/pki/ocsp.ts';
import { testCa } from '../../helpers/ca.ts';
import { openssl } from '../../helpers/openssl.ts';

t.test('OcspCache: bounded, and concurrent misses share one signature', async (t) => {
  const { ca, work } = await testCa(t);
  const responder = new OcspResponder(ca);
  let signed = 0;
  const sign = responder.sign.bind(responder);
  responder.sign = (...args) => { signed++; return sign(...args); };
  const cache = new OcspCache(responder, ca.store, 2);
  const mid = join(work, 'ec.pem');
  writeFileSync(mid, ca.issuerPem('ecdsa-1'));
  const query = async (serial: string) => {
    const p = join(work, `${serial}.req`);
    openssl(['ocsp', '-issuer', mid, '-serial', `0x${serial}`, '-no_nonce', '-reqout', p]);
    const parsed = await responder.parse(new Uint8Array(readFileSync(p)));
    if ('error' in parsed) throw new Error(parsed.error.reason);
    return parsed.query;
  };
  const [q1, q2, q3] = [await query('01'), await query('02'), await query('03')];
  const [a, b] = await Promise.all([cache.fill(q1), cache.fill(q1)]);
  t.equal(signed, 1, 'one signature for two concurrent misses');
  t.equal(a, b);
  t.ok(cache.lookup(q1), 'hit');
  await cache.fill(q2);
  await cache.fill(q3);
  t.equal(cache.size, 2, 'at most maxEntries');
  t.notOk(cache.lookup(q1), 'the least recently used entry was dropped');
  t.ok(cache.lookup(q3));
});
