import { readdirSync, readFileSync } from 'node:fs';
import { join, basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { WardgateError } from '../errors.ts';
import type { KeyType } from './key-types.ts';

export type KeyUsageName = 'digitalSignature' | 'keyEncipherment' | 'keyAgreement';

/** A device class: what its certificates are for and how long they live. Files in profiles/cert/. */
export interface CertProfile {
  name: string;
  description: string;
  extendedKeyUsage: ('serverAuth' | 'clientAuth')[];
  keyUsage: { rsa: KeyUsageName[]; ec: KeyUsageName[] };
  lifetime: string;
  keyTypes: KeyType[];
  identifierTypes: ('dns' | 'ip')[];
  maxNames: number;
}

export const DEFAULT_PROFILES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'profiles', 'cert');

let validator: ReturnType<Ajv['compile']> | undefined;
function validate(): ReturnType<Ajv['compile']> {
  if (!validator) {
    const schema = JSON.parse(readFileSync(join(DEFAULT_PROFILES_DIR, 'schema.json'), 'utf8'));
    validator = new Ajv({ allErrors: true, useDefaults: true, strict: false }).compile(schema);
  }
  return validator;
}

export function lifetimeMs(lifetime: string): number {
  const m = /^(\d+)(d|h|m)$/.exec(lifetime);
  if (!m) throw new WardgateError('CONFIG_INVALID', `lifetime "${lifetime}" is not of the form 90d, 12h or 30m`);
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2] as 'd' | 'h' | 'm'];
  return Number(m[1]) * unit;
}

/** Parses and validates one profile file; errors name the file and the JSON field. */
export function parseProfile(file: string, text: string): CertProfile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new WardgateError('CONFIG_INVALID', `${file}: not valid JSON (${(err as Error).message})`);
  }
  const check = validate();
  if (!check(data)) {
    const e = check.errors![0];
    const field = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : (e.params as { missingProperty?: string; additionalProperty?: string }).missingProperty ?? (e.params as { additionalProperty?: string }).additionalProperty ?? '(root)';
    const detail = e.keyword === 'additionalProperties' ? `unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"` : e.message;
    throw new WardgateError('CONFIG_INVALID', `${file}: field "${field}" ${detail}`);
  }
  const profile = data as CertProfile;
  const expected = basename(file, '.json');
  if (profile.name !== expected) {
    throw new WardgateError('CONFIG_INVALID', `${file}: field "name" is "${profile.name}" but the file is named ${expected}.json`);
  }
  lifetimeMs(profile.lifetime);
  return profile;
}

export class ProfileRegistry {
  private constructor(private readonly byName: Map<string, CertProfile>, readonly defaultName: string) {}

  static load(dir = DEFAULT_PROFILES_DIR, defaultName = 'dicom-node'): ProfileRegistry {
    const map = new Map<string, CertProfile>();
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.json') && n !== 'schema.json').sort()) {
      const path = join(dir, f);
      const p = parseProfile(path, readFileSync(path, 'utf8'));
      map.set(p.name, p);
    }
    if (!map.has(defaultName)) throw new WardgateError('CONFIG_INVALID', `default certificate profile "${defaultName}" is not in ${dir}`);
    return new ProfileRegistry(map, defaultName);
  }

  get(name: string): CertProfile {
    const p = this.byName.get(name);
    if (!p) throw new WardgateError('PROFILE_UNKNOWN', `unknown certificate profile "${name}" (available: ${this.names().join(', ')})`);
    return p;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  all(): CertProfile[] {
    return [...this.byName.values()];
  }
}
