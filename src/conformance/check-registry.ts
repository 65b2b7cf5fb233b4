import { ACME_CLIENT_CHECKS } from './acme-client/checks.ts';
import { TLS_NODE_CHECKS } from './tls-node/checks.ts';

export type Kit = 'tls-node' | 'acme-client';

export interface RegisteredCheck {
  name: string;
  kit: Kit;
  description: string;
}

/**
 * Every check the kit knows, by the name requirements.json uses in `check`. The sync test
 * (test/conformance/requirements-sync.test.ts) fails when a requirement names a check missing here.
 */
export const CHECK_REGISTRY: ReadonlyMap<string, RegisteredCheck> = new Map([
  ...Object.entries(TLS_NODE_CHECKS).map(([name, c]): [string, RegisteredCheck] => [name, { name, kit: 'tls-node', description: c.description }]),
  ...Object.entries(ACME_CLIENT_CHECKS).map(([name, c]): [string, RegisteredCheck] => [name, { name, kit: 'acme-client', description: c.description }]),
]);

export function checkNames(): string[] {
  return [...CHECK_REGISTRY.keys()];
}
