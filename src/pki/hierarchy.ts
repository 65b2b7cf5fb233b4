import { buildNameConstraints, type NamePolicy } from './name-constraints.ts';
import { signingAlgorithm } from './key-types.ts';
import type { KeyHandle } from './key-store.ts';
import { newSerial } from './serial.ts';
import { x509 } from './x509.ts';

const YEAR_MS = 365.25 * 86_400_000;

export interface CaNaming {
  name: string;
  policy: NamePolicy;
  nameConstraintsCritical: boolean;
}

function caExtensions(naming: CaNaming, pathLength: number | undefined): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
    buildNameConstraints(naming.policy, naming.nameConstraintsCritical),
  ];
}

/**
 * Self-signed root: long-lived, path length 1 (root -> issuing intermediate -> leaf), name-constrained
 * itself so that relying parties enforcing constraints on trust anchors (some do, RFC 5937) are covered too.
 */
export async function createRootCertificate(key: KeyHandle, naming: CaNaming, years = 20): Promise<x509.X509Certificate> {
  const now = Date.now();
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial().der,
    name: [{ CN: [`${naming.name} Root CA`] }, { O: [naming.name] }],
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + years * YEAR_MS),
    signingAlgorithm: signingAlgorithm(key.type),
    keys: { privateKey: key.signingKey, publicKey: key.publicKey },
    extensions: [
      ...caExtensions(naming, 1),
      await x509.SubjectKeyIdentifierExtension.create(key.publicKey),
    ],
  });
}

/**
 * Issuing intermediate: path length 0, the same name constraints, EKU limited to TLS server/client
 * authentication so that a leaked intermediate cannot sign code or e-mail certificates.
 */
export async function createIntermediateCertificate(
  root: { key: KeyHandle; cert: x509.X509Certificate },
  subject: KeyHandle,
  naming: CaNaming,
  label: string,
  years = 5,
): Promise<x509.X509Certificate> {
  const now = Date.now();
  const notAfter = new Date(Math.min(now + years * YEAR_MS, root.cert.notAfter.getTime()));
  return x509.X509CertificateGenerator.create({
    serialNumber: newSerial().der,
    subject: [{ CN: [`${naming.name} ${label}`] }, { O: [naming.name] }],
    issuer: root.cert.subjectName,
    notBefore: new Date(now - 3_600_000),
    notAfter,
    signingAlgorithm: signingAlgorithm(root.key.type),
    publicKey: subject.publicKey,
    signingKey: root.key.signingKey,
    extensions: [
      ...caExtensions(naming, 0),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      await x509.SubjectKeyIdentifierExtension.create(subject.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(root.cert),
    ],
  });
}
