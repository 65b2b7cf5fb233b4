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
  /** How long a new order and its authorizations stay usable (one `expires` for both: src/acme/expiry.ts). */
  orderLifetimeMs: number;
  /**
   * How long an order that never became `valid` is kept after its `expires` (RFC 8555 §7.1.3: after it the
   * order can no longer be used), with its authorizations and challenges, so a client or admin can still
   * read why it failed; then housekeeping deletes it. 0 deletes at expiry.
   */
  orderRetentionMs: number;
  /** How often housekeeping looks for such orders (housekeeping.ts). */
  housekeepingIntervalMs: number;
  /** Max request body (bytes): a CSR with many names fits easily in 64 KiB. */
  bodyLimit: number;
  rateLimits: { ordersPerAccountPerMinute: number; requestsPerAddressPerSecond: number; newAccountsPerAddressPerHour: number };
  /** RFC 9773 Retry-After for renewalInfo responses (seconds). */
  ariRetryAfterSeconds: number;
  /** Challenge validations that may connect out at once; later ones wait their turn (validation-slots.ts). */
  maxConcurrentValidations: number;
  /** Validations that may wait for a slot; beyond that a challenge POST gets `rateLimited` and stays pending. */
  maxQueuedValidations: number;
  /** Validations one account, or one client address (IPv6: its /64), may have running or waiting (0: no cap). */
  maxValidationsPerOwner: number;
  validation: ValidationOptions;
}

export const DEFAULT_ACME_OPTIONS: Omit<AcmeOptions, 'baseUrl' | 'validation'> = {
  externalAccountRequired: false,
  defaultProfile: 'dicom-node',
  processingWaitMs: 2000,
  orderLifetimeMs: 7 * 86_400_000,
  // A week past expiry (two weeks after creation at the default lifetime): a failed enrollment's error is
  // still readable after a weekend or a holiday; the tables hold at most rate x (lifetime + retention).
  orderRetentionMs: 7 * 86_400_000,
  housekeepingIntervalMs: 3_600_000,
  bodyLimit: 64 * 1024,
  rateLimits: { ordersPerAccountPerMinute: 3000, requestsPerAddressPerSecond: 500, newAccountsPerAddressPerHour: 1000 },
  ariRetryAfterSeconds: 6 * 3600,
  maxConcurrentValidations: 64,
  maxQueuedValidations: 4096,
  // A device enrolls a handful of names; an interface engine or a renewal burst behind one address a few
  // dozen. 64 lets a full concurrency's worth through and keeps one client at 1/64 of the queue.
  maxValidationsPerOwner: 64,
};
