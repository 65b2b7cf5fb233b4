import type { FastifyInstance } from 'fastify';
import { isWardgateError } from '../../errors.ts';
import { parseCsr, type ParsedCsr } from '../../pki/csr.ts';
import { accountPublicKey } from '../account-key.ts';
import type { AcmeContext } from '../context.ts';
import { completeIssuance } from '../issuance.ts';
import { AcmeProblem } from '../problems.ts';
import { orderJson } from '../resources.ts';
import { acmePost, payloadObject, requireOwner } from '../route.ts';
import { PROCESSING_RETRY_AFTER } from './order.ts';

const key = (i: { type: string; value: string }) => `${i.type}:${i.value}`;

/**
 * RFC 8555 §7.4 finalize: the CSR must name exactly the order's identifiers (§7.4: "MUST reject" otherwise)
 * and must not reuse the account key (§11.1). ready -> processing is compare-and-swap, so of two
 * concurrent finalizes exactly one issues; the other sees the order already processing.
 */
export function finalize(app: FastifyInstance, ctx: AcmeContext): void {
  acmePost(app, ctx, '/acme/order/:id/finalize', 'kid', async (req, params) => {
    const o = ctx.store.getOrder(params.id);
    if (!o) throw new AcmeProblem('malformed', `no order ${params.id}`, { status: 404 });
    requireOwner(req, o.accountId, 'this order');
    if (o.status !== 'ready') {
      throw new AcmeProblem('orderNotReady', `order is ${o.status}, not ready${o.status === 'pending' ? ': complete its authorizations first' : ''}`);
    }
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
    if (!ctx.store.casOrder(o.id, 'ready', 'processing', { csr: p.csr })) {
      throw new AcmeProblem('orderNotReady', `order is ${ctx.store.getOrder(o.id)!.status}, not ready (finalized concurrently)`);
    }
    void ctx.work.run(`order:${o.id}`, () => completeIssuance(ctx, { ...o, status: 'processing', csr: p.csr as string }, csr));
    await ctx.work.waitFor(`order:${o.id}`, ctx.options.processingWaitMs);
    const current = ctx.store.getOrder(o.id)!;
    return {
      location: ctx.urls.order(o.id), body: orderJson(current, ctx.urls),
      headers: (current.status === 'processing' ? { 'Retry-After': PROCESSING_RETRY_AFTER } : {}) as Record<string, string>,
    };
  });
}
