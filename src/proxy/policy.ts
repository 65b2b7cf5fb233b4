/**
 * Per-route allow rules. A rule lists conditions (peer certificate subject/SAN, peer address, DICOM
 * AE titles, HL7 MSH routing fields); all conditions present in a rule must hold, and a request is
 * allowed when any rule matches. A route without `allow` admits every authenticated peer.
 * DICOM AE titles are compared after trimming (PS3.5 §6.2: leading/trailing spaces are not significant).
 */
import { isIP } from 'node:net';
import { canonicalIp, stripZone } from '../pki/ip.ts';
import type { AllowRule } from './route-config.ts';
import type { PeerIdentity } from './peer-identity.ts';

export interface Decision {
  allowed: boolean;
  /** Why, for audit records and logs. */
  reason: string;
}

function anyOf(list: string[] | undefined, values: string[], fold = false): boolean {
  if (!list) return true;
  // IPv6 in any spelling (fd00::5, FD00:0:0:0:0:0:0:5) compares as one address. A link-local peer's
  // socket address carries its zone (fe80::1%eth0) and rules carry none (route-config refuses one).
  const norm = (s: string) => {
    const t = fold ? s.toLowerCase() : s;
    return isIP(t) ? canonicalIp(stripZone(t)) : t;
  };
  return list.some((want) => values.some((v) => norm(v) === norm(want)));
}

/**
 * MSH-3/MSH-4 are HD (namespace ID ^ universal ID ^ universal ID type). A rule value without `^` names
 * the namespace ID; one with `^` names the whole HD, for receivers that key on the universal ID (an OID):
 * `LAB` admits `LAB^1.2.3^ISO` and `LAB^9.9^ISO` alike, `LAB^1.2.3^ISO` only the first.
 */
function hdMatches(list: string[] | undefined, hd: { first: string; full: string }): boolean {
  if (!list) return true;
  return list.some((want) => (want.includes('^') ? want === hd.full : want === hd.first));
}

function peerMatches(rule: AllowRule, peer: PeerIdentity): boolean {
  return anyOf(rule.peerSubjects, peer.subjects) && anyOf(rule.peerSans, peer.sans, true) && anyOf(rule.peerAddresses, [peer.address]);
}

function evaluate(rules: AllowRule[] | undefined, match: (rule: AllowRule) => boolean, what: string): Decision {
  if (!rules) return { allowed: true, reason: 'route has no allow rules' };
  const index = rules.findIndex(match);
  return index >= 0 ? { allowed: true, reason: `allow rule ${index} matches` } : { allowed: false, reason: `no allow rule matches ${what}` };
}

function describePeer(peer: PeerIdentity): string {
  return peer.subjectText ? `${peer.subjectText} at ${peer.address}` : peer.address;
}

/** PS3.8 §9.3.2: decide an A-ASSOCIATE-RQ by its calling/called AE titles and the peer's identity. */
export function decideAssociation(rules: AllowRule[] | undefined, peer: PeerIdentity, callingAeTitle: string, calledAeTitle: string): Decision {
  const calling = callingAeTitle.trim();
  const called = calledAeTitle.trim();
  return evaluate(
    rules,
    (r) => peerMatches(r, peer) && anyOf(r.callingAeTitles?.map((s) => s.trim()), [calling]) && anyOf(r.calledAeTitles?.map((s) => s.trim()), [called]),
    `peer ${describePeer(peer)} calling AE "${calling}" called AE "${called}"`,
  );
}

export interface Hl7Routing {
  /** MSH-3 and MSH-4, first component (namespace ID). */
  sendingApplication: string;
  sendingFacility: string;
  /** MSH-3 and MSH-4 whole: components joined with `^`, trailing empty ones dropped (default: the first). */
  sendingApplicationHd?: string;
  sendingFacilityHd?: string;
  /** MSH-9.1 and MSH-9.2. */
  code: string;
  trigger: string;
}

/** HL7 v2.5 §2.14.9: decide a message by MSH-3, MSH-4 and MSH-9 and the peer's identity. */
export function decideMessage(rules: AllowRule[] | undefined, peer: PeerIdentity, msg: Hl7Routing): Decision {
  const types = [msg.code, `${msg.code}^${msg.trigger}`];
  const app = { first: msg.sendingApplication, full: msg.sendingApplicationHd ?? msg.sendingApplication };
  const facility = { first: msg.sendingFacility, full: msg.sendingFacilityHd ?? msg.sendingFacility };
  return evaluate(
    rules,
    (r) => peerMatches(r, peer) && hdMatches(r.sendingApplications, app) && hdMatches(r.sendingFacilities, facility) && anyOf(r.messageTypes, types),
    `peer ${describePeer(peer)} message ${msg.code}^${msg.trigger} from ${app.full}/${facility.full}`,
  );
}

/** Connection-level check before any protocol byte: only the peer conditions of each rule. */
export function peerMayConnect(rules: AllowRule[] | undefined, peer: PeerIdentity): Decision {
  return evaluate(rules, (r) => peerMatches(r, peer), `peer ${describePeer(peer)}`);
}
