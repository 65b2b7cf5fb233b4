/** Every URL the ACME server hands out, built in one place from its public base URL. */
export class AcmeUrls {
  constructor(readonly base: string) {}
  get directory(): string { return `${this.base}/acme/directory`; }
  get newNonce(): string { return `${this.base}/acme/new-nonce`; }
  get newAccount(): string { return `${this.base}/acme/new-account`; }
  get newOrder(): string { return `${this.base}/acme/new-order`; }
  get revokeCert(): string { return `${this.base}/acme/revoke-cert`; }
  get keyChange(): string { return `${this.base}/acme/key-change`; }
  get renewalInfo(): string { return `${this.base}/acme/renewal-info`; }
  get accountPrefix(): string { return `${this.base}/acme/acct/`; }
  account(id: string): string { return `${this.accountPrefix}${id}`; }
  accountOrders(id: string): string { return `${this.base}/acme/acct/${id}/orders`; }
  order(id: string): string { return `${this.base}/acme/order/${id}`; }
  finalize(id: string): string { return `${this.base}/acme/order/${id}/finalize`; }
  authz(id: string): string { return `${this.base}/acme/authz/${id}`; }
  challenge(id: string): string { return `${this.base}/acme/chall/${id}`; }
  certificate(serial: string): string { return `${this.base}/acme/cert/${serial}`; }
}
