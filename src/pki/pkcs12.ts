import forge from 'node-forge';

/**
 * A PKCS#12 bundle (key, leaf, chain) for devices that can only import a .p12: AES-256 encryption with
 * an HMAC-SHA1 integrity MAC (node-forge implements no other MAC; SHA-1 in a password MAC is not the
 * collision-prone use). Very old importers that need 3DES can re-wrap it with openssl. node-forge reads
 * RSA keys and certificates only: certificates with other keys (an ECDSA root) are left out and counted.
 */
export function buildPkcs12(opts: { keyPem: string; chainPem: string[]; password: string; friendlyName?: string }): { der: Buffer; omitted: number } {
  const key = forge.pki.privateKeyFromPem(opts.keyPem);
  const certs: forge.pki.Certificate[] = [];
  let omitted = 0;
  for (const pem of opts.chainPem) {
    try {
      certs.push(forge.pki.certificateFromPem(pem));
    } catch {
      omitted++;
    }
  }
  // forge tests `'friendlyName' in options`, so the key must be absent rather than undefined.
  const asn1 = forge.pkcs12.toPkcs12Asn1(key, certs, opts.password, {
    algorithm: 'aes256',
    generateLocalKeyId: true,
    ...(opts.friendlyName ? { friendlyName: opts.friendlyName } : {}),
  });
  return { der: Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary'), omitted };
}
