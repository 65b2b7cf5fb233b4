/**
 * TLS profiles (profiles/tls/*.json) after DICOM PS3.15 Annex B: the secure transport connection
 * profiles name protocol versions and cipher suites by their IANA names; this module validates the
 * files and turns a profile into Node tls options. The schema admits nothing below TLS 1.2 (RFC 8996),
 * and toTlsOptions checks it again so a hand-built profile object cannot slip past the files' schema.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { WardgateError } from '../errors.ts';
import { checkSchema, parseJsonFile } from './schema-check.ts';

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export interface TlsProfile {
  name: string;
  description: string;
  minVersion: TlsVersion;
  maxVersion: TlsVersion;
  /** IANA names, in preference order. */
  cipherSuites: string[];
  /** ECDHE groups, in preference order. */
  groups: string[];
}

export const DEFAULT_TLS_PROFILES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'profiles', 'tls');
export const DEFAULT_TLS_PROFILE = 'bcp195-non-downgrading';

/**
 * IANA cipher suite names (RFC 8446 B.4, RFC 5288, RFC 5289) to OpenSSL's. TLS 1.3 suites keep their
 * IANA names in OpenSSL; Node routes them to SSL_CTX_set_ciphersuites itself.
 */
export const OPENSSL_CIPHER_NAMES: Readonly<Record<string, string>> = {
  TLS_AES_128_GCM_SHA256: 'TLS_AES_128_GCM_SHA256',
  TLS_AES_256_GCM_SHA384: 'TLS_AES_256_GCM_SHA384',
  TLS_CHACHA20_POLY1305_SHA256: 'TLS_CHACHA20_POLY1305_SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_DHE_RSA_WITH_AES_128_GCM_SHA256: 'DHE-RSA-AES128-GCM-SHA256',
  TLS_DHE_RSA_WITH_AES_256_GCM_SHA384: 'DHE-RSA-AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
};

const TLS13_SUITES = new Set(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']);

let schemaCache: object | undefined;
function schema(): object {
  schemaCache ??= JSON.parse(readFileSync(join(DEFAULT_TLS_PROFILES_DIR, 'schema.json'), 'utf8')) as object;
  return schemaCache;
}

/** Parse one profile file; errors name the file and the JSON field. */
export function parseTlsProfile(file: string, text: string): TlsProfile {
  const profile = checkSchema<TlsProfile>(schema(), parseJsonFile(file, text), file);
  const expected = basename(file, '.json');
  if (profile.name !== expected) {
    throw new WardgateError('CONFIG_INVALID', `${file}: field "name" is "${profile.name}" but the file is named ${expected}.json`);
  }
  if (profile.minVersion === 'TLSv1.3' && profile.maxVersion === 'TLSv1.2') {
    throw new WardgateError('CONFIG_INVALID', `${file}: field "maxVersion" TLSv1.2 is below minVersion TLSv1.3`);
  }
  const has13 = profile.cipherSuites.some((s) => TLS13_SUITES.has(s));
  const has12 = profile.cipherSuites.some((s) => !TLS13_SUITES.has(s));
  if (profile.maxVersion === 'TLSv1.3' && !has13) throw new WardgateError('CONFIG_INVALID', `${file}: field "cipherSuites" allows TLS 1.3 but lists no TLS 1.3 suite`);
  if (profile.minVersion === 'TLSv1.2' && !has12) throw new WardgateError('CONFIG_INVALID', `${file}: field "cipherSuites" allows TLS 1.2 but lists no TLS 1.2 suite`);
  return profile;
}

/** All profiles of a directory, by name. */
export function loadTlsProfiles(dir = DEFAULT_TLS_PROFILES_DIR): Map<string, TlsProfile> {
  const out = new Map<string, TlsProfile>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json') && n !== 'schema.json').sort()) {
    const path = join(dir, f);
    const p = parseTlsProfile(path, readFileSync(path, 'utf8'));
    out.set(p.name, p);
  }
  return out;
}

export function getTlsProfile(name = DEFAULT_TLS_PROFILE, dir = DEFAULT_TLS_PROFILES_DIR): TlsProfile {
  const all = loadTlsProfiles(dir);
  const p = all.get(name);
  if (!p) throw new WardgateError('TLS_PROFILE_UNKNOWN', `unknown TLS profile "${name}" (available: ${[...all.keys()].join(', ')})`);
  return p;
}

/**
 * Node tls options for a profile. `dhparam: 'auto'` lets OpenSSL pick RFC 7919 FFDHE parameters
 * matching the certificate strength, so the DHE-RSA suites of IHE ATNA are actually negotiable.
 */
export function toTlsOptions(profile: TlsProfile): Pick<SecureContextOptions, 'minVersion' | 'maxVersion' | 'ciphers' | 'ecdhCurve' | 'honorCipherOrder' | 'dhparam'> {
  if (profile.minVersion !== 'TLSv1.2' && profile.minVersion !== 'TLSv1.3') {
    throw new WardgateError('CONFIG_INVALID', `TLS profile "${profile.name}": minVersion ${String(profile.minVersion)} is below TLS 1.2, which wardgate never accepts`);
  }
  const ciphers = profile.cipherSuites.map((s) => {
    const name = OPENSSL_CIPHER_NAMES[s];
    if (!name) throw new WardgateError('CONFIG_INVALID', `TLS profile "${profile.name}": unknown cipher suite ${s}`);
    return name;
  });
  return {
    minVersion: profile.minVersion,
    maxVersion: profile.maxVersion,
    ciphers: ciphers.join(':'),
    ecdhCurve: profile.groups.join(':'),
    honorCipherOrder: true,
    dhparam: 'auto',
  };
}
