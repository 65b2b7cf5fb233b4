/**
 * Well-known DICOM UIDs (PS3.6 Annex A) and UID syntax checks (PS3.5 §9.1).
 */

// PS3.7 Annex A.2.1: the only application context name defined by DICOM.
export const APPLICATION_CONTEXT_UID = '1.2.840.10008.3.1.1.1';

export const SOP_CLASS = {
  // PS3.4 Annex A.4: Verification Service Class (C-ECHO).
  Verification: '1.2.840.10008.1.1',
  // PS3.4 Annex J.3: Storage Commitment Push Model (N-ACTION request, N-EVENT-REPORT result).
  StorageCommitmentPushModel: '1.2.840.10008.1.20.1',
  // PS3.4 Annex CC: Unified Procedure Step. Every UPS instance is of the Push SOP Class (CC.3.1); the
  // others name what an association negotiates (Watch: subscriptions, Event: the reports).
  UpsPush: '1.2.840.10008.5.1.4.34.6.1',
  UpsWatch: '1.2.840.10008.5.1.4.34.6.2',
  UpsPull: '1.2.840.10008.5.1.4.34.6.3',
  UpsEvent: '1.2.840.10008.5.1.4.34.6.4',
  UpsQuery: '1.2.840.10008.5.1.4.34.6.5',
  CtImageStorage: '1.2.840.10008.5.1.4.1.1.2',
  EnhancedCtImageStorage: '1.2.840.10008.5.1.4.1.1.2.1',
  MrImageStorage: '1.2.840.10008.5.1.4.1.1.4',
  UltrasoundImageStorage: '1.2.840.10008.5.1.4.1.1.6.1',
  SecondaryCaptureImageStorage: '1.2.840.10008.5.1.4.1.1.7',
  DigitalXRayImageStorageForPresentation: '1.2.840.10008.5.1.4.1.1.1.1',
  ComputedRadiographyImageStorage: '1.2.840.10008.5.1.4.1.1.1',
  EncapsulatedPdfStorage: '1.2.840.10008.5.1.4.1.1.104.1',
} as const;

export const TRANSFER_SYNTAX = {
  // PS3.5 §10.1: the default transfer syntax every implementation must accept; command sets always use it.
  ImplicitVrLittleEndian: '1.2.840.10008.1.2',
  ExplicitVrLittleEndian: '1.2.840.10008.1.2.1',
  DeflatedExplicitVrLittleEndian: '1.2.840.10008.1.2.1.99',
  ExplicitVrBigEndian: '1.2.840.10008.1.2.2',
  JpegBaseline: '1.2.840.10008.1.2.4.50',
  Jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  RleLossless: '1.2.840.10008.1.2.5',
} as const;

/** PS3.5 §9.1: a UID is at most 64 characters. */
export const MAX_UID_LENGTH = 64;

/**
 * Strict PS3.5 §9.1 check: components of digits separated by single dots, at most 64 characters,
 * no component with a leading zero unless it is the single digit "0". Use for UIDs we generate or
 * for policy decisions; decoders use the looser {@link isUidSyntax}.
 */
export function isValidUid(uid: string): boolean {
  if (uid.length === 0 || uid.length > MAX_UID_LENGTH) return false;
  for (const component of uid.split('.')) {
    if (!/^(0|[1-9][0-9]*)$/.test(component)) return false;
  }
  return true;
}

/**
 * The byte-level shape decoders accept: 1..64 characters from [0-9.]. Leading-zero components are
 * tolerated because deployed modalities emit them and rejecting them on the wire would cut legacy
 * devices off; a policy layer can still apply {@link isValidUid}.
 */
export function isUidSyntax(uid: string): boolean {
  return uid.length > 0 && uid.length <= MAX_UID_LENGTH && /^[0-9.]+$/.test(uid);
}

/**
 * PS3.5 §9.1 allows one trailing NUL to pad a UID to even length; PS3.8 Annex F forbids it inside
 * PDU items but some implementations still send it (and trailing spaces), so both are stripped.
 */
export function stripUidPadding(value: string): string {
  let end = value.length;
  while (end > 0 && (value.charCodeAt(end - 1) === 0 || value.charCodeAt(end - 1) === 0x20)) end--;
  return value.slice(0, end);
}
