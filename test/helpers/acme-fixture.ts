import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { buildAcmeContext, buildAcmeServer, type AcmeServerOptions } from '../../src/acme/server.ts';
import type { AcmeContext } from '../../src/acme/context.ts';
import { testCa } from './ca.ts';
import { makeCsr } from './openssl.ts';
import { newAccountKey, injectTransport, TestAcmeClient } from './acme-test-client.ts';

export const BASE = 'http://acme.test';

/**
 * An ACME server on a fresh test CA, reached through fastify.inject(), plus the device side of http-01:
 * a real HTTP server on 127.0.0.1 that answers /.well-known/acme-challenge/TOKEN from `answers`.
 */
export async function acmeFixture(t: { teardown: (fn: () => unknown) => void }, opts: Partial<AcmeServerOptions> = {}) {
  const { ca, dir, work } = await testCa(t);
  const answers = new Map<string, string>();
  const devices = new Map<string, Server>();
  // The device side answers on each identifier's own loopback address (never a wildcard bind).
  async function deviceOn(address: string, port: number): Promise<number> {
    if (devices.has(address)) return port;
    const server: Server = createServer((req, res) => {
      const token = req.url?.split('/').pop() ?? '';
      const a = answers.get(token);
      res.writeHead(a ? 200 : 404).end(a ?? 'not found');
    });
    await new Promise<void>((r) => server.listen(port, address, r));
    devices.set(address, server);
    t.teardown(() => new Promise<void>((r) => server.close(() => r())));
    return (server.address() as AddressInfo).port;
  }
  const http01Port = await deviceOn('127.0.0.1', 0);
  const ctx: AcmeContext = buildAcmeContext(ca, { baseUrl: BASE, ...opts, validation: { http01Port, timeoutMs: 3000, attempts: 1, ...opts.validation } });
  const app: FastifyInstance = await buildAcmeServer(ctx);
  t.teardown(() => app.close());
  const send = injectTransport(app, BASE);
  const client = async (alg?: Parameters<typeof newAccountKey>[0]) => new TestAcmeClient(send, `${BASE}/acme/directory`, await newAccountKey(alg)).init();

  /** Runs an order for IP identifiers up to `ready` by answering http-01. */
  async function authorize(c: TestAcmeClient, identifiers: { type: string; value: string }[], extra: Record<string, unknown> = {}) {
    const order = await c.order(identifiers, extra);
    if (order.status !== 201) throw new Error(`newOrder failed: ${order.text}`);
    for (const authzUrl of order.body.authorizations) {
      const authz = await c.post(authzUrl, undefined);
      const ch = authz.body.challenges.find((x: { type: string }) => x.type === 'http-01');
      answers.set(ch.token, await c.keyAuthorization(ch.token));
      if (authz.body.identifier.type === 'ip') await deviceOn(authz.body.identifier.value, http01Port);
      let r = await c.post(ch.url, {});
      for (let i = 0; i < 50 && r.body.status === 'processing'; i++) {
        await new Promise((res) => setTimeout(res, 50));
        r = await c.post(ch.url, undefined);
      }
      if (r.body.status !== 'valid') throw new Error(`challenge not valid: ${r.text}`);
    }
    return order;
  }

  /** base64url DER CSR made by openssl for the given names. */
  function csrFor(name: string, sans: string[], key: Parameters<typeof makeCsr>[2] extends infer O ? O extends { key?: infer K } ? K : never : never = 'ec256') {
    const { csr } = makeCsr(work, name, { key, sans });
    return Buffer.from(readFileSync(csr, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64url');
  }

  return { ca, dir, work, ctx, app, send, client, answers, authorize, csrFor, http01Port };
}
