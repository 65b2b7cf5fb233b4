import { KeyObject, createPublicKey, sign } from 'node:crypto';
import { isRsa, type KeyType } from './key-types.ts';
import { children, readTlv } from './der-reader.ts';
import { encodeCertificate, encodeLeafTbs, signatureAlgorithmDer } from './leaf-encoding.ts';
import { toPem } from './pem.ts';
import type { KeyHandle } from './key-store.ts';
import type { Identifier } from './names.ts';
import type { CertProfile } from './profiles.ts';
import { lifetimeMs } from './profiles.ts';
import { newSerial } from './serial.ts';
import { x509 } from './x509.ts';

export interface LeafRequest {
  spki: Uint8Array;
  keyType: KeyType;
  identifiers: Identifier[];
  profile: CertProfile;
}

export interface IssuerHandle {
  id: string;
  key: KeyHandle;
  cert: x509.X509Certificate;
}

export interface DistributionUrls {
  crl: string;
  ocsp: string;
  caIssuers: string;
}

/** Certificates are back-dated a little: device clocks in hospitals drift, and a certificate "not yet valid" breaks a connection as surely as an expired one. */
export const BACKDATE_MS = 5 * 60_000;

/** Key usage bit positions (RFC 5280 §4.2.1.3). */
const KU_BITS = { digitalSignature: 0, keyEncipherment: 2, keyAgreement: 4 } as const;

interface IssuerEncoding { name: Uint8Array; keyId: Uint8Array; sigAlg: Uint8Array; hash: string; key: KeyObject }
const issuerEncodings = new WeakMap<IssuerHandle, IssuerEncoding>();

/** What every leaf of one issuer shares, worked out once per issuer handle. */
function issuerEncoding(issuer: IssuerHandle): IssuerEncoding {
  let e = issuerEncodings.get(issuer);
  if (!e) {
    const der = new Uint8Array(issuer.cert.rawData);
    const tbs = children(der, readTlv(der, 0))[0];
    const name = children(der, tbs)[5]; // [0]version, serial, signature, issuer, validity, subject
    const ski = issuer.cert.getExtension(x509.SubjectKeyIdentifierExtension);
    if (!ski) throw new Error(`issuer ${issuer.id} has no subject key identifier`);
    const kind = isRsa(issuer.key.type) ? 'rsa' : issuer.key.type === 'ecdsa-p384' ? 'ecdsa-p384' : 'ecdsa-p256';
    e = {
      name: der.slice(name.start, name.end), keyId: new Uint8Array(Buffer.from(ski.keyId, 'hex')),
      sigAlg: signatureAlgorithmDer(kind), hash: kind === 'ecdsa-p384' ? 'sha384' : 'sha256',
      key: KeyObject.from(issuer.key.signingKey),
    };
    issuerEncodings.set(issuer, e);
  }
  return e;
}

export interface SignedLeaf {
  serial: string;
  der: Uint8Array;
  pem: string;
  notBefore: Date;
  notAfter: Date;
  /** Parsed on first use only (parsing costs as much as signing). */
  readonly cert: x509.X509Certificate;
}

/**
 * Signs an end-entity certificate. The subject CN carries the first DNS name (for old stacks that still
 * read it); certificates for IP addresses only get an empty subject and a critical SAN (RFC 5280
 * §4.2.1.6), because validators check a host-like CN against DNS name constraints.
 */
export async function signLeaf(issuer: IssuerHandle, req: LeafRequest, urls?: DistributionUrls, now = Date.now()): Promise<SignedLeaf> {
  const serial = newSerial();
  const enc = issuerEncoding(issuer);
  const firstDns = req.identifiers.find((i) => i.type === 'dns');
  const usage = isRsa(req.keyType) ? req.profile.keyUsage.rsa : req.profile.keyUsage.ec;
  const notBefore = new Date(Math.floor((now - BACKDATE_MS) / 1000) * 1000);
  const notAfter = new Date(Math.floor(Math.min(now + lifetimeMs(req.profile.lifetime), issuer.cert.notAfter.getTime()) / 1000) * 1000);
  const tbs = encodeLeafTbs({
    serialHex: serial.hex, signatureAlgorithm: enc.sigAlg, issuerName: enc.name, issuerKeyId: enc.keyId,
    notBefore, notAfter, commonName: firstDns?.value, spki: req.spki,
    keyUsage: usage.map((u) => KU_BITS[u]), extKeyUsage: req.profile.extendedKeyUsage, identifiers: req.identifiers, urls,
  });
  const der = encodeCertificate(tbs, enc.sigAlg, new Uint8Array(sign(enc.hash, tbs, enc.key)));
  let parsed: x509.X509Certificate | undefined;
  return {
    serial: serial.hex, der, pem: toPem('CERTIFICATE', der), notBefore, notAfter,
    get cert() { return (parsed ??= new x509.X509Certificate(der as Uint8Array<ArrayBuffer>)); },
  };
}

/** For tests and tools: the key type of a certificate's public key. */
export function certificateKeyDescription(cert: x509.X509Certificate): string {
  const k = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
  return k.asymmetricKeyType === 'rsa' ? `RSA-${k.asymmetricKeyDetails?.modulusLength}` : `EC ${k.asymmetricKeyDetails?.namedCurve}`;
}
