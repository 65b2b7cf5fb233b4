/**
 * Typed errors with a stable `code`. Every code is listed in ERROR_CODES with a one-line meaning;
 * test/errors.test.ts fails when a code is thrown somewhere in src/ but missing here or in docs/errors.md.
 * The CLI prints `error [CODE]: message` and exits non-zero; servers map codes to their own wire errors.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: 'a configuration file or profile does not match its schema (the message names the file and field)',
  CLI_ARGUMENT: 'a command-line argument is missing or malformed',
  PASSPHRASE_MISSING: 'WARDGATE_CA_PASSPHRASE is not set and dev mode is off',
  PASSPHRASE_WRONG: 'a CA key or backup could not be decrypted with the given passphrase',
  DATA_DIR_EXISTS: 'init or restore was pointed at a data dir that already holds a CA',
  DATA_DIR_MISSING: 'the data dir holds no CA (run `wardgate init` first)',
  DATA_DIR_LOCKED: 'another wardgate process holds the data dir (a running serve or dev, or an init, restore, ca rollover or ca root-offline in progress); the message names it when known',
  ROOT_KEY_OFFLINE: 'the operation needs the root key, which has been taken offline',
  KEY_NOT_FOUND: 'a key named by the key store does not exist',
  CSR_INVALID: 'the CSR cannot be parsed or its signature does not verify',
  CSR_KEY_REJECTED: 'the CSR public key type or size is not allowed by the profile',
  PKCS12_INPUT_INVALID: 'a PKCS#12 bundle cannot be built: the private key is unreadable or encrypted, does not belong to the certificate, a certificate is malformed, or the password is empty',
  NAME_NOT_PERMITTED: 'a requested name lies outside the CA name constraints or issuance policy',
  NAME_INVALID: 'a requested name is not a valid DNS name or IP address',
  PROFILE_UNKNOWN: 'no certificate profile of that name exists',
  CERT_NOT_FOUND: 'no certificate with that serial is stored, or no issuer with that id (`crl --issuer`)',
  CERT_ALREADY_REVOKED: 'the certificate is already revoked',
  REVOCATION_REASON_INVALID: 'the revocation reason is not one of RFC 5280 reason codes',
  BACKUP_INVALID: 'a backup archive is corrupt, truncated or not a wardgate backup',
  STORE_CONFLICT: 'a compare-and-swap update found the record in another state',
  STORE_DUPLICATE: 'a record with the same unique key is stored already (an account for this key, an order replacing this certificate)',
  STORE_CORRUPT: 'the store failed its integrity check',
  PDU_MALFORMED: 'a DICOM PDU violates PS3.8 framing or item structure',
  PDU_TOO_LARGE: 'a DICOM PDU declares a length above the configured maximum',
  DIMSE_MALFORMED: 'a DICOM command set cannot be decoded',
  MLLP_FRAME_INVALID: 'bytes outside an MLLP frame or a frame without its 0x1C 0x0D trailer',
  MLLP_FRAME_TOO_LARGE: 'an MLLP frame exceeds the configured maximum size',
  HL7_MESSAGE_INVALID: 'an HL7 v2 message has no valid MSH segment',
  AUDIT_CHAIN_BROKEN: 'the hash-chained audit log has an edited, inserted or deleted entry',
  TLS_PROBE_FAILED: 'a conformance or scan probe could not reach the TLS endpoint, or its answer is not parseable TLS',
  CONFORMANCE_REQUIREMENTS_INVALID: 'docs/ihe-profile/requirements.json is missing, malformed, or names an unknown check',
  CONFORMANCE_UNAVAILABLE: 'a conformance kit part needs a component that is not available yet',
  TLS_PROFILE_UNKNOWN: 'no TLS profile of that name exists in profiles/tls',
  TLS_CREDENTIALS_INVALID: 'a certificate, key or trust bundle file for a route cannot be read or does not match',
  PROXY_LISTEN_FAILED: 'a route could not bind its listen address',
  PROXY_UPSTREAM_FAILED: 'a route could not reach or authenticate its upstream',
  PROXY_POLICY_DENIED: 'a route refused a peer, association or message under its allow rules',
  PROXY_LIMIT_EXCEEDED: 'a connection was refused because a per-route or per-peer limit was reached',
  PROXY_TIMEOUT: 'a peer did not complete a handshake, association request or frame in time',
  AUDIT_SINK_FAILED: 'an audit record could not be written to its file or syslog collector',
  ACME_CLIENT_FAILED: 'enrolling or renewing a certificate with an ACME server failed',
  SCAN_TARGET_INVALID: 'a scan target, --exclude entry, --shard or targets file line is not an address, CIDR, range, hostname or known file format',
  SCAN_OPTION_INVALID: 'a scan option (--ports, --rate, --per-host, --timeout, --format, --trust, --baseline) is malformed',
  SCAN_ADVISORY_INVALID: 'the curated advisory file does not match its schema',
  FUZZ_TARGET_REFUSED: 'a fuzz target lies outside loopback and --lab was not given (fuzzing creates records in real systems)',
  FUZZ_TARGET_FAILED: 'the fuzz target could not be started or reached before fuzzing began',
  FUZZ_REPRODUCER_INVALID: 'a fuzz reproducer file cannot be read or does not match its format',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class WardgateError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WardgateError';
    this.code = code;
  }
}

export function isWardgateError(err: unknown, code?: ErrorCode): err is WardgateError {
  return err instanceof WardgateError && (code === undefined || err.code === code);
}
