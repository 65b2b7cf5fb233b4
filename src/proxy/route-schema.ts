/**
 * JSON schema of `wardgate proxy --config FILE`. Defaults are filled in by ajv (useDefaults), so the
 * loaded object is complete. Timeouts are milliseconds.
 */
import { MIN_MESSAGE_BYTES } from '../audit/fit.ts';
import { SYSLOG_RECONNECT_MS, SYSLOG_RESEND_WINDOW_MS } from '../audit/sinks.ts';

const address = { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$', description: 'HOST:PORT or [IPv6]:PORT' };
const stringList = { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } };

const allowRule = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  description: 'every field present must match; a connection or message is allowed when any rule matches',
  properties: {
    peerSubjects: { ...stringList, description: 'peer certificate subject CN values (inbound)' },
    peerSans: { ...stringList, description: 'peer certificate subjectAltName DNS names or IP addresses (inbound)' },
    peerAddresses: { ...stringList, description: 'peer IP addresses (exact), for plaintext sides' },
    callingAeTitles: { ...stringList, description: 'DICOM calling AE titles this peer may use (PS3.8 §9.3.2)' },
    calledAeTitles: { ...stringList, description: 'DICOM called AE titles this peer may address' },
    sendingApplications: { ...stringList, description: 'HL7 MSH-3: "LAB" matches the namespace ID (first component), "LAB^1.2.276.0.7^ISO" the whole HD' },
    sendingFacilities: { ...stringList, description: 'HL7 MSH-4: "RAD" matches the namespace ID (first component), "RAD^1.2.276.0.7^ISO" the whole HD' },
    messageTypes: { ...stringList, description: 'HL7 MSH-9 code or code^trigger, e.g. ADT or ADT^A01' },
  },
};

export const routeSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'direction', 'protocol', 'listen', 'upstream', 'tls'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
    direction: { enum: ['inbound', 'outbound'] },
    protocol: { enum: ['dicom', 'hl7'] },
    listen: address,
    upstream: address,
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['ca'],
      properties: {
        cert: { ...stringList, description: 'PEM chain files; give two (ECDSA and RSA) to present both' },
        key: { ...stringList, description: 'PEM key files, one per cert' },
        ca: { type: 'string', minLength: 1, description: 'PEM trust bundle for peers' },
        crl: { type: 'string', minLength: 1, description: 'CRL file(s) (PEM or DER) listing revoked peer certificates (inbound: the clients\', outbound: the upstream\'s); re-read when it changes' },
        profile: { type: 'string', default: 'bcp195-non-downgrading' },
        clientAuth: { enum: ['required', 'optional', 'none'] },
        serverName: { type: 'string', minLength: 1, description: 'outbound: name to verify on the upstream certificate (default: upstream host)' },
        acme: {
          type: 'object',
          additionalProperties: false,
          required: ['directory', 'names'],
          properties: {
            directory: { type: 'string', pattern: '^https://' },
            names: stringList,
            email: { type: 'string' },
            stateDir: { type: 'string' },
            directoryCa: { type: 'string', description: 'PEM bundle trusted for the ACME directory TLS' },
            http01Listen: { ...address, description: 'where to answer http-01 challenges' },
          },
        },
      },
    },
    allow: { type: 'array', items: allowRule },
    moveDestinations: {
      type: 'object',
      description: 'DICOM: move destination AE title -> name of the inbound route that carries the sub-association back to it (C-MOVE, PS3.4 C.4.2); when set, a C-MOVE-RQ naming any other destination, a storage commitment N-ACTION-RQ from a calling AE title not listed, or a UPS subscription (its Receiving AE is in the data set, which the gateway does not read), aborts the association',
      additionalProperties: { type: 'string', minLength: 1 },
      propertyNames: { maxLength: 16 },
    },
    hl7: {
      type: 'object',
      additionalProperties: false,
      description: 'HL7 routes only',
      properties: {
        // HL7 v2.5 §2.14.9.18: an empty MSH-18 means ASCII, but receivers fixed to another set read that.
        defaultCharset: { type: 'string', minLength: 1, maxLength: 64, description: 'character set the receiver reads a message in when MSH-18 is empty: an HL7 Table 0211 value ("UNICODE UTF-8", "8859/1", "ISO IR87") or an encoding label ("shift_jis"); the allow rules then judge the MSH as decoded with it' },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxConnections: { type: 'integer', minimum: 1, default: 1000 },
        maxConnectionsPerPeer: { type: 'integer', minimum: 1, default: 100 },
        handshakeTimeoutMs: { type: 'integer', minimum: 100, default: 10000 },
        artimTimeoutMs: { type: 'integer', minimum: 100, default: 30000, description: 'PS3.8 §9.1.5 ARTIM: time to receive the whole A-ASSOCIATE-RQ / answer' },
        idleTimeoutMs: { type: 'integer', minimum: 100, default: 300000 },
        maxPduLength: { type: 'integer', minimum: 1024, maximum: 4294967295, default: 4194304 },
        maxFrameSize: { type: 'integer', minimum: 1024, default: 1048576 },
        frameTimeoutMs: { type: 'integer', minimum: 100, default: 30000, description: 'HL7: time to finish one MLLP frame (slowloris)' },
        ackTimeoutMs: { type: 'integer', minimum: 100, default: 30000 },
      },
    },
  },
} as const;

export const gatewaySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['routes'],
  properties: {
    routes: { type: 'array', minItems: 1, items: routeSchema },
    audit: {
      type: 'object',
      additionalProperties: false,
      properties: {
        file: { type: 'string', minLength: 1 },
        syslog: {
          type: 'object',
          additionalProperties: false,
          required: ['address', 'ca'],
          properties: {
            address,
            ca: { type: 'string' },
            cert: { type: 'string' },
            key: { type: 'string' },
            serverName: { type: 'string' },
            // Longer records are split or cut to fit (audit/fit.ts); the default suits rsyslog's (audit/sinks.ts).
            maxMessageBytes: { type: 'integer', minimum: MIN_MESSAGE_BYTES, maximum: 16777216, description: 'longest syslog message the collector accepts, in octets (default 8096, rsyslog\'s default maxMessageSize)' },
            // Bounds: a retry faster than 100 ms hammers a collector that is down; one slower than an
            // hour leaves records queued (and dropped past the queue) through most of an outage.
            reconnectMs: { type: 'integer', minimum: SYSLOG_RECONNECT_MS.min, maximum: SYSLOG_RECONNECT_MS.max, description: 'first reconnection delay after the collector is lost (default 2000); it doubles per failed attempt up to 60 s' },
            // Frames within the window are held for a resend: longer costs memory at a high record rate.
            resendWindowMs: { type: 'integer', minimum: SYSLOG_RESEND_WINDOW_MS.min, maximum: SYSLOG_RESEND_WINDOW_MS.max, description: 'records handed to the connection within this many ms before it closed unexpectedly are sent again (default 2000; RFC 5425 has no acknowledgement)' },
          },
        },
        sourceId: { type: 'string', minLength: 1, description: 'PS3.15 A.5 AuditSourceIdentification' },
      },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      required: ['listen'],
      properties: {
        listen: address,
        tokenFile: { type: 'string', minLength: 1, description: 'file holding the bearer token scrapers must send; required unless listen is a loopback address' },
      },
    },
  },
} as const;
