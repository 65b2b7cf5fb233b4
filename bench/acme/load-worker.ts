/**
 * One load-generating process for bench/acme: runs `concurrency` issuance loops (new order, http-01,
 * finalize, download) against DIRECTORY until DEADLINE (ms since epoch) and prints one JSON line with
 * its counts. Lean on purpose (one key and CSR reused, keep-alive HTTPS): the bench measures the server.
 *
 *   node --import tsx load-worker.ts '{"directory":..., "ca":PEM_FILE, "http01Port":N, "concurrency":N, "deadline":MS, "ip":"127.0.0.1"}'
 */
import { createServer } from 'node:http';
import { Agent, request } from 'node:https';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestAcmeClient, newAccountKey, type Response, type Transport } from '../../test/helpers/acme-test-client.ts';

const cfg = JSON.parse(process.argv[2]) as { directory: string; ca: string; http01Port: number; concurrency: number; deadline: number; ip: string };
const agent = new Agent({ keepAlive: true, maxSockets: cfg.concurrency * 2, ca: readFileSync(cfg.ca) });

/** HTTP requests sent and http-01 fetches served: printed per issuance, so the two servers' work can be compared. */
let requests = 0;
let http01Fetches = 0;

const send: Transport = (method, url, body, contentType = 'application/jose+json') => new Promise((resolve, reject) => {
  requests++;
  const req = request(url, { method, agent, headers: body !== undefined ? { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let parsed: unknown = text;
      try { parsed = JSON.parse(text); } catch { /* PEM */ }
      resolve({ status: res.statusCode ?? 0, headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)])), body: parsed, text } as Response);
    });
  });
  req.on('error', reject);
  // A server that stops answering must not hang the bench: the request fails and counts as an error.
  req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${method} ${url} within 30 s`)));
  req.end(body);
});

// The device side of http-01 for this process's account.
const answers = new Map<string, string>();
const device = createServer((req, res) => {
  http01Fetches++;
  const a = answers.get(req.url?.split('/').pop() ?? '');
  res.writeHead(a ? 200 : 404).end(a ?? '');
});

const dir = mkdtempSync(join(tmpdir(), 'wg-bench-'));
execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k'), '-out', join(dir, 'c'), '-subj', `/CN=${cfg.ip}`, '-addext', `subjectAltName=IP:${cfg.ip}`], { stdio: 'pipe' });
const csr = Buffer.from(readFileSync(join(dir, 'c'), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64url');

/** Issuances in flight when the deadline passes get this long to finish, then count as errors. */
const GRACE_MS = 15_000;

async function poll(c: TestAcmeClient, url: string, until: (b: { status: string }) => boolean): Promise<Response> {
  for (;;) {
    if (Date.now() > cfg.deadline + GRACE_MS) throw new Error(`still polling ${url} ${GRACE_MS} ms after the deadline`);
    const r = await c.post(url, undefined);
    if (r.status >= 400 || until(r.body)) return r;
    await new Promise((res) => setTimeout(res, Math.min(1000, Number(r.headers['retry-after'] ?? 0) * 1000 || 20)));
  }
}

async function issueOnce(c: TestAcmeClient): Promise<void> {
  const order = await c.order([{ type: 'ip', value: cfg.ip }]);
  if (order.status !== 201) throw new Error(`newOrder ${order.status} ${order.text}`);
  for (const authzUrl of order.body.authorizations) {
    const authz = await c.post(authzUrl, undefined);
    if (authz.body.status === 'valid') continue;
    const ch = authz.body.challenges.find((x: { type: string }) => x.type === 'http-01');
    answers.set(ch.token, await c.keyAuthorization(ch.token));
    await c.post(ch.url, {});
    const done = await poll(c, authzUrl, (b) => b.status !== 'pending');
    if (done.body.status !== 'valid') throw new Error(`authz ${done.text}`);
  }
  let o = await c.post(order.headers.location, undefined);
  if (o.body.status !== 'ready') o = await poll(c, order.headers.location, (b) => b.status !== 'pending');
  let fin = await c.post(o.body.finalize, { csr });
  if (fin.body.status !== 'valid') fin = await poll(c, order.headers.location, (b) => b.status !== 'processing' && b.status !== 'ready');
  if (fin.body.status !== 'valid') throw new Error(`finalize ${fin.text}`);
  const cert = await c.post(fin.body.certificate, undefined);
  if (!cert.text.includes('BEGIN CERTIFICATE')) throw new Error('no certificate');
}

await new Promise<void>((r) => device.listen(cfg.http01Port, cfg.ip, r)).catch(() => undefined);
let done = 0; let errors = 0; let lastError = '';
// Sign-up first, all loops together, so that the CPU this process reports is the issuances' alone.
const clients = await Promise.all(Array.from({ length: cfg.concurrency }, async () => {
  // One account per loop: nonces are per client object, so loops never share one.
  try {
    const c = await new TestAcmeClient(send, cfg.directory, await newAccountKey('ES256')).init();
    const reg = await c.register();
    if (reg.status >= 300) throw new Error(`newAccount ${reg.text}`);
    return c;
  } catch (err) {
    // A server that stalls during sign-up (pebble 2.4 does under load) fails this loop, not the bench.
    errors++;
    lastError = (err as Error).message.slice(0, 300);
    return undefined;
  }
}));
const cpuAtStart = process.cpuUsage();
await Promise.all(clients.map(async (c) => {
  if (!c) return;
  while (Date.now() < cfg.deadline) {
    try {
      await issueOnce(c);
      done++;
    } catch (err) {
      errors++;
      lastError = (err as Error).message.slice(0, 300);
    }
  }
}));
const cpu = process.cpuUsage(cpuAtStart);
// The client side's CPU for the issuances (http-01 answers included): what the same load costs the
// clients differs between servers (connections, requests, validations each one asks for).
const clientCpuMs = (cpu.user + cpu.system) / 1000;
process.stdout.write(`${JSON.stringify({ done, errors, lastError, requests, http01Fetches, clientCpuMs })}\n`);
device.close();
agent.destroy();
