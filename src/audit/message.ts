/**
 * DICOM PS3.15 A.5.1 AuditMessage (the RFC 3881 schema as DICOM revised it): one XML document per event,
 * with EventIdentification, ActiveParticipant(s), AuditSourceIdentification and ParticipantObject(s).
 */
import { type ActionCode, type Code, NAP_TYPE, type Outcome } from './codes.ts';
import { element, escapeXml } from './xml.ts';

export interface Participant {
  userId: string;
  alternativeUserId?: string;
  userName?: string;
  userIsRequestor: boolean;
  role?: Code;
  /** IP address or host name of the participant. */
  networkAccessPointId?: string;
}

export interface ParticipantObject {
  id: string;
  /** RFC 3881 ParticipantObjectTypeCode: 1 person, 2 system object, 3 organization, 4 other. */
  typeCode: number;
  /** RFC 3881 ParticipantObjectTypeCodeRole, e.g. 3 report, 4 resource... */
  typeCodeRole?: number;
  idTypeCode: Code;
  name?: string;
  /**
   * PS3.15 A.5.2.4 SOPClass in ParticipantObjectDescription: the class and the instances of it this
   * record lists (NumberOfInstances is their count). Kept as data, not XML, so that a record too large
   * for a collector can be split by instances (see fit.ts).
   */
  sopClass?: { uid: string; instances: string[] };
  details?: Array<{ type: string; value: string }>;
}

export interface AuditMessage {
  eventId: Code;
  eventTypes?: Code[];
  action: ActionCode;
  outcome: Outcome;
  /** EventOutcomeDescription (free text, e.g. the reason for a failure). */
  outcomeDescription?: string;
  time: Date;
  participants: Participant[];
  sourceId: string;
  objects?: ParticipantObject[];
}

function code(name: string, c: Code): string {
  return element(name, { csd_code: c.csdCode, codeSystemName: c.codeSystemName, originalText: c.originalText });
}

function isIp(s: string): boolean {
  return /^[0-9.]+$/.test(s) || s.includes(':');
}

/** Serialize to one line of XML (PS3.15 A.5.1 schema element and attribute names). */
export function renderAuditMessage(m: AuditMessage): string {
  const event = element(
    'EventIdentification',
    { EventActionCode: m.action, EventDateTime: m.time.toISOString(), EventOutcomeIndicator: m.outcome },
    code('EventID', m.eventId) + (m.eventTypes ?? []).map((t) => code('EventTypeCode', t)).join('') +
      (m.outcomeDescription ? `<EventOutcomeDescription>${escapeText(m.outcomeDescription)}</EventOutcomeDescription>` : ''),
  );
  const participants = m.participants.map((p) => element(
    'ActiveParticipant',
    {
      UserID: p.userId,
      AlternativeUserID: p.alternativeUserId,
      UserName: p.userName,
      UserIsRequestor: p.userIsRequestor,
      NetworkAccessPointID: p.networkAccessPointId,
      NetworkAccessPointTypeCode: p.networkAccessPointId ? (isIp(p.networkAccessPointId) ? NAP_TYPE.IpAddress : NAP_TYPE.MachineName) : undefined,
    },
    p.role ? code('RoleIDCode', p.role) : '',
  )).join('');
  const source = element('AuditSourceIdentification', { AuditSourceID: m.sourceId }, element('AuditSourceTypeCode', { csd_code: '4', codeSystemName: 'DCM', originalText: 'Application Server Process' }));
  const objects = (m.objects ?? []).map((o) => element(
    'ParticipantObjectIdentification',
    { ParticipantObjectID: o.id, ParticipantObjectTypeCode: o.typeCode, ParticipantObjectTypeCodeRole: o.typeCodeRole },
    // PS3.15 A.5.1 ParticipantObjectIdentificationContents: IDTypeCode, Name, Detail*, then Description*.
    code('ParticipantObjectIDTypeCode', o.idTypeCode) +
      (o.name ? `<ParticipantObjectName>${escapeText(o.name)}</ParticipantObjectName>` : '') +
      (o.details ?? []).map((d) => element('ParticipantObjectDetail', { type: d.type, value: Buffer.from(d.value).toString('base64') })).join('') +
      (o.sopClass ? `<ParticipantObjectDescription>${sopClass(o.sopClass)}</ParticipantObjectDescription>` : ''),
  )).join('');
  return `<?xml version="1.0" encoding="UTF-8"?><AuditMessage>${event}${participants}${source}${objects}</AuditMessage>`;
}

function sopClass(c: { uid: string; instances: string[] }): string {
  return element('SOPClass', { UID: c.uid, NumberOfInstances: c.instances.length }, c.instances.map((u) => element('Instance', { UID: u })).join(''));
}

/** Text content: quotes need no escaping there. */
function escapeText(s: string): string {
  return escapeXml(s, false);
}
