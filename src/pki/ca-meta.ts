import { existsSync, readFileSync } from 'node:fs';
import { WardgateError } from '../errors.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import type { KeyType } from './key-types.ts';
import type { NamePolicy } from './name-constraints.ts';

export type IssuerKind = 'ecdsa' | 'rsa';

export interface IssuerInfo {
  id: string;
  kind: IssuerKind;
  keyType: KeyType;
  notBefore: string;
  notAfter: string;
  /** The one issuer of its kind that signs new leaves; older ones keep signing CRLs for what they issued. */
  active: boolean;
}

/** ca/ca.json: the CA's configuration and hierarchy, written atomically on every change. */
export interface CaMeta {
  version: 1;
  name: string;
  policy: NamePolicy;
  nameConstraintsCritical: boolean;
  root: { id: string; keyType: KeyType; offline: boolean };
  issuers: IssuerInfo[];
  /** Base URL of the plain-HTTP listener for CRL DP and AIA (e.g. http://ca.klinikum.internal:8080). */
  distributionBaseUrl?: string;
  /**
   * Set when the admin chose distributionBaseUrl (`init --public-url`): serve then leaves it alone, since
   * the listener's own address (a wildcard, an address behind NAT) is not what devices can fetch from.
   */
  distributionBaseUrlPinned?: boolean;
  createdAt: string;
  dev: boolean;
}

export function readCaMeta(path: string): CaMeta {
  if (!existsSync(path)) throw new WardgateError('DATA_DIR_MISSING', `no CA in this data dir (${path} is missing): run \`wardgate init\` first`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CaMeta;
  } catch (err) {
    throw new WardgateError('CONFIG_INVALID', `${path}: not valid JSON (${(err as Error).message})`);
  }
}

export function writeCaMeta(path: string, meta: CaMeta): void {
  writeFileAtomic(path, `${JSON.stringify(meta, null, 2)}\n`, 0o600);
}
