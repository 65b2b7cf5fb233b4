/** ACME records (RFC 8555 §7.1). Timestamps are ISO-8601 UTC strings. */

export interface AcmeIdentifier { type: 'dns' | 'ip'; value: string }

/** RFC 7807 problem document as stored on orders and challenges. */
export interface StoredProblem { type: string; detail: string; status?: number; subproblems?: (StoredProblem & { identifier?: AcmeIdentifier })[] }

export type AccountStatus = 'valid' | 'deactivated' | 'revoked';
export interface AcmeAccount {
  id: string;
  /** RFC 7638 JWK thumbprint (SHA-256) of the account key: one account per key. */
  thumbprint: string;
  jwk: Record<string, unknown>;
  status: AccountStatus;
  contact: string[];
  eabKid?: string;
  createdAt: string;
}

export interface EabKey {
  kid: string;
  /** base64url HMAC key handed to the device admin once. */
  hmacKey: string;
  label?: string;
  /** Names (exact, or `.suffix` for everything below) this key's account may order; empty = any permitted name. */
  allowDns: string[];
  /** CIDRs this key's account may order; empty = any permitted address. */
  allowIp: string[];
  /** Set when an account was created with the key: each key binds exactly one account. */
  accountId?: string;
  createdAt: string;
}

export type OrderStatus = 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
export interface AcmeOrder {
  id: string;
  accountId: string;
  status: OrderStatus;
  identifiers: AcmeIdentifier[];
  profile: string;
  authzIds: string[];
  expires: string;
  /** base64url DER CSR, kept from finalize so an interrupted issuance can be completed after a restart. */
  csr?: string;
  certSerial?: string;
  error?: StoredProblem;
  /** RFC 9773 §5: the ARI certID of the certificate this order replaces. */
  replaces?: string;
  createdAt: string;
  updatedAt: string;
}

export type AuthzStatus = 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';
export interface AcmeAuthz {
  id: string;
  accountId: string;
  /** Authorizations are not shared between orders: each order gets its own. */
  orderId: string;
  identifier: AcmeIdentifier;
  status: AuthzStatus;
  expires: string;
}

/** An order's place in its account's orders list (creation order, id breaking ties): a page ends at one. */
export interface OrderListPosition { createdAt: string; id: string }

/** What one AcmeStore.pruneExpired call deleted. */
export interface PruneCounts { orders: number; authzs: number; challenges: number }

export type ChallengeStatus = 'pending' | 'processing' | 'valid' | 'invalid';
export interface AcmeChallenge {
  id: string;
  authzId: string;
  type: 'http-01' | 'tls-alpn-01' | 'dns-01';
  token: string;
  status: ChallengeStatus;
  validated?: string;
  error?: StoredProblem;
}
