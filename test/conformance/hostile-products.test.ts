/**
 * The conformance kit against hostile or broken products: a client command that leaves children
 * holding its output pipes, JWS bodies built to exhaust the kit's memory or stack, and a TLS server
 * whose Certificate message holds no certificate. Each must end with a clear answer, in bounded time
 * and memory. Fake products listen on 127.53.0.x only.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import t from 'tap';
import { runClient } from '../../src/conformance/acme-client/client-command.ts';
import { recordJws } from '../../src/conformance/acme-client/jws-record.ts';
import { runTlsNode } from '../../src/conformance/tls-node/run.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64url');
const HEADER = JSON.stringify({ alg: 'ES256', nonce: 'n', url: 'https://127.53.0.1/acme/new-order', kid: 'k' });
const jws = (payload: string, headerText = HEADER) => ({ protected: b64(headerText), payload: b64(payload), signature: 'AA' });
/** JSON text of arrays nested `depth` deep (JSON.stringify itself would overflow the stack on it). */
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

/** True while the process runs; a killed one whose parent is gone may linger as a zombie until reaped. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

t.test('client command: a child that keeps the output pipes open neither hangs the kit nor outlives the run', async (t) => {
  // The shell prints its background child's pid, then waits on it; the child holds stdout for 30 s.
  const started = Date.now();
  const r = await Promise.race([
    runClient(['sh', '-c', 'sleep 30 & echo "child $!"; wait'], process.env, 500),
    new Promise<'hang'>((resolve) => setTimeout(() => resolve('hang'), 10_000).unref()),
  ]);
  if (r === 'hang') return t.fail('runClient still waiting 10 s after a 500 ms timeout');
  t.ok(Date.now() - started < 5000, `returned after ${Date.now() - started} ms`);
  t.equal(r.signal, 'SIGKILL');
  t.match(r.outputTail, /killed after 500 ms/);
  const pid = Number(/child (\d+)/.exec(r.outputTail)?.[1]);
  t.ok(pid > 0, 'the background child printed its pid');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.notOk(alive(pid), 'the background child was killed with the client\'s process group');
});

t.test('client command: a client that exits leaving a background child behind is done at its exit', async (t) => {
  const started = Date.now();
  const r = await runClient(['sh', '-c', 'sleep 30 & echo "child $!"; exit 3'], process.env, 20_000);
  t.equal(r.exitCode, 3, 'the exit status is the client\'s own');
  t.ok(Date.now() - started < 5000, `returned after ${Date.now() - started} ms, not when the child ends`);
  const pid = Number(/child (\d+)/.exec(r.outputTail)?.[1]);
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.notOk(alive(pid), 'the leftover child was killed');
});

t.test('client command: SIGTERM or Ctrl-C to the kit ends the client\'s process group too', async (t) => {
  // The client runs in a group of its own, so the terminal's Ctrl-C no longer reaches it: without this
  // a stopped kit left the client (and what it started) running, holding the ports of the next run.
  const { spawn } = await import('node:child_process');
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const kit = spawn(process.execPath, ['--import', 'tsx', '-e', `
      import('${new URL('../../src/conformance/acme-client/client-command.ts', import.meta.url).pathname}').then(({ runClient }) =>
        runClient(['sh', '-c', 'echo "client $$"; sleep 30'], process.env, 60_000, undefined, (d) => process.stdout.write(d)));`], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => { kit.kill('SIGKILL'); });
    const pid = await new Promise<number>((resolve) => {
      let out = '';
      kit.stdout!.on('data', (d: Buffer) => { out += d; const m = /client (\d+)/.exec(out); if (m) resolve(Number(m[1])); });
    });
    t.ok(alive(pid), `${signal}: the client runs`);
    const exited = new Promise((resolve) => kit.once('exit', (code, sig) => resolve(sig ?? code)));
    kit.kill(signal);
    t.equal(await exited, signal, `${signal}: the kit ends by the signal, as before`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    t.notOk(alive(pid), `${signal}: the client's group ended with the kit`);
  }
});

t.test('JWS record: payloads too deep, too large or too wide are noted, not kept', async (t) => {
  // 7000 levels in 14 KB: under the size limit, far over what structuredClone survives (~4000).
  const deep = await recordJws(jws(nested(7000)));
  t.equal(deep?.payload, undefined);
  t.match(deep?.payloadOmitted, /nested deeper than \d+ levels/);
  t.doesNotThrow(() => structuredClone(deep), 'the record can be cloned (snapshot) ...');
  t.doesNotThrow(() => JSON.stringify(deep), '... and serialized (--record)');

  const large = await recordJws(jws(JSON.stringify({ csr: 'A'.repeat(16 * 1024) })));
  t.equal(large?.payload, undefined);
  t.match(large?.payloadOmitted, /payload not kept/);

  const wide = await recordJws(jws(`[${Array(5000).fill('[]').join(',')}]`));
  t.equal(wide?.payload, undefined, 'a 10 KB list of 5000 empty lists is not kept either');
  t.match(wide?.payloadOmitted, /arrays, objects and list items/);

  const deepAlg = await recordJws(jws('', `{"alg":${nested(18_000)},"nonce":"n"}`));
  t.equal(deepAlg?.alg, '(an array)', 'a nested array as "alg" is described, not stringified (no stack overflow)');

  // Real payloads are still kept whole.
  const order = { identifiers: [{ type: 'dns', value: 'device.conformance.test' }, { type: 'ip', value: '127.53.0.2' }], replaces: 'aaa.bbb' };
  const kept = await recordJws(jws(JSON.stringify(order)));
  t.same(kept?.payload, order);
  t.equal(kept?.payloadOmitted, undefined);
  t.equal((await recordJws(jws('')))?.payload, '', 'POST-as-GET');
});

t.test('tls-node: a Certificate message holding no certificate fails the chain checks naming it, not the run with an OpenSSL PEM error', async (t) => {
  const record = (body: Buffer) => Buffer.concat([Buffer.from([22, 3, 3, body.length >> 8, body.length & 0xff]), body]);
  const hs = (type: number, body: Buffer) => Buffer.concat([Buffer.from([type, 0, body.length >> 8, body.length & 0xff]), body]);
  const junk = Buffer.from('not a certificate');
  const certList = Buffer.concat([Buffer.from([0, 0, junk.length]), junk]);
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', (hello: Buffer) => {
      const version = hello.length >= 11 ? hello.readUInt16BE(9) : 0x0303;
      const serverHello = hs(2, Buffer.concat([Buffer.from([version >> 8, version & 0xff]), Buffer.alloc(32, 7), Buffer.from([0, 0xc0, 0x2f, 0])]));
      s.write(record(Buffer.concat([serverHello, hs(11, Buffer.concat([Buffer.from([0, 0, certList.length]), certList])), hs(14, Buffer.alloc(0))])));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.53.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  // One malformed answer is evidence against the checks that need it, not the end of the run.
  const { report } = await runTlsNode({ endpoint: { host: '127.53.0.1', port }, timeoutMs: 1500, settleMs: 50 });
  const chain = report.rows.find((r) => r.check === 'tls-node:chain-to-ca');
  t.equal(chain?.status, 'fail');
  t.match(chain?.evidence, /certificate 1 of the TLSv1\.2 Certificate message \(17 bytes\) is not a DER X\.509 certificate/);
});

t.test('a product that floods the kit: requests beyond the recorded maximum are counted in a note, not kept', async (t) => {
  // Found in review: every request was kept (about 0.5 KB each) for the whole run (--timeout, 120 s by
  // default): a client looping requests grew the kit's memory without bound.
  const { KitSession, MAX_RECORDED_REQUESTS, MAX_RECORDED_TLS_FAILURES } = await import('../../src/conformance/acme-client/session.ts');
  const session = new KitSession('https://127.53.0.1/acme/directory', [], {} as never);
  const entry = (seq: number) => ({ seq, phase: 'enroll', invocation: 1, at: 0, respondedAt: 0, listener: 'acme', method: 'POST', url: 'https://127.53.0.1/acme/new-order', resource: 'newOrder', discovered: true, response: { status: 201 } }) as never;
  for (let i = 0; i < MAX_RECORDED_REQUESTS + 5; i++) session.record(entry(i));
  for (let i = 0; i < MAX_RECORDED_TLS_FAILURES + 2; i++) session.tlsFailure({ at: 0, phase: 'enroll', detail: 'bad' } as never);
  t.equal(session.requests.length, MAX_RECORDED_REQUESTS, 'the record stops at its maximum');
  t.equal(session.tlsFailures.length, MAX_RECORDED_TLS_FAILURES);
  t.same(session.notes, [
    `the product sent 5 more requests than the ${MAX_RECORDED_REQUESTS} the kit records: counted, not kept`,
    `the product sent 2 more failed TLS handshakes than the ${MAX_RECORDED_TLS_FAILURES} the kit records: counted, not kept`,
  ], 'one note per kind, with the count');
});
