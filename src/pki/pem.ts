/** RFC 7468 PEM with the labels OpenSSL expects (`X509 CRL`, not the `CRL` some libraries write). */
export function toPem(label: 'CERTIFICATE' | 'X509 CRL' | 'CERTIFICATE REQUEST' | 'PKCS7' | 'ENCRYPTED PRIVATE KEY', der: Uint8Array | ArrayBuffer): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

/** Splits a PEM bundle into its blocks (each with its BEGIN/END lines). */
export function splitPem(text: string): string[] {
  return text.match(/-----BEGIN [A-Z0-9 ]+-----[\s\S]*?-----END [A-Z0-9 ]+-----\n?/g) ?? [];
}
