import { isWardgateError } from '../errors.ts';
import { parseCsr, type ParsedCsr } from '../pki/csr.ts';
import type { AcmeOrder } from '../store/acme-types.ts';
import type { AcmeContext } from './context.ts';
import { problemDocument } from './problems.ts';

/**
 * Signs the certificate of an order that is `processing` and stores it together with the order's
 * processing -> valid transition (one transaction). Runs in the background after finalize, and again
 * at start-up for orders a crash left in `processing`: since nothing was stored for them, re-running
 * the issuance from the stored CSR is safe and never issues twice.
 */
export async function completeIssuance(ctx: AcmeContext, order: AcmeOrder, parsed?: ParsedCsr): Promise<void> {
  try {
    const csr = parsed ?? await parseCsr(order.csr!);
    const { record, audit } = await ctx.ca.sign({
      spki: csr.spki, keyType: csr.keyType, identifiers: order.identifiers, profile: order.profile,
      accountId: order.accountId, orderId: order.id, actor: `acme:${order.accountId}`,
    });
    await ctx.store.completeOrder(order.id, record, audit);
  } catch (err) {
    const detail = isWardgateError(err) ? err.message : 'internal error while signing the certificate';
    ctx.store.casOrder(order.id, 'processing', 'invalid', { error: problemDocument(isWardgateError(err) ? 'badCSR' : 'serverInternal', detail) });
  }
}

/**
 * Start-up recovery: no order stays `processing` after a restart, expired or not (expiry invalidates only
 * `pending` and `ready` orders, acme/expiry.ts: the client's finalize was accepted before).
 */
export async function resumeProcessingOrders(ctx: AcmeContext): Promise<number> {
  const stuck = ctx.store.listOrdersByStatus('processing');
  for (const order of stuck) await ctx.work.run(`order:${order.id}`, () => completeIssuance(ctx, order));
  return stuck.length;
}
