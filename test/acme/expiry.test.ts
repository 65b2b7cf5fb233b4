// What expiry does to orders and authorizations (RFC 8555 §7.1.6), as clients see it: their status, what
// finalize, challenges and deactivation answer, the orders list (§7.1.2.1) and `replaces` (RFC 9773 §5).
// The server's clock is wound forward instead of waiting for orders to expire. Addresses: 127.45.0.0/24.
import t from 'tap';
import { certIdOf } from '../../src/acme/ari.ts';
import { buildAcmeContext } from '../../src/acme/server.ts';
import { resumeProcessingChallenges } from '../../src/acme/validation.ts';
import { acmeFixture } from '../helpers/acme-fixture.ts';
import { DAY, iso, seedOrder, type SeedOrder } from '../helpers/acme-orders.ts';
import { testCa } from '../helpers/ca.ts';

const P = 'urn:ietf:params:acme:error:';
const MINUTE = 60_000;

t.test('past its expires an order reads invalid and its authorizations expired; finalize, challenges and deactivation refuse', async (t) => {
  const clock = { at: Date.now() };
  const f = await acmeFixture(t, { now: () => clock.at });
  const asked: string[] = [];
  const answer = f.answers.get.bind(f.answers);
  f.answers.get = (token: string) => { asked.push(token); return answer(token); };
  const c = await f.client();
  await c.register();
  const ip = [{ type: 'ip', value: '127.45.0.1' }];

  const ready = await f.authorize(c, ip);
  const untouched = await f.authorize(c, ip); // ready too, and left alone by the requests below
  const pending = await c.order(ip);
  const issued = await f.authorize(c, [{ type: 'ip', value: '127.45.0.2' }]);
  const fin = await c.post(issued.body.finalize, { csr: f.csrFor('issued', ['IP:127.45.0.2']) });
  t.equal(fin.body.status, 'valid', fin.text);
  t.equal((await c.post(ready.headers.location, undefined)).body.status, 'ready');
  const pendingAuthz = await c.post(pending.body.authorizations[0], undefined);
  const ch = pendingAuthz.body.challenges.find((x: { type: string }) => x.type === 'http-01');
  f.answers.set(ch.token, await c.keyAuthorization(ch.token)); // the device would pass the challenge

  // The clock stood still: every order here expires at the same instant.
  const expires = pending.body.expires;
  t.equal(ready.body.expires, expires);
  clock.at = Date.parse(expires);
  t.equal((await c.post(pending.headers.location, undefined)).body.status, 'pending', 'at its `expires` instant an order still counts ("after which", §7.1.3)');
  clock.at = Date.parse(expires) + 1;

  const order = await c.post(pending.headers.location, undefined);
  t.equal(order.body.status, 'invalid', 'an expired pending order reads invalid (§7.1.6)');
  t.equal(order.body.expires, expires, 'with its expires unchanged');
  t.notOk('error' in order.body, 'and no error: §7.1.6 gives expiry none');
  t.notOk(order.headers['retry-after'], 'nothing to wait for');
  t.equal((await c.post(ready.headers.location, undefined)).body.status, 'invalid', 'so does an expired ready order');
  const valid = await c.post(issued.headers.location, undefined);
  t.equal(valid.body.status, 'valid', 'a valid order stays valid past its expires');
  t.equal((await c.post(valid.body.certificate, undefined)).status, 200, 'and its certificate still downloads');

  const authz = await c.post(pending.body.authorizations[0], undefined);
  t.equal(authz.body.status, 'expired', 'a pending authorization past its expires reads expired');
  t.notOk(authz.headers['retry-after']);
  const wasValid = await c.post(ready.body.authorizations[0], undefined);
  t.equal(wasValid.body.status, 'expired', 'and so does a valid one');
  t.same(wasValid.body.challenges.map((x: { type: string; status: string }) => [x.type, x.status]), [['http-01', 'valid']], 'still listing only the challenge that validated it (§7.1.4)');

  const finReady = await c.post(ready.body.finalize, { csr: f.csrFor('late', ['IP:127.45.0.1']) });
  t.equal(finReady.status, 403);
  t.equal(finReady.body.type, `${P}orderNotReady`, 'finalizing an expired ready order: orderNotReady (§7.4)');
  t.match(finReady.body.detail, `order is invalid: it expired at ${expires}`);
  const finPending = await c.post(pending.body.finalize, { csr: f.csrFor('late2', ['IP:127.45.0.1']) });
  t.equal(finPending.body.type, `${P}orderNotReady`);
  t.match(finPending.body.detail, /expired at/);
  t.equal(f.ca.store.countCertificates(), 1, 'nothing issued after expiry');
  t.notOk(f.ca.store.acme.casOrder(untouched.headers.location.split('/').pop()!, 'ready', 'processing', { notExpiredAt: iso(clock.at) }),
    'the swap finalize makes after its CSR checks refuses an order that expired in between');

  const respond = await c.post(ch.url, {});
  t.equal(respond.status, 400, 'responding to a challenge of an expired authorization is an HTTP error (§7.5.1)');
  t.equal(respond.body.type, `${P}malformed`);
  t.match(respond.body.detail, `expired at ${expires}`);
  t.ok(respond.headers['replay-nonce']);
  await f.ctx.work.drain();
  t.equal((await c.post(ch.url, undefined)).body.status, 'pending', 'the challenge did not move to processing');
  t.notOk(asked.includes(ch.token), 'and no validation request reached the device');

  const deactivate = await c.post(pending.body.authorizations[0], { status: 'deactivated' });
  t.equal(deactivate.body.type, `${P}malformed`, 'an expired authorization cannot be deactivated (expired is final)');
  t.match(deactivate.body.detail, /expired since .* cannot be deactivated/);
  t.equal((await c.post(pending.body.authorizations[0], undefined)).body.status, 'expired');

  t.equal(f.ca.store.acme.getOrder(pending.headers.location.split('/').pop()!)?.status, 'pending', 'computed when read: the stored row was not rewritten');
});

t.test('start-up recovery does not validate again a challenge whose order has expired meanwhile: it ends invalid', async (t) => {
  const { ca } = await testCa(t);
  const clock = { at: Date.parse('2031-03-10T12:00:00.000Z') };
  // Resumed validations ask a resolver where none listens, and are aborted below before the store closes.
  const ctx = buildAcmeContext(ca, { baseUrl: 'http://acme.test', now: () => clock.at, validation: { timeoutMs: 500, attempts: 1, dnsResolvers: ['127.45.0.9:53'] } });
  const { challengeIds } = seedOrder(ctx.store, { id: 'crashed', status: 'pending', challengeStatus: 'processing', expires: clock.at + DAY });

  clock.at += DAY;
  t.equal(resumeProcessingChallenges(ctx), 3, 'up to expiry, the interrupted validations are resumed');
  ctx.validations.close();
  await ctx.work.drain();
  t.same(challengeIds.map((id) => ctx.store.getChallenge(id)?.status), ['processing', 'processing', 'processing'], 'aborted by the shutdown: still processing');

  clock.at += 1;
  t.equal(resumeProcessingChallenges(ctx), 0, 'past expiry (by the server\'s clock) nothing is resumed');
  // Found in review: they stayed `processing` for good, and clients polled them with Retry-After: 1.
  for (const id of challengeIds) {
    const ch = ctx.store.getChallenge(id);
    t.equal(ch?.status, 'invalid', `${id} ends invalid, not processing for ever`);
    t.match(ch?.error?.detail, /not validated: its order is invalid \(expired\)/);
  }
});

t.test('the orders list leaves out invalid and expired orders, and its pages hold when orders expire or go between requests', async (t) => {
  const NOW = Date.parse('2031-03-10T12:00:00.000Z');
  const clock = { at: NOW };
  const f = await acmeFixture(t, { now: () => clock.at });
  const c = await f.client();
  await c.register();
  const accountId = c.kid!.split('/').pop()!;

  // 250 orders, created in pairs sharing a millisecond (so ids break ties, across a page boundary too).
  const kinds: Array<Pick<SeedOrder, 'status' | 'expires'>> = [
    { status: 'valid', expires: NOW - 3 * DAY }, // listed: valid past its expires
    { status: 'ready', expires: NOW + 60 * MINUTE }, // listed until it expires below
    { status: 'invalid', expires: NOW + 5 * DAY }, // never listed
    { status: 'pending', expires: NOW - 60 * MINUTE }, // expired: invalid, not listed
    { status: 'processing', expires: NOW - 60 * MINUTE }, // listed: processing is not invalidated by expiry
    { status: 'valid', expires: NOW + DAY },
    { status: 'pending', expires: NOW + 60 * MINUTE }, // listed until it expires below
    { status: 'invalid', expires: NOW - DAY },
    { status: 'ready', expires: NOW - 60 * MINUTE }, // expired: not listed
    { status: 'pending', expires: NOW + 5 * DAY },
  ];
  const seeded = Array.from({ length: 250 }, (_, i) => ({ id: `o${String(i).padStart(3, '0')}`, created: NOW - 10 * DAY + Math.floor(i / 2) * MINUTE, ...kinds[i % kinds.length] }));
  f.ca.store.acme.insertAccount({ id: 'acct-other', thumbprint: 'tp-other', jwk: { kty: 'EC' }, status: 'valid', contact: [], createdAt: iso(NOW) });
  for (const o of seeded) {
    seedOrder(f.ca.store.acme, { ...o, accountId });
    seedOrder(f.ca.store.acme, { ...o, id: `${o.id}-other`, accountId: 'acct-other' });
  }
  const url = (id: string) => f.ctx.urls.order(id);
  const liveAt = (now: number) => seeded.filter((o) => o.status === 'valid' || o.status === 'processing' || (o.status !== 'invalid' && o.expires >= now)).map((o) => url(o.id));
  const nextLink = (link: string | undefined) => /<([^>]+)>;rel="next"/.exec(link ?? '')?.[1];

  // A whole walk at one instant: every order that is not invalid, once, in creation order, pages of 100.
  const first = await c.post(`${c.kid}/orders`, undefined);
  t.equal(first.status, 200);
  t.same(first.body.orders, liveAt(NOW).slice(0, 100), 'page 1: the first 100 orders that are neither invalid nor expired (§7.1.2.1)');
  t.equal(first.body.orders.length, 100, 'a full first page: the list is filtered before it is paged');
  const next = nextLink(first.headers.link);
  t.ok(next, 'with a rel="next" link');
  t.match(first.headers.link, /rel="index"/);
  const second = await c.post(next!, undefined);
  t.equal(second.status, 200, `a client signs the next link as it is, query included (§6.4): ${second.body.type ?? ''}`);
  t.same([...first.body.orders, ...second.body.orders], liveAt(NOW), 'no invalid or expired order, none twice, none left out (§7.1.2.1)');
  t.notOk(nextLink(second.headers.link), 'the last page has no next link');
  t.equal(liveAt(NOW).length, 150);

  // Between two requests, orders already listed on page 1 expire and are then pruned: page 2 starts right
  // after page 1's last order all the same (an offset would now skip the orders it moved forward).
  clock.at = NOW + 2 * 60 * MINUTE;
  t.ok(f.ca.store.acme.pruneExpired(iso(clock.at), 100_000).orders > 0, 'orders before the page boundary are gone');
  const after = await c.post(next!, undefined);
  const lastOfFirst = liveAt(NOW).indexOf(first.body.orders[99]);
  t.same(after.body.orders, liveAt(clock.at).filter((u) => liveAt(NOW).indexOf(u) > lastOfFirst), 'page 2 holds exactly the orders still listed after page 1\'s last');
  t.ok(after.body.orders.length < second.body.orders.length, 'fewer than before: those that expired in the meantime are left out');

  const walked: string[] = [];
  for (let page: string | undefined = `${c.kid}/orders`; page;) {
    const r = await c.post(page, undefined);
    walked.push(...r.body.orders);
    page = nextLink(r.headers.link);
  }
  t.same(walked, liveAt(clock.at), 'a fresh walk lists what is not invalid now');

  const forged = await c.post(`${c.kid}/orders?cursor=42`, undefined);
  t.equal(forged.body.type, `${P}malformed`, 'a cursor this server did not hand out is refused');
});

t.test('replaces: an expired or invalid order no longer holds the certificate; a live or valid one does', async (t) => {
  const clock = { at: Date.now() };
  const f = await acmeFixture(t, { now: () => clock.at });
  const c = await f.client();
  await c.register();
  const ip = [{ type: 'ip', value: '127.45.0.3' }];
  const old = await f.authorize(c, ip);
  const fin = await c.post(old.body.finalize, { csr: f.csrFor('old', ['IP:127.45.0.3']) });
  const certId = certIdOf(f.ca.store.getCertificate(fin.body.certificate.split('/').pop())!.pem);

  const abandoned = await c.order(ip, { replaces: certId });
  t.equal(abandoned.status, 201, abandoned.text);
  const dup = await c.order(ip, { replaces: certId });
  t.equal(dup.status, 409);
  t.equal(dup.body.type, `${P}alreadyReplaced`, 'a pending order replacing the certificate holds it (RFC 9773 §5)');

  clock.at = Date.parse(abandoned.body.expires) + 1;
  const later = await c.order(ip, { replaces: certId });
  t.equal(later.status, 201, `once that order expired (invalid, §7.1.6), a new one may replace the certificate: ${later.text}`);
  t.equal(later.body.replaces, certId);
  const abandonedNow = await c.post(abandoned.headers.location, undefined);
  t.equal(abandonedNow.body.status, 'invalid');
  t.equal(abandonedNow.body.replaces, certId, 'the expired order still reflects its replaces (RFC 9773 §5)');
  t.equal((await c.order(ip, { replaces: certId })).body.type, `${P}alreadyReplaced`, 'and the new live order holds it in turn');

  await c.post(later.body.authorizations[0], { status: 'deactivated' });
  t.equal((await c.post(later.headers.location, undefined)).body.status, 'invalid');
  const renewal = await f.authorize(c, ip, { replaces: certId });
  t.equal((await c.post(renewal.headers.location, undefined)).body.status, 'ready', 'an invalid order does not hold it either');
  t.equal((await c.order(ip, { replaces: certId })).body.type, `${P}alreadyReplaced`, 'a ready one does');
  const renewed = await c.post(renewal.body.finalize, { csr: f.csrFor('renewed', ['IP:127.45.0.3']) });
  t.equal(renewed.body.status, 'valid', renewed.text);

  clock.at = Date.parse(renewal.body.expires) + 1;
  t.equal((await c.post(renewal.headers.location, undefined)).body.status, 'valid');
  const afterValid = await c.order(ip, { replaces: certId });
  t.equal(afterValid.status, 409);
  t.equal(afterValid.body.type, `${P}alreadyReplaced`, 'a valid order replaced the certificate for good, past its own expires');
});
