/**
 * JSON-schema validation shared by the proxy's config files (routes, TLS profiles): one ajv instance,
 * and one error shape that names the file and the offending field, as DESIGN.md asks of config errors.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { WardgateError } from '../errors.ts';

const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: false });
const cache = new WeakMap<object, ValidateFunction>();

/** Dotted path of the field an ajv error is about (`routes.0.tls.clientAuth`). */
function fieldOf(e: ErrorObject): string {
  const base = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '';
  const params = e.params as { missingProperty?: string; additionalProperty?: string };
  const leaf = params.missingProperty ?? params.additionalProperty;
  if (leaf) return base ? `${base}.${leaf}` : leaf;
  return base || '(root)';
}

function describe(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties') return 'is not a known field';
  if (e.keyword === 'required') return 'is required';
  if (e.keyword === 'enum') return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  return e.message ?? 'is invalid';
}

/** Validate `data` against `schema` (defaults filled in); throws CONFIG_INVALID naming `file` and the field. */
export function checkSchema<T>(schema: object, data: unknown, file: string): T {
  let validate = cache.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    cache.set(schema, validate);
  }
  if (!validate(data)) {
    const e = validate.errors![0];
    throw new WardgateError('CONFIG_INVALID', `${file}: field "${fieldOf(e)}" ${describe(e)}`);
  }
  return data as T;
}

export function parseJsonFile(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new WardgateError('CONFIG_INVALID', `${file}: not valid JSON (${(err as Error).message})`);
  }
}
