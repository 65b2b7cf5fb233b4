/**
 * The gateway's audit events as DICOM PS3.15 A.5.3 messages.
 *
 * - Application Activity (A.5.3.1): route start/stop, the gateway process as Application participant.
 * - Security Alert (A.5.3.11) with EventTypeCode Node Authentication (110126): TLS handshake failures
 *   and peers refused by policy; Use of Restricted Function (110132) for denied associations/messages.
 * - Association established/closed: PS3.15 has no association event, so they are recorded as Network
 *   Entry (A.5.3.9) Attach/Detach of the calling node, the closest defined event (ATNA readers can
 *   filter them out by EventID).
 * - DICOM Instances Transferred (A.5.3.5): one message per association, listing the SOP instances
 *   seen in C-STORE-RQ command sets. The Study Instance UID is in the data set, which the gateway does
 *   not parse, so the participant object is identified by SOP Class UID (110181) with the instances
 *   in ParticipantObjectDescription (PS3.15 A.5.2.4 SOPClass/Instance). A sink with a size limit (a
 *   syslog collector) receives the event as several records, each with a share of the instances (fit.ts).
 */
import { EVENT_ID, EVENT_TYPE, OUTCOME, type Outcome, ROLE } from './codes.ts';
import type { AuditMessage, Participant } from './message.ts';

export interface Endpoint {
  /** AE title, application name or certificate subject. */
  userId: string;
  address?: string;
  /** e.g. certificate subject */
  userName?: string;
}

export interface GatewayIdentity {
  /** AuditSourceID (PS3.15 A.5.1): host or site name of this gateway. */
  sourceId: string;
  /** This process, as the Application participant. */
  processId: string;
}

function gateway(id: GatewayIdentity, requestor: boolean): Participant {
  return { userId: id.processId, userIsRequestor: requestor, role: ROLE.Application };
}

export function applicationActivity(id: GatewayIdentity, what: 'start' | 'stop', routeName: string, now = new Date()): AuditMessage {
  return {
    eventId: EVENT_ID.ApplicationActivity,
    eventTypes: [what === 'start' ? EVENT_TYPE.ApplicationStart : EVENT_TYPE.ApplicationStop],
    action: 'E',
    outcome: OUTCOME.Success,
    outcomeDescription: `route ${routeName} ${what === 'start' ? 'started' : 'stopped'}`,
    time: now,
    sourceId: id.sourceId,
    participants: [{ ...gateway(id, false), alternativeUserId: String(process.pid) }, { userId: process.env.USER ?? 'wardgate', userIsRequestor: true, role: ROLE.ApplicationLauncher }],
  };
}

export type AlertKind = 'node-authentication' | 'restricted-function';

/** PS3.15 A.5.3.11 Security Alert; the peer is the requestor whose action caused the alert. */
export function securityAlert(id: GatewayIdentity, kind: AlertKind, peer: Endpoint, reason: string, outcome: Outcome = OUTCOME.MinorFailure, now = new Date()): AuditMessage {
  return {
    eventId: EVENT_ID.SecurityAlert,
    eventTypes: [kind === 'node-authentication' ? EVENT_TYPE.NodeAuthentication : EVENT_TYPE.UseOfRestrictedFunction],
    action: 'E',
    outcome,
    outcomeDescription: reason,
    time: now,
    sourceId: id.sourceId,
    participants: [
      { userId: peer.userId, userName: peer.userName, userIsRequestor: true, networkAccessPointId: peer.address },
      gateway(id, false),
    ],
    objects: [{ id: peer.address ?? peer.userId, typeCode: 2, typeCodeRole: 13, idTypeCode: { csdCode: '110182', codeSystemName: 'DCM', originalText: 'Node ID' }, details: [{ type: 'Alert Description', value: reason }] }],
  };
}

/** Association established (Attach) or closed (Detach); outcome carries abort vs. release. */
export function associationEvent(id: GatewayIdentity, what: 'established' | 'rejected' | 'closed', source: Endpoint, destination: Endpoint, detail: string, outcome: Outcome = OUTCOME.Success, now = new Date()): AuditMessage {
  return {
    eventId: EVENT_ID.NetworkEntry,
    // An attach the acceptor refused is still an attempt to attach: Attach, with a failure outcome.
    eventTypes: [what === 'closed' ? EVENT_TYPE.Detach : EVENT_TYPE.Attach],
    action: 'E',
    outcome,
    outcomeDescription: detail,
    time: now,
    sourceId: id.sourceId,
    participants: [
      { userId: source.userId, userName: source.userName, userIsRequestor: true, role: ROLE.Source, networkAccessPointId: source.address },
      { userId: destination.userId, userName: destination.userName, userIsRequestor: false, role: ROLE.Destination, networkAccessPointId: destination.address },
      gateway(id, false),
    ],
  };
}

export interface TransferredInstances {
  /** SOP class UID -> SOP instance UIDs. */
  bySopClass: Map<string, string[]>;
}

/**
 * PS3.15 A.5.3.5 DICOM Instances Transferred, one message per association and direction.
 * `sourceIsRequestor`: false when the instances came from the association's acceptor (C-GET
 * sub-operations, PS3.4 C.4.3): then the destination requested the association (A.5.2.1 UserIsRequestor).
 */
export function instancesTransferred(id: GatewayIdentity, source: Endpoint, destination: Endpoint, instances: TransferredInstances, outcome: Outcome = OUTCOME.Success, now = new Date(), sourceIsRequestor = true): AuditMessage {
  return {
    eventId: EVENT_ID.DicomInstancesTransferred,
    action: 'R',
    outcome,
    time: now,
    sourceId: id.sourceId,
    participants: [
      { userId: source.userId, userName: source.userName, userIsRequestor: sourceIsRequestor, role: ROLE.Source, networkAccessPointId: source.address },
      { userId: destination.userId, userName: destination.userName, userIsRequestor: !sourceIsRequestor, role: ROLE.Destination, networkAccessPointId: destination.address },
      gateway(id, false),
    ],
    objects: [...instances.bySopClass].map(([sopClass, uids]) => ({
      id: sopClass,
      typeCode: 2,
      typeCodeRole: 3,
      idTypeCode: { csdCode: '110181', codeSystemName: 'DCM', originalText: 'SOP Class UID' },
      sopClass: { uid: sopClass, instances: uids },
    })),
  };
}
