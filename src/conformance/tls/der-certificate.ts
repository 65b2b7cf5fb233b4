import { X509Certificate } from 'node:crypto';

/**
 * One certificate_list entry of a Certificate message, decoded. RFC 5246 §7.4.2 and RFC 8446 §4.4.2
 * require each entry to be one DER-encoded X.509 certificate. Node's X509Certificate also accepts PEM
 * text (it even looks for a PEM block before trying DER), so an entry is only taken when the decoded
 * certificate's DER is exactly the bytes sent: PEM text, trailing bytes or any other wrapping is a
 * product defect that the chain checks must report, not paper over.
 */
export function decodeDerCertificate(entry: Buffer): { cert: X509Certificate } | { problem: string } {
  if (/^\s*-----BEGIN /.test(entry.subarray(0, 64).toString('latin1'))) return { problem: 'is PEM text, not DER' };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(entry);
  } catch {
    return { problem: 'is not a DER X.509 certificate' };
  }
  return cert.raw.equals(entry) ? { cert } : { problem: 'is not exactly one DER X.509 certificate (the bytes sent differ from the certificate\'s DER encoding)' };
}
