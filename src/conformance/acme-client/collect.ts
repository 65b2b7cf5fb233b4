import { createHash } from 'node:crypto';
import { WardgateError } from '../../errors.ts';
import { certIdOf } from '../../acme/ari.ts';
import type { AcmeContext } from '../../acme/context.ts';
import { parseCsr } from '../../pki/csr.ts';
import { x509 } from '../../pki/x509.ts';
import type { RecordedCertificate, RecordedCsr, RecordedOrder, RecordedRequest } from './exchange.ts';
import type { KitSession } from './session.ts';

const rel = (session: KitSession, iso: string | undefined) => (iso ? Date.parse(iso) - session.startedAt : undefined);

export async function csrOf(r: RecordedRequest): Promise<RecordedCsr | undefined> {
  const csr = (r.jws?.payload as { csr?: unknown } | undefined)?.csr;
  if (typeof csr !== 'string') return undefined;
  try {
    const parsed = await parseCsr(csr);
    return {
      seq: r.seq, at: r.at, identifiers: parsed.identifiers.map((i) => ({ type: i.type, value: i.value })),
      spkiSha256: createHash('sha256').update(parsed.spki).digest('hex'), keyType: parsed.keyType,
    };
  } catch (err) {
    const keyRejected = err instanceof WardgateError && err.code === 'CSR_KEY_REJECTED' ? { keyRejected: true as const } : {};
    return { seq: r.seq, at: r.at, error: (err as Error).message, ...keyRejected, identifiers: [], spkiSha256: '', keyType: 'unknown' };
  }
}

/**
 * Reads back from the CA's store what the client's requests produced: each order it created, with its
 * authorizations, challenge outcomes, the CSRs it sent to finalize and the certificate it got.
 */
export async function collectOrders(session: KitSession, ctx: AcmeContext): Promise<{ orders: RecordedOrder[]; certificates: RecordedCertificate[] }> {
  const orders: RecordedOrder[] = [];
  const certificates: RecordedCertificate[] = [];
  for (const id of session.orderIds) {
    const o = ctx.store.getOrder(id);
    if (!o) continue;
    const made = session.orderAt.get(id)!;
    const csrs: RecordedCsr[] = [];
    for (const r of session.requests.filter((q) => q.resource === 'finalize' && q.group === `order:${id}`)) {
      const c = await csrOf(r);
      if (c) csrs.push(c);
    }
    const authorizations = o.authzIds.map((aid) => {
      const a = ctx.store.getAuthz(aid);
      return {
        identifier: a?.identifier ?? { type: 'dns', value: '?' }, status: a?.status ?? 'unknown',
        challenges: ctx.store.listChallenges(aid).map((c) => ({
          type: c.type, status: c.status, ...(c.validated ? { validatedAt: rel(session, c.validated) } : {}),
          ...(c.error ? { error: `${c.error.type}: ${c.error.detail}` } : {}),
        })),
      };
    });
    orders.push({
      id, url: ctx.urls.order(id), phase: made.phase, at: made.at, requestedIdentifiers: session.requestedIdentifiers.get(id) ?? [],
      identifiers: o.identifiers, status: o.status, ...(o.replaces ? { replaces: o.replaces } : {}), authorizations, csrs,
      ...(o.certSerial ? { certificateSerial: o.certSerial } : {}),
    });
    const rec = o.certSerial ? ctx.ca.store.getCertificate(o.certSerial) : undefined;
    if (rec) {
      const cert = new x509.X509Certificate(rec.pem);
      certificates.push({
        serial: rec.serial, certId: certIdOf(rec.pem), orderId: id, phase: made.phase, issuedAt: rel(session, rec.createdAt)!,
        notBefore: rec.notBefore, notAfter: rec.notAfter, names: rec.names,
        spkiSha256: createHash('sha256').update(new Uint8Array(cert.publicKey.rawData)).digest('hex'),
      });
    }
  }
  return { orders, certificates };
}
