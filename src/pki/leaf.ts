import { createPublicKey } from 'node:crypto';
import { isRsa, signingAlgorithm, type KeyType } from './key-types.ts';
import type { KeyHandle } from './key-store.ts';
import type { Identifier } from './names.ts';
import type { CertProfile } from './profiles.ts';
import { lifetimeMs } from './profiles.ts';
import { newSerial } from './serial.ts';
import { x509, subtle } from './x509.ts';

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

const KU_FLAGS = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  keyAgreement: x509.KeyUsageFlags.keyAgreement,
} as const;

async function importSpki(spki: Uint8Array, keyType: KeyType): Promise<CryptoKey> {
  const params = isRsa(keyType)
    ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
    : { name: 'ECDSA', namedCurve: keyType === 'ecdsa-p384' ? 'P-384' : 'P-256' };
  return subtle.importKey('spki', spki as Uint8Array<ArrayBuffer>, params, true, ['verify']);
}

/**
 * Signs an end-entity certificate. The subject CN carries the first DNS name (for old stacks that still
 * read it); certificates for IP addresses only get an empty subject and a critical SAN (RFC 5280
 * §4.2.1.6), because validators check a host-like CN against DNS name constraints.
 */
export async function signLeaf(issuer: IssuerHandle, req: LeafRequest, urls?: DistributionUrls, now = Date.now()): Promise<{ cert: x509.X509Certificate; serial: string }> {
  const serial = newSerial();
  const publicKey = await importSpki(req.spki, req.keyType);
  const firstDns = req.identifiers.find((i) => i.type === 'dns');
  const usage = isRsa(req.keyType) ? req.profile.keyUsage.rsa : req.profile.keyUsage.ec;
  const kuFlags = usage.reduce((f, u) => f | KU_FLAGS[u], 0);
  const eku = req.profile.extendedKeyUsage.map((e) => (e === 'serverAuth' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth));
  const notAfter = Math.min(now + lifetimeMs(req.profile.lifetime), issuer.cert.notAfter.getTime());
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(kuFlags, true),
    new x509.ExtendedKeyUsageExtension(eku),
    new x509.SubjectAlternativeNameExtension(req.identifiers.map((i) => ({ type: i.type, value: i.value })), !firstDns),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(issuer.cert),
  ];
  if (urls) {
    extensions.push(new x509.CRLDistributionPointsExtension([urls.crl]));
    extensions.push(new x509.AuthorityInfoAccessExtension({ ocsp: [urls.ocsp], caIssuers: [urls.caIssuers] }));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial.der,
    subject: firstDns ? [{ CN: [firstDns.value] }] : [],
    issuer: issuer.cert.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(notAfter),
    signingAlgorithm: signingAlgorithm(issuer.key.type),
    publicKey,
    signingKey: issuer.key.signingKey,
    extensions,
  });
  return { cert, serial: serial.hex };
}

/** For tests and tools: the key type of a certificate's public key. */
export function certificateKeyDescription(cert: x509.X509Certificate): string {
  const k = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
  return k.asymmetricKeyType === 'rsa' ? `RSA-${k.asymmetricKeyDetails?.modulusLength}` : `EC ${k.asymmetricKeyDetails?.namedCurve}`;
}
