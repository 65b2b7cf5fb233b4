/**
 * Coded values of DICOM PS3.15 A.5 audit messages (DICOM Controlled Terminology, PS3.16 "DCM").
 */
export interface Code {
  csdCode: string;
  codeSystemName: string;
  originalText: string;
}

const dcm = (csdCode: string, originalText: string): Code => ({ csdCode, codeSystemName: 'DCM', originalText });

/** PS3.15 A.5.3 EventID values used by the gateway. */
export const EVENT_ID = {
  ApplicationActivity: dcm('110100', 'Application Activity'),
  DicomInstancesTransferred: dcm('110104', 'DICOM Instances Transferred'),
  NetworkEntry: dcm('110108', 'Network Entry'),
  SecurityAlert: dcm('110113', 'Security Alert'),
} as const;

/** PS3.16 CID 400-403 EventTypeCode values. */
export const EVENT_TYPE = {
  ApplicationStart: dcm('110120', 'Application Start'),
  ApplicationStop: dcm('110121', 'Application Stop'),
  Attach: dcm('110124', 'Attach'),
  Detach: dcm('110125', 'Detach'),
  NodeAuthentication: dcm('110126', 'Node Authentication'),
  UseOfRestrictedFunction: dcm('110132', 'Use of Restricted Function'),
} as const;

/** PS3.16 CID 402 RoleIDCode values. */
export const ROLE = {
  Application: dcm('110150', 'Application'),
  ApplicationLauncher: dcm('110151', 'Application Launcher'),
  Destination: dcm('110152', 'Destination Role ID'),
  Source: dcm('110153', 'Source Role ID'),
} as const;

/** PS3.15 A.5.3 / RFC 3881 EventOutcomeIndicator. */
export const OUTCOME = { Success: 0, MinorFailure: 4, SeriousFailure: 8, MajorFailure: 12 } as const;
export type Outcome = (typeof OUTCOME)[keyof typeof OUTCOME];

/** RFC 3881 / PS3.15 EventActionCode. */
export type ActionCode = 'C' | 'R' | 'U' | 'D' | 'E';

/** PS3.15 NetworkAccessPointTypeCode: 1 machine name, 2 IP address. */
export const NAP_TYPE = { MachineName: 1, IpAddress: 2 } as const;
