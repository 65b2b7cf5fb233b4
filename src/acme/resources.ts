import type { AcmeAccount, AcmeAuthz, AcmeChallenge, AcmeOrder } from '../store/acme-types.ts';
import type { AcmeUrls } from './urls.ts';

/** JSON views of the stored records, as RFC 8555 §7.1.2-7.1.5 define them. */

export function accountJson(a: AcmeAccount, urls: AcmeUrls): Record<string, unknown> {
  return { status: a.status, contact: a.contact, orders: urls.accountOrders(a.id), ...(a.eabKid ? { externalAccountBinding: { kid: a.eabKid } } : {}) };
}

export function orderJson(o: AcmeOrder, urls: AcmeUrls): Record<string, unknown> {
  return {
    status: o.status, expires: o.expires, identifiers: o.identifiers, profile: o.profile,
    authorizations: o.authzIds.map((id) => urls.authz(id)), finalize: urls.finalize(o.id),
    ...(o.certSerial ? { certificate: urls.certificate(o.certSerial) } : {}),
    ...(o.error ? { error: o.error } : {}),
    ...(o.replaces ? { replaces: o.replaces } : {}),
  };
}

export function challengeJson(c: AcmeChallenge, urls: AcmeUrls): Record<string, unknown> {
  return {
    type: c.type, url: urls.challenge(c.id), status: c.status, token: c.token,
    ...(c.validated ? { validated: c.validated } : {}), ...(c.error ? { error: c.error } : {}),
  };
}

export function authzJson(a: AcmeAuthz, challenges: AcmeChallenge[], urls: AcmeUrls): Record<string, unknown> {
  // §7.1.4: once valid, only the challenge that succeeded is listed; still so after the authorization expired.
  const validated = challenges.filter((c) => c.status === 'valid');
  const shown = a.status === 'valid' || (a.status === 'expired' && validated.length) ? validated : challenges;
  return { identifier: a.identifier, status: a.status, expires: a.expires, challenges: shown.map((c) => challengeJson(c, urls)) };
}
