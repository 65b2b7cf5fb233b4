import { createPrivateKey, randomBytes } from 'node:crypto';
import { WardgateError } from '../../errors.ts';
import { toPem } from '../../pki/pem.ts';
import { subtle, x509 } from '../../pki/x509.ts';

/**
 * Client certificates the kit presents to judge ICM-TLS-014..016: a valid one (given, or minted from
 * the client CA the device trusts), an expired one from that same CA (so that expiry is the only
 * defect), and one from a throwaway CA the device has never seen. Minted certificates copy the
 * subject and subjectAltName of the valid certificate, so a refusal cannot be blamed on the name.
 */
export interface ClientCredential {
  certPem: string;
  keyPem: string;
  description: string;
}

export interface SigningKey {
  key: CryptoKey;
  algorithm: Algorithm | EcdsaParams;
  kind: 'ec' | 'rsa';
}

const DAY = 86_400_000;

/** Imports a PKCS#8/SEC1/PKCS#1 PEM key (EC P-256/P-384 or RSA) for signing certificates. */
export async function importSigningKey(pem: string, label: string): Promise<SigningKey> {
  let keyObject;
  try {
    keyObject = createPrivateKey(pem);
  } catch (err) {
    throw new WardgateError('CLI_ARGUMENT', `${label} is not a readable private key (PEM): ${(err as Error).message}`, { cause: err });
  }
  const der = keyObject.export({ format: 'der', type: 'pkcs8' });
  if (keyObject.asymmetricKeyType === 'ec') {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'P-384' : 'P-256';
    if (!['prime256v1', 'secp384r1'].includes(keyObject.asymmetricKeyDetails?.namedCurve ?? '')) {
      throw new WardgateError('CLI_ARGUMENT', `${label}: EC curve ${keyObject.asymmetricKeyDetails?.namedCurve} not supported (P-256 or P-384)`);
    }
    const key = await subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: curve }, false, ['sign']);
    return { key, algorithm: { name: 'ECDSA', hash: curve === 'P-384' ? 'SHA-384' : 'SHA-256' } as EcdsaParams, kind: 'ec' };
  }
  if (keyObject.asymmetricKeyType === 'rsa') {
    const key = await subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
    return { key, algorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as Algorithm, kind: 'rsa' };
  }
  throw new WardgateError('CLI_ARGUMENT', `${label}: key type ${keyObject.asymmetricKeyType} not supported (EC or RSA)`);
}

export function parseCertificate(pem: string, label: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch (err) {
    throw new WardgateError('CLI_ARGUMENT', `${label} is not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
}

async function newKeyPair(kind: 'ec' | 'rsa'): Promise<CryptoKeyPair> {
  const params = kind === 'rsa'
    ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
    : { name: 'ECDSA', namedCurve: 'P-256' };
  return subtle.generateKey(params, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function privatePem(key: CryptoKey): Promise<string> {
  const der = await subtle.exportKey('pkcs8', key);
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

/** Subject and SAN to copy from a template certificate, or a neutral name. */
export interface Naming {
  subject: string;
  san?: x509.SubjectAlternativeNameExtension;
}

export function namingOf(template?: x509.X509Certificate): Naming {
  if (!template) return { subject: 'CN=wardgate-conformance-client' };
  return {
    subject: template.subject || 'CN=wardgate-conformance-client',
    san: template.getExtension(x509.SubjectAlternativeNameExtension) ?? undefined,
  };
}

async function mintLeaf(issuer: { cert: x509.X509Certificate; key: SigningKey }, naming: Naming, notBefore: Date, notAfter: Date, kind: 'ec' | 'rsa'): Promise<{ certPem: string; keyPem: string }> {
  const keys = await newKeyPair(kind);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(kind === 'rsa' ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
    await x509.AuthorityKeyIdentifierExtension.create(issuer.cert),
  ];
  if (naming.san) extensions.push(new x509.SubjectAlternativeNameExtension(naming.san.names.toJSON(), naming.san.critical));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: `01${randomBytes(15).toString('hex')}`,
    subject: naming.subject,
    issuer: issuer.cert.subject,
    notBefore,
    notAfter,
    signingAlgorithm: issuer.key.algorithm,
    publicKey: keys.publicKey,
    signingKey: issuer.key.key,
    extensions,
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await privatePem(keys.privateKey) };
}

/** A certificate from `issuer` that is valid now. */
export async function mintValid(issuer: { cert: x509.X509Certificate; key: SigningKey }, naming: Naming, kind: 'ec' | 'rsa'): Promise<ClientCredential> {
  const now = Date.now();
  const { certPem, keyPem } = await mintLeaf(issuer, naming, new Date(now - DAY), new Date(now + 7 * DAY), kind);
  return { certPem: certPem + issuer.cert.toString('pem') + '\n', keyPem, description: `minted by the kit from the client CA "${issuer.cert.subject}", valid now` };
}

/** A certificate from `issuer` that expired yesterday (valid for the 30 days before). */
export async function mintExpired(issuer: { cert: x509.X509Certificate; key: SigningKey }, naming: Naming, kind: 'ec' | 'rsa'): Promise<ClientCredential> {
  const now = Date.now();
  const { certPem, keyPem } = await mintLeaf(issuer, naming, new Date(now - 31 * DAY), new Date(now - DAY), kind);
  return { certPem: certPem + issuer.cert.toString('pem') + '\n', keyPem, description: `minted by the kit from the client CA "${issuer.cert.subject}", expired ${new Date(now - DAY).toISOString()}` };
}

/** A certificate from a CA made for this run alone, which no device can trust. */
export async function mintForeign(naming: Naming, kind: 'ec' | 'rsa'): Promise<ClientCredential> {
  const caKeys = await newKeyPair('ec');
  const now = Date.now();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: `01${randomBytes(15).toString('hex')}`,
    name: 'CN=wardgate conformance kit foreign CA (untrusted)',
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 7 * DAY),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams,
    keys: caKeys,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  const issuer = { cert: caCert, key: { key: caKeys.privateKey, algorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams, kind: 'ec' as const } };
  const { certPem, keyPem } = await mintLeaf(issuer, naming, new Date(now - DAY), new Date(now + 7 * DAY), kind);
  return { certPem: certPem + toPem('CERTIFICATE', caCert.rawData), keyPem, description: 'minted by the kit from a throwaway CA made for this run' };
}
