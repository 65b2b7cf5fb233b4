import type { CertificateAuthority } from '../pki/ca.ts';
import type { AcmeStore } from '../store/acme-store.ts';
import type { NonceStore } from './nonces.ts';
import type { AcmeOptions } from './options.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { AcmeUrls } from './urls.ts';
import type { ValidationSlots } from './validation-slots.ts';
import type { WorkQueue } from './work-queue.ts';

/** Everything a handler needs, injected once when the server is built (no service locator). */
export interface AcmeContext {
  ca: CertificateAuthority;
  store: AcmeStore;
  nonces: NonceStore;
  urls: AcmeUrls;
  options: AcmeOptions;
  limits: { orders: RateLimiter; requests: RateLimiter; newAccounts: RateLimiter };
  /** Background validations and issuances, so they can be awaited briefly and drained on shutdown. */
  work: WorkQueue;
  /** Bounds concurrent challenge validations; its stats() tell how many run and wait. */
  validations: ValidationSlots;
  /**
   * The clock (epoch ms) for everything that depends on `expires` (acme/expiry.ts) and for the timestamps
   * of new orders: Date.now, or a test's clock so that orders expire without waiting.
   */
  now: () => number;
}
