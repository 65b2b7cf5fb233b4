/**
 * Found in review: a request that arrived after a revocation, while the answer for its query was still
 * being signed (RSA-2048: 1-2 ms), joined that signing and got the `good` it had read before the
 * revocation. A signing is shared only while the store still says what it reports.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicOCSPResponse, OCSPResponse } from '@peculiar/asn1-ocsp';
import t from 'tap';
import { OcspCache } from '../../../src/acme/distribution/ocsp-cache.ts';
import { OcspResponder } from '../../../src/pki/ocsp.ts';
import { testCa } from '../../helpers/ca.ts';
import { openssl } from '../../helpers/openssl.ts';

const certStatus = (der: Uint8Array) => {
  const basic = AsnConvert.parse(AsnConvert.parse(der, OCSPResponse).responseBytes!.response.buffer, BasicOCSPResponse);
  const s = basic.tbsResponseData.responses[0].certStatus;
  return s.good !== undefined ? 'good' : s.revoked !== undefined ? 'revoked' : 'unknown';
};

t.test('a revocation during a signing: later requests do not join it', async (t) => {
  const { ca, work } = await testCa(t);
  const mid = join(work, 'rsa-1.pem');
  writeFileSync(mid, ca.issuerPem('rsa-1'));
  const responder = new OcspResponder(ca);
  const leafQuery = async (name: string) => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
    const { record } = await ca.issue({ spki, keyType: 'rsa-2048', identifiers: [{ type: 'dns', value: `${name}.klinikum.internal` }], profile: 'dicom-node' });
    const leaf = join(work, `${name}.pem`); const req = join(work, `${name}.req`);
    writeFileSync(leaf, record.pem);
    openssl(['ocsp', '-issuer', mid, '-cert', leaf, '-no_nonce', '-reqout', req]);
    const parsed = await responder.parse(new Uint8Array(readFileSync(req)));
    if ('error' in parsed) throw new Error(parsed.error.reason);
    return { serial: record.serial, query: parsed.query };
  };

  // The listener calls lookup, then fill on a miss: both must refuse the stale signing.
  for (const via of ['lookup', 'fill'] as const) {
    const { serial, query } = await leafQuery(`his-${via}`);
    const cache = new OcspCache(responder, ca.store, 10);
    const before = cache.fill(query); // has read `good`; the signature is still being computed
    ca.revoke(serial, 1, 'test');
    const after = via === 'lookup' ? cache.lookup(query) ?? cache.fill(query) : cache.fill(query);
    t.not(after, before, `${via}: a signing of its own`);
    t.equal(certStatus((await after).der), 'revoked', `${via} after the revocation: revoked`);
    t.equal(certStatus((await before).der), 'good', `${via}: the earlier request got what was true when it asked`);
    t.equal(certStatus((await cache.lookup(query)!).der), 'revoked', `${via}: later requests get the revoked answer`);
  }
});
