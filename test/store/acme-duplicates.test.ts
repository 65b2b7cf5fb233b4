/**
 * The store reports a unique-key clash as its own error (STORE_DUPLICATE), so the ACME handlers never
 * see a SQLite detail (DESIGN.md: only store/ knows SQL): a second account for one key (two concurrent
 * newAccount requests), a second live order replacing one certificate (RFC 9773 §5).
 */
import { join } from 'node:path';
import t from 'tap';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { DAY, iso } from '../helpers/acme-orders.ts';
import { tempDir } from '../helpers/tmp.ts';

t.test('unique-key clashes are STORE_DUPLICATE, and nothing of the refused insert is kept', async (t) => {
  const s = new SqliteStore(join(tempDir(t), 'd.db'));
  t.teardown(() => s.close());
  const acme = s.acme;
  const account = { id: 'acct-1', thumbprint: 'tp-1', jwk: { kty: 'EC' }, status: 'valid' as const, contact: [], createdAt: iso(Date.now()) };
  acme.insertAccount(account);
  t.throws(() => acme.insertAccount({ ...account, id: 'acct-2' }), { code: 'STORE_DUPLICATE' }, 'a second account for the same key');
  t.equal(acme.getAccount('acct-2'), undefined);

  const now = Date.now();
  const order = (id: string) => ({
    id, accountId: 'acct-1', status: 'pending' as const, identifiers: [{ type: 'dns' as const, value: 'pacs.klinikum.internal' }], profile: 'default',
    authzIds: [`${id}-a`], expires: iso(now + DAY), replaces: 'cert-1', createdAt: iso(now), updatedAt: iso(now),
  });
  const authz = (id: string) => ({ id: `${id}-a`, accountId: 'acct-1', orderId: id, identifier: { type: 'dns' as const, value: 'pacs.klinikum.internal' }, status: 'pending' as const, expires: iso(now + DAY) });
  acme.insertOrder(order('o1'), [authz('o1')], []);
  t.throws(() => acme.insertOrder(order('o2'), [authz('o2')], []), { code: 'STORE_DUPLICATE' }, 'a second live order replacing the same certificate');
  t.equal(acme.getOrder('o2'), undefined);
  t.equal(acme.getAuthz('o2-a'), undefined, 'the refused order\'s authorization was rolled back with it');
});
