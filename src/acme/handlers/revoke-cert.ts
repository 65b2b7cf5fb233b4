import type { FastifyInstance } from 'fastify';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { createPublicKey } from 'node:crypto';
import { x509 } from '../../pki/x509.ts';
import { identifierFromText } from '../../pki/names.ts';
import { normalizeSerial } from '../../pki/serial.ts';
import { reasonName } from '../../pki/revocation-reasons.ts';
import type { AcmeContext } from '../context.ts';
import { AcmeProblem } from '../problems.ts';
import { payloadObject, type AcmeHandler, addAcmeHeaders, checkAddressLimit, requestUrl } from '../route.ts';
import { verifyRequest } from '../jws.ts';

/**
 * RFC 5280 §5.3.1 reasons a subscriber may give over ACME (§7.6), as Let's Encrypt's Boulder allows:
 * unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation. cACompromise (2) and
 * aACompromise (10) are claims about the CA, not this certificate; certificateHold (6) is a hold ACME has
 * no way to release; privilegeWithdrawn (9) is the CA's decision. The admin CLI (pki/revocation-reasons.ts)
 * keeps them all.
 */
const ACME_REASONS: readonly number[] = [0, 1, 3, 4, 5];

/**
 * RFC 8555 §7.6: besides the account that ordered the certificate, an account that holds authorizations for
 * every identifier in it may revoke it (the device's new owner, a second client on the same host). Valid and
 * unexpired authorizations only: a deactivated or expired one proves nothing now.
 */
function assertHoldsAuthorizations(ctx: AcmeContext, accountId: string, names: string[]): void {
  const held = new Set(ctx.store.authorizedIdentifiers(accountId, new Date(ctx.now()).toISOString()).map((i) => `${i.type}:${i.value}`));
  const missing = names.map(identifierFromText).filter((i) => !held.has(`${i.type}:${i.value}`));
  if (missing.length > 0) {
    throw new AcmeProblem('unauthorized', `the certificate was ordered by another account, and this account holds no valid authorization for ${missing.map((i) => i.value).join(', ')}: sign with the ordering account's key or the certificate key`);
  }
}

/**
 * RFC 8555 §7.6 revokeCert, signed by the account that ordered the certificate or one holding authorizations
 * for all its names (kid), or by the certificate's own key (jwk), so a device whose account is lost can
 * still revoke a compromised key.
 */
export function revokeCert(app: FastifyInstance, ctx: AcmeContext): void {
  const handler: AcmeHandler = async (req) => {
    const p = payloadObject(req);
    if (typeof p.certificate !== 'string') throw new AcmeProblem('malformed', '"certificate" must be the base64url DER certificate');
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(Buffer.from(p.certificate, 'base64url'));
    } catch {
      throw new AcmeProblem('malformed', '"certificate" is not a DER X.509 certificate');
    }
    const reason = p.reason === undefined ? 0 : p.reason;
    if (typeof reason !== 'number' || !ACME_REASONS.includes(reason)) {
      throw new AcmeProblem('badRevocationReason', `revocation reason ${JSON.stringify(reason)} is not allowed over ACME; use one of the RFC 5280 codes ${ACME_REASONS.map((c) => `${c} (${reasonName(c)})`).join(', ')}`);
    }
    const record = ctx.ca.store.getCertificate(normalizeSerial(cert.serialNumber));
    if (!record || record.pem.replace(/\s/g, '') !== cert.toString('pem').replace(/\s/g, '')) throw new AcmeProblem('malformed', 'this CA did not issue that certificate', { status: 404 });
    if (req.account) {
      if (record.accountId !== req.account.id) assertHoldsAuthorizations(ctx, req.account.id, record.names);
    } else {
      const certJwk = await exportJWK(createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' }));
      if (await calculateJwkThumbprint(certJwk as JWK, 'sha256') !== req.thumbprint) throw new AcmeProblem('unauthorized', 'the request is signed neither by the ordering account nor by the certificate key');
    }
    if (record.status === 'revoked') throw new AcmeProblem('alreadyRevoked', `certificate ${record.serial} is already revoked`);
    const at = new Date().toISOString();
    if (!ctx.ca.store.revokeCertificate(record.serial, reason, at, { event: 'cert.revoke', actor: req.account ? `acme:${req.account.id}` : 'acme:certificate-key', data: { serial: record.serial, reason } })) {
      throw new AcmeProblem('alreadyRevoked', `certificate ${record.serial} is already revoked`);
    }
    return { status: 200 };
  };
  // This resource takes either kid or jwk, so it cannot use acmePost's fixed mode.
  app.post('/acme/revoke-cert', async (request, reply) => {
    checkAddressLimit(ctx, request);
    const body = request.body as { protected?: string } | undefined;
    let mode: 'kid' | 'jwk' = 'kid';
    try {
      const h = JSON.parse(Buffer.from(String(body?.protected ?? ''), 'base64url').toString('utf8'));
      if (h && typeof h === 'object' && 'jwk' in h) mode = 'jwk';
    } catch { /* verifyRequest reports the malformed header */ }
    const verified = await verifyRequest(request.body, requestUrl(ctx, request), mode, { nonces: ctx.nonces, store: ctx.store, accountUrlPrefix: ctx.urls.accountPrefix });
    const out = await handler(verified, {}, request);
    addAcmeHeaders(ctx, reply);
    return reply.code(out.status ?? 200).send('');
  });
}
