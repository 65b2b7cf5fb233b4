import { join } from 'node:path';

/** Where everything lives inside a data dir. One function per path so the layout is written down once. */
export function dataDirLayout(dir: string) {
  const ca = join(dir, 'ca');
  return {
    root: dir,
    ca,
    caMeta: join(ca, 'ca.json'),
    rootCert: join(ca, 'root.pem'),
    /** Active ECDSA issuing intermediate (the interface contract names this file). */
    intermediate: join(ca, 'intermediate.pem'),
    /** Active RSA issuing intermediate, for RSA leaves. */
    intermediateRsa: join(ca, 'intermediate-rsa.pem'),
    issuers: join(ca, 'issuers'),
    issuerCert: (id: string) => join(ca, 'issuers', `${id}.pem`),
    keys: join(ca, 'keys'),
    store: join(dir, 'wardgate.db'),
    devMarker: join(dir, 'DEV-MODE-INSECURE'),
  };
}

export type DataDirLayout = ReturnType<typeof dataDirLayout>;
