import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WardgateError } from '../errors.ts';
import { CHECK_REGISTRY } from './check-registry.ts';

/** One requirement of the draft ICM profile, as docs/ihe-profile/requirements.json lists it. */
export interface Requirement {
  id: string;
  actor: string;
  area: string;
  level: 'SHALL' | 'SHOULD' | 'MAY';
  /** The option whose claim makes the requirement apply, if any. */
  option?: string;
  summary: string;
  /** A check name from the registry, or "manual" (then `reason` says why it is not machine-checkable). */
  check: string;
  reason?: string;
}

export interface RequirementSet {
  profile: string;
  title: string;
  version: string;
  requirements: Requirement[];
}

export const REQUIREMENTS_PATH = fileURLToPath(new URL('../../docs/ihe-profile/requirements.json', import.meta.url));

const ID = /^ICM-[A-Z]+-\d{3}$/;

function invalid(message: string): never {
  throw new WardgateError('CONFORMANCE_REQUIREMENTS_INVALID', message);
}

/** Validates the parsed file: shape, unique IDs, known checks, a reason for every manual entry. */
export function validateRequirements(data: unknown, source = 'requirements.json'): RequirementSet {
  const d = data as Partial<RequirementSet>;
  if (!d || typeof d !== 'object' || !Array.isArray(d.requirements)) invalid(`${source}: expected an object with a "requirements" array`);
  const seen = new Set<string>();
  for (const [i, r] of d.requirements.entries()) {
    const where = `${source}: requirements[${i}]${r?.id ? ` (${r.id})` : ''}`;
    if (!r || typeof r.id !== 'string' || !ID.test(r.id)) invalid(`${where}: "id" must look like ICM-AREA-NNN`);
    if (seen.has(r.id)) invalid(`${where}: duplicate id`);
    seen.add(r.id);
    if (!['SHALL', 'SHOULD', 'MAY'].includes(r.level)) invalid(`${where}: "level" must be SHALL, SHOULD or MAY`);
    for (const f of ['actor', 'area', 'summary', 'check'] as const) if (typeof r[f] !== 'string' || !r[f]) invalid(`${where}: "${f}" must be a non-empty string`);
    if (r.check === 'manual') {
      if (typeof r.reason !== 'string' || !r.reason) invalid(`${where}: a manual requirement needs a "reason"`);
    } else if (!CHECK_REGISTRY.has(r.check)) {
      invalid(`${where}: check "${r.check}" is not in the kit's check registry`);
    }
  }
  return { profile: String(d.profile ?? 'ICM'), title: String(d.title ?? ''), version: String(d.version ?? ''), requirements: d.requirements as Requirement[] };
}

export function loadRequirements(path = REQUIREMENTS_PATH): RequirementSet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new WardgateError('CONFORMANCE_REQUIREMENTS_INVALID', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new WardgateError('CONFORMANCE_REQUIREMENTS_INVALID', `${path} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return validateRequirements(data, path);
}
