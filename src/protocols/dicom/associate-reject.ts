/**
 * A-ASSOCIATE-RJ PDU (PS3.8 §9.3.4): result, source and reason of a refused association.
 */
import { malformed } from './items.ts';
import { PDU_HEADER_LENGTH, PDU_TYPE } from './pdu.ts';

// PS3.8 Table 9-21.
export const REJECT_RESULT = {
  Permanent: 1,
  Transient: 2,
} as const;

export const REJECT_SOURCE = {
  ServiceUser: 1,
  ServiceProviderAcse: 2,
  ServiceProviderPresentation: 3,
} as const;

/** Reason values are only meaningful together with their source (PS3.8 Table 9-21). */
export const REJECT_REASON = {
  ServiceUser: {
    NoReasonGiven: 1,
    ApplicationContextNameNotSupported: 2,
    CallingAeTitleNotRecognized: 3,
    CalledAeTitleNotRecognized: 7,
  },
  ServiceProviderAcse: {
    NoReasonGiven: 1,
    ProtocolVersionNotSupported: 2,
  },
  ServiceProviderPresentation: {
    TemporaryCongestion: 1,
    LocalLimitExceeded: 2,
  },
} as const;

export interface AssociateRj {
  result: number;
  source: number;
  reason: number;
}

/** Ready-made rejections for the cases a gateway meets most. */
export const REJECTION = {
  callingAeTitleNotRecognized: { result: REJECT_RESULT.Permanent, source: REJECT_SOURCE.ServiceUser, reason: REJECT_REASON.ServiceUser.CallingAeTitleNotRecognized },
  calledAeTitleNotRecognized: { result: REJECT_RESULT.Permanent, source: REJECT_SOURCE.ServiceUser, reason: REJECT_REASON.ServiceUser.CalledAeTitleNotRecognized },
  applicationContextNotSupported: { result: REJECT_RESULT.Permanent, source: REJECT_SOURCE.ServiceUser, reason: REJECT_REASON.ServiceUser.ApplicationContextNameNotSupported },
  noReasonGiven: { result: REJECT_RESULT.Permanent, source: REJECT_SOURCE.ServiceUser, reason: REJECT_REASON.ServiceUser.NoReasonGiven },
  protocolVersionNotSupported: { result: REJECT_RESULT.Permanent, source: REJECT_SOURCE.ServiceProviderAcse, reason: REJECT_REASON.ServiceProviderAcse.ProtocolVersionNotSupported },
  temporaryCongestion: { result: REJECT_RESULT.Transient, source: REJECT_SOURCE.ServiceProviderPresentation, reason: REJECT_REASON.ServiceProviderPresentation.TemporaryCongestion },
  localLimitExceeded: { result: REJECT_RESULT.Transient, source: REJECT_SOURCE.ServiceProviderPresentation, reason: REJECT_REASON.ServiceProviderPresentation.LocalLimitExceeded },
} as const satisfies Record<string, AssociateRj>;

function check(rj: AssociateRj): AssociateRj {
  if (rj.result !== REJECT_RESULT.Permanent && rj.result !== REJECT_RESULT.Transient) {
    throw malformed(`A-ASSOCIATE-RJ result ${rj.result} is not 1 (permanent) or 2 (transient)`);
  }
  if (rj.source < REJECT_SOURCE.ServiceUser || rj.source > REJECT_SOURCE.ServiceProviderPresentation) {
    throw malformed(`A-ASSOCIATE-RJ source ${rj.source} is not 1, 2 or 3`);
  }
  if (!Number.isInteger(rj.reason) || rj.reason < 0 || rj.reason > 0xff) throw malformed(`A-ASSOCIATE-RJ reason ${rj.reason} is not a byte`);
  return rj;
}

export function encodeAssociateRj(rj: AssociateRj): Buffer {
  check(rj);
  const out = Buffer.alloc(PDU_HEADER_LENGTH + 4);
  out[0] = PDU_TYPE.AssociateRj;
  out.writeUInt32BE(4, 2);
  out[7] = rj.result;
  out[8] = rj.source;
  out[9] = rj.reason;
  return out;
}

export function decodeAssociateRj(body: Buffer): AssociateRj {
  if (body.length !== 4) throw malformed(`A-ASSOCIATE-RJ PDU length is ${body.length}, it must be 4`);
  // Reason values outside Table 9-21 are reserved, not invalid: they are passed through.
  return check({ result: body[1], source: body[2], reason: body[3] });
}

export function describeRejection(rj: AssociateRj): string {
  const names: Record<number, Record<number, string>> = {
    1: { 1: 'no reason given', 2: 'application context name not supported', 3: 'calling AE title not recognized', 7: 'called AE title not recognized' },
    2: { 1: 'no reason given', 2: 'protocol version not supported' },
    3: { 1: 'temporary congestion', 2: 'local limit exceeded' },
  };
  const result = rj.result === 1 ? 'rejected-permanent' : rj.result === 2 ? 'rejected-transient' : `result ${rj.result}`;
  return `${result}: ${names[rj.source]?.[rj.reason] ?? `source ${rj.source} reason ${rj.reason}`}`;
}
