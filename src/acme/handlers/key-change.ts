import type { FastifyInstance } from 'fastify';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { AcmeContext } from '../context.ts';
import { checkAlg, checkPublicJwk, decodeHeader, keyMembers, parseFlattened, payloadJwkThumbprint, verifySignature, type ProtectedHeader } from '../jws.ts';
import { AcmeProblem } from '../problems.ts';
import { accountJson } from '../resources.ts';
import { acmePost } from '../route.ts';

/**
 * RFC 8555 §7.3.5: the inner JWS "MUST have a "jwk" header parameter", "MUST have the same "url" header
 * parameter as the outer JWS" and "MUST omit the "nonce" header parameter" (present with any value, even
 * empty, is refused: only the outer JWS spends a nonce). Checked before the signature, like the outer steps.
 */
function checkInnerHeader(header: ProtectedHeader, outerUrl: string | undefined): asserts header is ProtectedHeader & { jwk: JWK } {
  if (!header.jwk || header.kid !== undefined) throw new AcmeProblem('malformed', 'the inner JWS of keyChange must carry "jwk" (the new key) and no "kid"');
  if ('nonce' in header) throw new AcmeProblem('malformed', 'the inner JWS of keyChange must omit the "nonce" header parameter (RFC 8555 §7.3.5)');
  if (header.url !== outerUrl) throw new AcmeProblem('malformed', 'the inner JWS "url" must equal the outer JWS "url"');
}

/**
 * RFC 8555 §7.3.5 key rollover: the outer JWS is signed by the old key (kid), its payload is an inner
 * JWS signed by the new key (jwk) with the same "url", carrying { account, oldKey }.
 */
export function keyChange(app: FastifyInstance, ctx: AcmeContext): void {
  acmePost(app, ctx, '/acme/key-change', 'kid', async (req) => {
    const acct = req.account!;
    const inner = parseFlattened(req.payload);
    const header = decodeHeader(inner);
    checkAlg(header);
    checkInnerHeader(header, req.header.url);
    checkPublicJwk(header.jwk);
    const payload = await verifySignature(inner, header.jwk, header.alg) as { account?: string; oldKey?: JWK } | undefined;
    if (!payload || payload.account !== ctx.urls.account(acct.id)) throw new AcmeProblem('malformed', 'the inner payload "account" must be the URL of the signing account');
    if (!payload.oldKey || await payloadJwkThumbprint(payload.oldKey, 'the inner payload "oldKey"') !== acct.thumbprint) {
      throw new AcmeProblem('malformed', 'the inner payload "oldKey" is not the current account key');
    }
    const thumbprint = await calculateJwkThumbprint(header.jwk, 'sha256');
    const other = ctx.store.getAccountByThumbprint(thumbprint);
    if (other) throw Object.assign(new AcmeProblem('malformed', 'the new key already belongs to an account', { status: 409 }), { location: ctx.urls.account(other.id) });
    if (!ctx.store.changeAccountKey(acct.id, acct.thumbprint, keyMembers(header.jwk) as Record<string, unknown>, thumbprint)) {
      throw new AcmeProblem('malformed', 'the account key changed concurrently; retry', { status: 409 });
    }
    return { body: accountJson(ctx.store.getAccount(acct.id)!, ctx.urls), location: ctx.urls.account(acct.id) };
  });
}
