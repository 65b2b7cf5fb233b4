import { CertificateChoices, CertificateSet, ContentInfo, EncapsulatedContentInfo, id_data, id_signedData, SignedData, SignerInfos, DigestAlgorithmIdentifiers } from '@peculiar/asn1-cms';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';

/**
 * A certs-only CMS SignedData ("degenerate PKCS#7", RFC 5652 §5; RFC 5272 §4.2 Simple PKI Response): no
 * content, no signers, just certificates. This is the body of EST /cacerts (RFC 7030 §4.1.3) and what
 * `openssl pkcs7 -print_certs` and Windows' certificate import read.
 */
export function certsOnlyCms(certificatesDer: Uint8Array[]): Uint8Array {
  const signedData = new SignedData({
    version: 1, // RFC 5652 §5.1: no attribute certificates, no v2 signers, eContentType id-data
    digestAlgorithms: new DigestAlgorithmIdentifiers([]),
    encapContentInfo: new EncapsulatedContentInfo({ eContentType: id_data }),
    certificates: new CertificateSet(certificatesDer.map((der) => new CertificateChoices({ certificate: AsnConvert.parse(der, Certificate) }))),
    signerInfos: new SignerInfos([]),
  });
  const info = new ContentInfo({ contentType: id_signedData, content: AsnConvert.serialize(signedData) });
  return new Uint8Array(AsnConvert.serialize(info));
}
