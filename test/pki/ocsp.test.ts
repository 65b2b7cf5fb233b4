/**
 * OcspResponder (RFC 6960) without HTTP: requests made by `openssl ocsp -reqout` (a real client) and
 * hostile variations built with @peculiar/asn1-ocsp; responses checked by `openssl ocsp -respin`.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Extension } from '@peculiar/asn1-x509';
import { BasicOCSPResponse, id_pkix_ocsp_nonce, OCSPRequest, OCSPResponse, Request, TBSRequest } from '@peculiar/asn1-ocsp';
import t from 'tap';
import { OcspResponder, ocspErrorResponse } from '../../src/pki/ocsp.ts';
import { testCa } from '../helpers/ca.ts';
import { openssl } from '../helpers/openssl.ts';
import { mutate, prng } from '../protocols/fixtures/helpers.ts';

function opensslOut(args: string[]): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`;
}

t.test('OcspResponder', async (t) => {
  const { ca, work } = await testCa(t);
  const now = Math.floor(Date.now() / 1000) * 1000;
  const responder = new OcspResponder(ca, { validityMs: 30 * 60_000, now: () => now });
  const path = (name: string, data?: string | Uint8Array) => { const p = join(work, name); if (data !== undefined) writeFileSync(p, data); return p; };
  const root = path('root.pem', ca.rootPem);
  const ecMid = path('ec.pem', ca.issuerPem('ecdsa-1'));
  const rsaMid = path('rsa.pem', ca.issuerPem('rsa-1'));
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const { record } = await ca.issue({ spki, keyType: 'ecdsa-p256', identifiers: [{ type: 'dns', value: 'pacs.klinikum.internal' }], profile: 'dicom-node' });
  const leaf = path('leaf.pem', record.pem);
  const request = (name: string, args: string[]) => { const p = path(name); openssl(['ocsp', ...args, '-reqout', p]); return new Uint8Array(readFileSync(p)); };
  const parseBasic = (der: Uint8Array) => {
    const resp = AsnConvert.parse(der, OCSPResponse);
    return AsnConvert.parse(resp.responseBytes!.response.buffer, BasicOCSPResponse);
  };

  t.test('SHA-256 CertID (openssl -sha256): good, thisUpdate/nextUpdate from the injected clock', async (t) => {
    const answer = await responder.respond(request('sha256.req', ['-issuer', ecMid, '-sha256', '-cert', leaf, '-no_nonce']));
    t.equal(answer.status, 'successful');
    t.same(answer.certificates, [{ serial: record.serial, status: 'good' }]);
    t.equal(answer.thisUpdate?.getTime(), now);
    t.equal(answer.nextUpdate?.getTime(), now + 30 * 60_000);
    const out = opensslOut(['ocsp', '-respin', path('sha256.resp', answer.der), '-issuer', ecMid, '-sha256', '-cert', leaf, '-CAfile', root, '-no_nonce']);
    t.match(out, 'Response verify OK');
    t.match(out, `${leaf}: good`);
  });

  t.test('the nonce is echoed byte for byte', async (t) => {
    const der = request('nonce.req', ['-issuer', ecMid, '-cert', leaf]);
    const sent = AsnConvert.parse(der, OCSPRequest).tbsRequest.requestExtensions!.find((e) => e.extnID === id_pkix_ocsp_nonce)!;
    const basic = parseBasic((await responder.respond(der)).der);
    const echoed = basic.tbsResponseData.responseExtensions!.find((e) => e.extnID === id_pkix_ocsp_nonce)!;
    t.same(Buffer.from(echoed.extnValue.buffer), Buffer.from(sent.extnValue.buffer));
  });

  const base = AsnConvert.parse(request('base.req', ['-issuer', ecMid, '-cert', leaf, '-no_nonce']), OCSPRequest);
  const rebuild = (mod: (tbs: TBSRequest) => void) => {
    const copy = AsnConvert.parse(AsnConvert.serialize(base), OCSPRequest);
    mod(copy.tbsRequest);
    delete copy.tbsRequestRaw;
    return new Uint8Array(AsnConvert.serialize(copy));
  };

  t.test('a nonce longer than 32 octets is not echoed (RFC 8954 §2.1)', async (t) => {
    const long = new OctetString(AsnConvert.serialize(new OctetString(new Uint8Array(64).fill(7))));
    const der = rebuild((tbs) => { tbs.requestExtensions = [new Extension({ extnID: id_pkix_ocsp_nonce, extnValue: long })]; });
    const basic = parseBasic((await responder.respond(der)).der);
    t.equal(basic.tbsResponseData.responseExtensions, undefined);
  });

  t.test('error statuses', async (t) => {
    const cases: Array<[string, Uint8Array, string]> = [
      ['empty body', new Uint8Array(0), 'malformedRequest'],
      ['not DER', new TextEncoder().encode('GET / HTTP/1.1'), 'malformedRequest'],
      ['truncated request', new Uint8Array(AsnConvert.serialize(base)).subarray(0, 40), 'malformedRequest'],
      ['empty request list', rebuild((tbs) => { tbs.requestList = []; }), 'malformedRequest'],
      ['17 requests', rebuild((tbs) => { tbs.requestList = Array.from({ length: 17 }, () => tbs.requestList[0]); }), 'malformedRequest'],
      ['MD5 CertID', rebuild((tbs) => { tbs.requestList[0].reqCert.hashAlgorithm = new AlgorithmIdentifier({ algorithm: '1.2.840.113549.2.5', parameters: null }); }), 'malformedRequest'],
      ['foreign issuer key hash', rebuild((tbs) => { tbs.requestList[0].reqCert.issuerKeyHash = new OctetString(new Uint8Array(20)); }), 'unauthorized'],
      ['two issuers in one request', (() => {
        const rsaReq = AsnConvert.parse(request('rsa.req', ['-issuer', rsaMid, '-serial', '0x01', '-no_nonce']), OCSPRequest);
        return rebuild((tbs) => { tbs.requestList = [tbs.requestList[0], new Request({ reqCert: rsaReq.tbsRequest.requestList[0].reqCert })]; });
      })(), 'unauthorized'],
    ];
    for (const [label, der, status] of cases) {
      const answer = await responder.respond(der);
      t.equal(answer.status, status, `${label}: ${answer.reason}`);
      t.same(Buffer.from(answer.der), Buffer.from(ocspErrorResponse(status as 'malformedRequest')), `${label}: an unsigned error response`);
    }
    t.match(opensslOut(['ocsp', '-respin', path('unauth.resp', ocspErrorResponse('unauthorized'))]), /unauthorized \(6\)/);
  });

  t.test('revoked with reason; unspecified reason; unknown serial', async (t) => {
    ca.revoke(record.serial, 5, 'test'); // openssl names reasons up to removeFromCRL (8) only
    const answer = await responder.respond(request('rev.req', ['-issuer', ecMid, '-cert', leaf, '-serial', '0x42', '-no_nonce']));
    t.same(answer.certificates, [{ serial: record.serial, status: 'revoked' }, { serial: '42', status: 'unknown' }]);
    const out = opensslOut(['ocsp', '-respin', path('rev.resp', answer.der), '-issuer', ecMid, '-cert', leaf, '-serial', '0x42', '-CAfile', root, '-no_nonce']);
    t.match(out, 'Response verify OK');
    t.match(out, 'Reason: cessationOfOperation');
    t.match(out, '0x42: unknown');
  });

  t.test('hostile mutations of a real request never throw', async (t) => {
    const rand = prng(6960);
    const good = new Uint8Array(AsnConvert.serialize(base));
    const seen = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const answer = await responder.respond(new Uint8Array(mutate(rand, Buffer.from(good))));
      seen.add(answer.status);
    }
    t.ok(seen.has('malformedRequest'), `statuses seen: ${[...seen].join(', ')}`);
  });
});

t.test('a P-384 issuing intermediate signs ECDSA-with-SHA384 responses openssl verifies', async (t) => {
  const { ca, work } = await testCa(t, { ecdsaKeyType: 'ecdsa-p384' });
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const { record } = await ca.issue({ spki, keyType: 'ecdsa-p384', identifiers: [{ type: 'ip', value: '10.20.0.7' }], profile: 'dicom-node' });
  const file = (name: string, data: string | Uint8Array) => { const p = join(work, name); writeFileSync(p, data); return p; };
  const mid = file('mid.pem', ca.issuerPem('ecdsa-1'));
  const leaf = file('leaf.pem', record.pem);
  const req = join(work, 'req.der');
  openssl(['ocsp', '-issuer', mid, '-cert', leaf, '-no_nonce', '-reqout', req]);
  const answer = await new OcspResponder(ca).respond(new Uint8Array(readFileSync(req)));
  const out = opensslOut(['ocsp', '-respin', file('resp.der', answer.der), '-issuer', mid, '-cert', leaf, '-CAfile', file('root.pem', ca.rootPem), '-no_nonce', '-resp_text']);
  t.match(out, 'ecdsa-with-SHA384');
  t.match(out, 'Response verify OK');
  t.match(out, `${leaf}: good`);
});
