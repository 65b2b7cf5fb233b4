/**
 * docs/gateway.md is the reference admins configure the gateway from: its example must load through
 * the real validator, every field the schema accepts must be described there, and every metric the
 * gateway exports must be listed. A field or metric added without a line in the doc fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Metrics } from '../../src/proxy/metrics.ts';
import { gatewaySchema, routeSchema } from '../../src/proxy/route-schema.ts';
import { validateGatewayConfig } from '../../src/proxy/route-config.ts';

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'gateway.md'), 'utf8');

interface SchemaNode { type?: string; properties?: Record<string, SchemaNode>; items?: SchemaNode }

/** Paths of the fields that hold values, as the doc writes them: `tls.acme.names`, `allow[].peerSans`. */
function fieldPaths(node: SchemaNode, prefix: string): string[] {
  const out: string[] = [];
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = `${prefix}${key}`;
    if (child.properties) out.push(...fieldPaths(child, `${path}.`));
    else if (child.items?.properties) out.push(`${path}[]`, ...fieldPaths(child.items, `${path}[].`));
    else out.push(path);
  }
  return out;
}

t.test('the example configuration is valid', async (t) => {
  const block = /```json\n([\s\S]*?)\n```/.exec(doc);
  if (!block) return t.fail('no JSON example in docs/gateway.md');
  const config = validateGatewayConfig(JSON.parse(block[1]), 'docs/gateway.md');
  t.same(config.routes.map((r) => `${r.name}:${r.direction}:${r.protocol}`), ['pacs-in:inbound:dicom', 'ct1-out:outbound:dicom', 'ct1-back:inbound:dicom', 'lis-in:inbound:hl7']);
  t.equal(config.routes[0].limits.idleTimeoutMs, 300000, 'defaults filled in as documented');
});

t.test('every configuration field is described', async (t) => {
  const route = fieldPaths(routeSchema as SchemaNode, '');
  const rest = fieldPaths(gatewaySchema as SchemaNode, '').filter((p) => !p.startsWith('routes[]'));
  const missing = [...route, ...rest].filter((p) => !doc.includes(`| \`${p}\` |`));
  t.same(missing, [], 'fields without a row in docs/gateway.md');
  t.ok(route.length > 30 && rest.length >= 10, `walked ${route.length} route fields and ${rest.length} others`);
});

t.test('every exported metric is listed', async (t) => {
  const names = [...new Metrics().render().matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
  t.ok(names.length >= 10, `${names.length} metrics`);
  t.same(names.filter((n) => !doc.includes(`| \`${n}\` |`)), [], 'metrics without a row in docs/gateway.md');
});
