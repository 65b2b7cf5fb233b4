import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate, CRLReason, Extension } from '@peculiar/asn1-x509';
import {
  BasicOCSPResponse, CertID, CertStatus, id_pkix_ocsp_basic, id_pkix_ocsp_nonce, OCSPRequest, OCSPResponse, OCSPResponseStatus,
  ResponderID, ResponseBytes, ResponseData, RevokedInfo, SingleResponse, KeyHash,
} from '@peculiar/asn1-ocsp';
import type { CertificateRecord } from '../store/types.ts';
import type { CertificateAuthority } from './ca.ts';
import { derSequence, derTlv } from './der.ts';
import { isRsa, signingAlgorithm } from './key-types.ts';
import type { IssuerHandle } from './leaf.ts';
import { normalizeSerial } from './serial.ts';
import { subtle } from './x509.ts';

export type OcspResponseStatusName = 'successful' | 'malformedRequest' | 'internalError' | 'tryLater' | 'sigRequired' | 'unauthorized';
export type OcspCertStatusName = 'good' | 'revoked' | 'unknown';

export interface OcspAnswer {
  /** DER OCSPResponse, ready for `application/ocsp-response`. */
  der: Uint8Array;
  status: OcspResponseStatusName;
  /** Per requested certificate, for logs and HTTP caching. */
  certificates: Array<{ serial: string; status: OcspCertStatusName }>;
  /** Whether the answer echoes a request nonce (then it is not cacheable: it answers one request only). */
  nonce: boolean;
  thisUpdate?: Date;
  nextUpdate?: Date;
  /** Why a non-successful status was chosen (never sent to the client, which only gets the status). */
  reason?: string;
}

export interface OcspResponderOptions {
  /** nextUpdate - thisUpdate. Short: revocation is the point of asking (default 1 hour). */
  validityMs?: number;
  /** RFC 6960 §4.1.1 allows several requests in one; more than this is refused as malformed. */
  maxRequests?: number;
  now?: () => number;
}

/** RFC 6960 §4.1.1 CertID hash algorithms we answer for: SHA-1 (what OpenSSL and most clients send) and SHA-2. */
const HASHES: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1', '2.16.840.1.101.3.4.2.1': 'sha256', '2.16.840.1.101.3.4.2.2': 'sha384', '2.16.840.1.101.3.4.2.3': 'sha512',
};

const STATUS_NAMES: Record<number, OcspResponseStatusName> = {
  0: 'successful', 1: 'malformedRequest', 2: 'internalError', 3: 'tryLater', 5: 'sigRequired', 6: 'unauthorized',
};

/** An unsigned OCSPResponse carrying only an error status (RFC 6960 §4.2.1: no responseBytes). */
export function ocspErrorResponse(status: Exclude<OcspResponseStatusName, 'successful'>): Uint8Array {
  const code = Number(Object.keys(STATUS_NAMES).find((k) => STATUS_NAMES[Number(k)] === status));
  return new Uint8Array(AsnConvert.serialize(new OCSPResponse({ responseStatus: code as OCSPResponseStatus })));
}

interface IssuerIds {
  id: string;
  handle: IssuerHandle;
  /** hash name -> hex of H(issuer subject DN) and H(issuer public key BIT STRING value). */
  nameHash: Map<string, string>;
  keyHash: Map<string, string>;
  /** SHA-1 key hash, the ResponderID byKey (RFC 6960 §4.2.1). */
  responderKeyHash: Buffer;
}

function issuerIds(id: string, handle: IssuerHandle): IssuerIds {
  const cert = AsnConvert.parse(handle.cert.rawData, Certificate);
  const nameDer = Buffer.from(AsnConvert.serialize(cert.tbsCertificate.subject));
  const keyBits = Buffer.from(cert.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey);
  const nameHash = new Map<string, string>();
  const keyHash = new Map<string, string>();
  for (const h of new Set(Object.values(HASHES))) {
    nameHash.set(h, createHash(h).update(nameDer).digest('hex'));
    keyHash.set(h, createHash(h).update(keyBits).digest('hex'));
  }
  return { id, handle, nameHash, keyHash, responderKeyHash: createHash('sha1').update(keyBits).digest() };
}

/** WebCrypto ECDSA signatures are r||s; X.509 and OCSP carry Ecdsa-Sig-Value (RFC 5480 §2.2.3 / RFC 3279 §2.2.3). */
function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  const int = (bytes: Uint8Array) => {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    const trimmed = bytes.subarray(i);
    return derTlv(0x02, trimmed[0] & 0x80 ? Uint8Array.of(0, ...trimmed) : trimmed);
  };
  return derSequence([int(raw.subarray(0, half)), int(raw.subarray(half))]);
}

function signatureAlgorithmId(handle: IssuerHandle): AlgorithmIdentifier {
  if (isRsa(handle.key.type)) return new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: null }); // sha256WithRSAEncryption
  return new AlgorithmIdentifier({ algorithm: handle.key.type === 'ecdsa-p384' ? '1.2.840.10045.4.3.3' : '1.2.840.10045.4.3.2' }); // ecdsa-with-SHA384/256
}

/** Whole seconds: GeneralizedTime without fractions, as RFC 5280 §4.1.2.5.2 asks of certificates. */
const seconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

/**
 * The store key a CertID's serial names. Found in review: the INTEGER's content octets were taken as an
 * unsigned number, so serial -0x590c... (content A6 F3 ..., no 0x00 pad) named the certificate with
 * serial 0xa6f3... and got a signed `good`. Our serials are positive (RFC 5280 §4.1.2.2), so a negative
 * one (top bit of the first octet set) was never issued: it gets a key no certificate has, hence `unknown`.
 */
function certIdSerial(buf: ArrayBuffer): string {
  const bytes = new Uint8Array(buf);
  const hex = Buffer.from(bytes).toString('hex');
  return bytes.length > 0 && bytes[0] & 0x80 ? `-${hex}` : normalizeSerial(hex);
}

/**
 * Every field of a CertID, as the answer echoes it (parameters included: absent, NULL or other). Built
 * from the parsed fields because re-serializing the CertID costs as much as parsing the whole request.
 */
function certIdKey(c: CertID): string {
  const params = c.hashAlgorithm.parameters;
  const hex = (b: ArrayBuffer) => Buffer.from(b).toString('hex');
  return [c.hashAlgorithm.algorithm, params === undefined ? '-' : params === null ? 'null' : hex(params),
    hex(c.issuerNameHash.buffer), hex(c.issuerKeyHash.buffer), hex(c.serialNumber)].join('/');
}

/** What an answer says about one certificate: the status, and for `revoked` the time and reason. */
export interface OcspCertState {
  status: OcspCertStatusName;
  revokedAt?: string;
  reason?: number;
}

/**
 * The state of `record` as the responder for `issuerId` reports it: a serial we never issued under that
 * issuer is `unknown`. One function for signing and for checking a cached answer against the store, so
 * the two cannot disagree about what changed.
 */
export function ocspCertState(record: CertificateRecord | undefined, issuerId: string): OcspCertState {
  if (!record || record.issuerId !== issuerId) return { status: 'unknown' };
  if (record.status === 'revoked') return { status: 'revoked', revokedAt: record.revokedAt, reason: record.revocationReason };
  return { status: 'good' };
}

/**
 * A request that passed every check and can be signed: one issuer, its CertIDs in request order, and
 * the nonce to echo. Without the nonce the answer depends on `key` alone: the issuer and every field of
 * each CertID (the answer echoes them), so requests that differ only in other bytes share one answer.
 */
export interface OcspQuery {
  issuerId: string;
  serials: string[];
  key: string;
  /** RFC 8954 §2.1 Nonce (extnValue) of 1..32 octets; out of range it is ignored and not echoed. */
  nonce?: OctetString;
  certIds: CertID[];
}

/**
 * OCSP responder (RFC 6960) for every issuing intermediate of a CA. Responses are signed directly by the
 * intermediate that issued the certificate (§2.6: the CA itself may sign), so clients need no delegated
 * responder certificate. A certificate of ours is `good` or `revoked` (with time and reason); a serial we
 * never issued under that issuer is `unknown`; an issuer we do not have gets `unauthorized` (§2.3).
 * `parse` and `sign` are the two halves of `respond`, for callers that reuse signed answers.
 */
export class OcspResponder {
  private readonly ids = new Map<string, IssuerIds>();
  private readonly validityMs: number;
  private readonly maxRequests: number;
  private readonly now: () => number;

  constructor(private readonly ca: CertificateAuthority, opts: OcspResponderOptions = {}) {
    this.validityMs = opts.validityMs ?? 3_600_000;
    this.maxRequests = opts.maxRequests ?? 16;
    this.now = opts.now ?? Date.now;
  }

  private async issuers(): Promise<IssuerIds[]> {
    const out: IssuerIds[] = [];
    for (const info of this.ca.meta.issuers) {
      let ids = this.ids.get(info.id);
      if (!ids) {
        ids = issuerIds(info.id, await this.ca.issuer(info.id));
        this.ids.set(info.id, ids);
      }
      out.push(ids);
    }
    return out;
  }

  private async match(certId: CertID): Promise<IssuerIds | undefined> {
    const hash = HASHES[certId.hashAlgorithm.algorithm];
    if (!hash) return undefined;
    const name = Buffer.from(certId.issuerNameHash.buffer).toString('hex');
    const key = Buffer.from(certId.issuerKeyHash.buffer).toString('hex');
    return (await this.issuers()).find((i) => i.nameHash.get(hash) === name && i.keyHash.get(hash) === key);
  }

  /** Answers one DER OCSPRequest. Never throws for bad input: the answer then carries an error status. */
  async respond(requestDer: Uint8Array): Promise<OcspAnswer> {
    const parsed = await this.parse(requestDer);
    return 'error' in parsed ? parsed.error : this.sign(parsed.query);
  }

  /** Checks a DER OCSPRequest without signing: a query to sign, or the (unsigned) error answer. */
  async parse(requestDer: Uint8Array): Promise<{ query: OcspQuery } | { error: OcspAnswer }> {
    const error = (status: Exclude<OcspResponseStatusName, 'successful'>, reason: string) =>
      ({ error: { der: ocspErrorResponse(status), status, certificates: [], nonce: false, reason } });
    let request: OCSPRequest;
    try {
      request = AsnConvert.parse(requestDer, OCSPRequest);
    } catch (err) {
      return error('malformedRequest', `not a DER OCSPRequest: ${(err as Error).message}`);
    }
    const list = request.tbsRequest.requestList ?? [];
    if (list.length === 0) return error('malformedRequest', 'the request list is empty');
    if (list.length > this.maxRequests) return error('malformedRequest', `${list.length} requests in one; at most ${this.maxRequests}`);

    let issuer: IssuerIds | undefined;
    for (const r of list) {
      const hash = HASHES[r.reqCert.hashAlgorithm.algorithm];
      if (!hash) return error('malformedRequest', `CertID hash algorithm ${r.reqCert.hashAlgorithm.algorithm} is not supported`);
      const m = await this.match(r.reqCert);
      if (!m) return error('unauthorized', 'the CertID names an issuer this CA does not have');
      if (issuer && issuer.id !== m.id) return error('unauthorized', 'requests for several issuers in one OCSP request (one signer per response)');
      issuer = m;
    }
    const certIds = list.map((r) => r.reqCert);
    // RFC 8954 §2.1: echo the nonce when it is 1..32 octets (extnValue = OCTET STRING wrapping it).
    const nonceExt = request.tbsRequest.requestExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
    const echo = nonceExt && nonceExt.extnValue.byteLength <= 34 && nonceExt.extnValue.byteLength >= 3;
    return {
      query: {
        issuerId: issuer!.id,
        serials: certIds.map((c) => certIdSerial(c.serialNumber)),
        key: `${issuer!.id}:${certIds.map(certIdKey).join(':')}`,
        nonce: echo ? nonceExt.extnValue : undefined,
        certIds,
      },
    };
  }

  /** Signs the answer to a parsed query with the store's current status; `echoNonce: false` leaves the nonce out. */
  async sign(query: OcspQuery, opts: { echoNonce?: boolean } = {}): Promise<OcspAnswer> {
    const signer = this.ids.get(query.issuerId)!;
    const now = this.now();
    const thisUpdate = seconds(now);
    const nextUpdate = seconds(now + this.validityMs);
    const certificates: OcspAnswer['certificates'] = [];
    const responses = query.certIds.map((certID, i) => {
      const serial = query.serials[i];
      const state = ocspCertState(this.ca.store.getCertificate(serial), signer.id);
      certificates.push({ serial, status: state.status });
      const certStatus = state.status === 'revoked'
        ? new CertStatus({
          revoked: new RevokedInfo({
            revocationTime: seconds(Date.parse(state.revokedAt ?? new Date(now).toISOString())),
            revocationReason: state.reason === undefined ? undefined : new CRLReason(state.reason),
          }),
        })
        : new CertStatus(state.status === 'good' ? { good: null } : { unknown: null });
      return new SingleResponse({ certID, certStatus, thisUpdate, nextUpdate });
    });

    const nonce = opts.echoNonce === false ? undefined : query.nonce;
    const tbs = new ResponseData({
      responderID: new ResponderID({ byKey: new KeyHash(signer.responderKeyHash) }),
      producedAt: thisUpdate,
      responses,
      responseExtensions: nonce ? [new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(nonce.buffer) })] : undefined,
    });
    const tbsDer = AsnConvert.serialize(tbs);
    let signature: Uint8Array;
    try {
      const raw = new Uint8Array(await subtle.sign(signingAlgorithm(signer.handle.key.type), signer.handle.key.signingKey, tbsDer));
      signature = isRsa(signer.handle.key.type) ? raw : ecdsaRawToDer(raw);
    } catch (err) {
      return { der: ocspErrorResponse('internalError'), status: 'internalError', certificates: [], nonce: false, reason: `signing failed: ${(err as Error).message}` };
    }
    const basic = new BasicOCSPResponse({ tbsResponseData: tbs, signatureAlgorithm: signatureAlgorithmId(signer.handle), signature: signature.slice().buffer });
    const response = new OCSPResponse({
      responseStatus: OCSPResponseStatus.successful,
      responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) }),
    });
    return { der: new Uint8Array(AsnConvert.serialize(response)), status: 'successful', certificates, nonce: Boolean(nonce), thisUpdate, nextUpdate };
  }
}
