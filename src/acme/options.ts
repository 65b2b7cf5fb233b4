import type { ValidationOptions } from './challenges/index.ts';

/** What an admin can tune on the ACME server; every field has a safe default in DEFAULT_ACME_OPTIONS. */
export interface AcmeOptions {
  /** Public base URL (scheme, host, port) clients use; every URL in responses and in JWS "url" is built on it. */
  baseUrl: string;
  externalAccountRequired: boolean;
  termsOfService?: string;
  website?: string;
  /** Certificate profile used when newOrder names none (draft-ietf-acme-profiles). */
  defaultProfile: string;
  /** How long finalize and challenge POSTs wait for the background work before answering `processing` (ms). */
  processingWaitMs: number;
  orderLifetimeMs: number;
  authzLifetimeMs: number;
  /** Max request body (bytes): a CSR with many names fits easily in 64 KiB. */
  bodyLimit: number;
  rateLimits: { ordersPerAccountPerMinute: number; requestsPerAddressPerSecond: number; newAccountsPerAddressPerHour: number };
  /** RFC 9773 Retry-After for renewalInfo responses (seconds). */
  ariRetryAfterSeconds: number;
  validation: ValidationOptions;
}

export const DEFAULT_ACME_OPTIONS: Omit<AcmeOptions, 'baseUrl' | 'validation'> = {
  externalAccountRequired: false,
  defaultProfile: 'dicom-node',
  processingWaitMs: 2000,
  orderLifetimeMs: 7 * 86_400_000,
  authzLifetimeMs: 7 * 86_400_000,
  bodyLimit: 64 * 1024,
  rateLimits: { ordersPerAccountPerMinute: 3000, requestsPerAddressPerSecond: 500, newAccountsPerAddressPerHour: 1000 },
  ariRetryAfterSeconds: 6 * 3600,
};
