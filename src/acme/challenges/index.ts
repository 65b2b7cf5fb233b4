export * from './types.ts';
export { validateChallenge, challengeTypesFor } from './validate.ts';
export { resolveValidationOptions } from './options.ts';
export { dns01TxtValue, keyAuthorizationDigest } from './key-authorization.ts';
export { reverseDnsName } from './reverse-dns.ts';
export { ACME_TLS_ALPN, tlsAlpnServerName } from './tls-alpn-01.ts';
export { ACME_IDENTIFIER_OID } from './acme-tls-certificate.ts';
export { HTTP01_MAX_BODY } from './http-01.ts';
