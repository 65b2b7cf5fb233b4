// The one place @peculiar/x509 is initialised: it needs the reflect polyfill and a WebCrypto provider
// (Node's, so that OpenSSL does the signature math). Every pki/ module imports x509 from here.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
export const subtle = webcrypto.subtle as unknown as SubtleCrypto;
