import type { FastifyInstance } from 'fastify';
import { isWardgateError } from '../../errors.ts';
import { parseCsr, type ParsedCsr } from '../../pki/csr.ts';
import type { AcmeOrder } from '../../store/acme-types.ts';
import { accountPublicKey } from '../account-key.ts';
import type { AcmeContext } from '../context.ts';
import { orderAsOf } from '../expiry.ts';
import { completeIssuance } from '../issuance.ts';
import { AcmeProblem } from '../problems.ts';
import { orderJson } from '../resources.ts';
import { acmePost, payloadObject, requireOwner } from '../route.ts';
import { PROCESSING_RETRY_AFTER } from './order.ts';

const key = (i: { type: string; value: string }) => `${i.type}:${i.value}`;

/** orderNotReady's detail (§7.4) for an order as stored, seen at `now`: for one that expired, since when. */
function notReady(stored: AcmeOrder, now: number): string {
  const { status } = orderAsOf(stored, now);
  if (status !== stored.status) return `order is invalid: it expired at ${stored.expires} (RFC 8555 §7.1.6); create a new order`;
  return `order is ${status}, not ready${status === 'pending' ? ': complete its authorizations first' : ''}`;
}

/**
 * RFC 8555 §7.4 finalize: the CSR must name exactly the order's identifiers (§7.4: "MUST reject" otherwise)
 * and must not reuse the account key (§11.1). ready -> processing is compare-and-swap, so of two
 * concurrent finalizes exactly one issues; the other sees the order already processing.
 */
export function finalize(app: FastifyInstance, ctx: AcmeContext): void {
  acmePost(app, ctx, '/acme/order/:id/finalize', 'kid', async (req, params) => {
    const stored = ctx.store.getOrder(params.id);
    if (!stored) throw new AcmeProblem('malformed', `no order ${params.id}`, { status: 404 });
    requireOwner(req, stored.accountId, 'this order');
    const at = ctx.now();
    const o = orderAsOf(stored, at);
    // §7.4: an order that is not ready gets 403 orderNotReady; one that expired is `invalid` (§7.1.6) for good.
    if (o.status !== 'ready') throw new AcmeProblem('orderNotReady', notReady(stored, at));
    const p = payloadObject(req);
    if (typeof p.csr !== 'string' || !/^[A-Za-z0-9_-]+$/.test(p.csr)) throw new AcmeProblem('malformed', '"csr" must be the base64url DER of a PKCS#10 request');
    let csr: ParsedCsr;
    try {
      csr = await parseCsr(Buffer.from(p.csr, 'base64url'));
    } catch (err) {
      throw new AcmeProblem('badCSR', isWardgateError(err) ? err.message : 'CSR cannot be parsed');
    }
    const wanted = new Set(o.identifiers.map(key));
    const got = new Set(csr.identifiers.map(key));
    if (wanted.size !== got.size || [...wanted].some((k) => !got.has(k))) {
      throw new AcmeProblem('badCSR', `CSR names ${[...got].join(', ')} but the order is for ${[...wanted].join(', ')}`);
    }
    const profile = ctx.ca.profiles.get(o.profile);
    if (!profile.keyTypes.includes(csr.keyType)) throw new AcmeProblem('badCSR', `profile ${profile.name} does not accept ${csr.keyType} keys (accepted: ${profile.keyTypes.join(', ')})`);
    if (csr.publicKey.equals(accountPublicKey(req.account!))) {
      throw new AcmeProblem('badCSR', 'the CSR key is the account key: use a separate key for the certificate (RFC 8555 §11.1)');
    }
    // The CSR was parsed asynchronously: the swap itself refuses an order that has expired since the check.
    const swapAt = ctx.now();
    if (!ctx.store.casOrder(o.id, 'ready', 'processing', { csr: p.csr, notExpiredAt: new Date(swapAt).toISOString() })) {
      const current = ctx.store.getOrder(o.id)!;
      throw new AcmeProblem('orderNotReady', current.status === 'ready' ? notReady(current, swapAt) : `order is ${current.status}, not ready (finalized concurrently)`);
    }
    void ctx.work.run(`order:${o.id}`, () => completeIssuance(ctx, { ...o, status: 'processing', csr: p.csr as string }, csr));
    await ctx.work.waitFor(`order:${o.id}`, ctx.options.processingWaitMs);
    const current = orderAsOf(ctx.store.getOrder(o.id)!, ctx.now());
    return {
      location: ctx.urls.order(o.id), body: orderJson(current, ctx.urls),
      headers: (current.status === 'processing' ? { 'Retry-After': PROCESSING_RETRY_AFTER } : {}) as Record<string, string>,
    };
  });
}
