/**
 * What `fuzz replay` takes from the reproducer and what it asks the user for: TLS as recorded (with the
 * user's own --ca, or --no-tls), and a route's config path only when that file exists here, named on
 * stderr. Real peers on 127.46/16: a TLS and a plaintext MLLP receiver that record what reached them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';
import tls from 'node:tls';
import t, { type Test } from 'tap';
import { buildProgram } from '../../src/cli/program.ts';
import { REPRODUCER_FORMAT } from '../../src/fuzz/findings.ts';
import { freePort } from '../../src/net/free-port.ts';
import { recordConnects } from '../helpers/connect-guard.ts';
import { tempDir } from '../helpers/tmp.ts';
import { proxyPki } from '../proxy/fixtures/pki.ts';
import { routeFixture } from './fixtures/routes.ts';

const HOST = '127.46.0.1';
const ACK = Buffer.from('\x0bMSH|^~\\&|RCV|FAC|||20260101||ACK|1|P|2.5\rMSA|AA|1\r\x1c\r', 'latin1');
const MESSAGE = Buffer.from('\x0bMSH|^~\\&|FUZZAPP|FUZZFAC|||20260101||ADT^A01|1|P|2.5\r\x1c\r', 'latin1');

async function cli(args: string[]): Promise<{ err?: unknown; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write;
  const errw = process.stderr.write;
  process.stdout.write = ((s: string) => { stdout += s; return true; }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => { stderr += s; return true; }) as typeof process.stderr.write;
  try {
    await buildProgram().parseAsync(['node', 'wardgate', ...args]);
    return { stdout, stderr };
  } catch (err) {
    return { err, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = errw;
    process.exitCode = 0;
  }
}

/**
 * An MLLP receiver that acknowledges every frame and records the first byte each connection sent (-1: a
 * TLS port got something that is not TLS; the start-up probe that connects and closes is no TLS error).
 */
async function receiver(t: Test, secure?: { cert: string; key: string }): Promise<{ port: number; firstBytes: number[] }> {
  const firstBytes: number[] = [];
  const onSocket = (socket: net.Socket) => {
    let first = true;
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => {
      if (first) firstBytes.push(d[0]);
      first = false;
      if (d.includes(0x1c)) socket.write(ACK);
    });
  };
  const server = secure
    ? tls.createServer({ cert: readFileSync(secure.cert), key: readFileSync(secure.key) }, onSocket).on('tlsClientError', (err: NodeJS.ErrnoException) => { if (err.code?.startsWith('ERR_SSL')) firstBytes.push(-1); })
    : net.createServer(onSocket);
  const port = await freePort(HOST);
  await new Promise<void>((done) => server.listen(port, HOST, done));
  t.teardown(() => new Promise<void>((done) => server.close(() => done())));
  return { port, firstBytes };
}

function reproducer(dir: string, name: string, target: Record<string, unknown>): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({
    format: REPRODUCER_FORMAT, id: 'exit-hl7-0000abcd', oracle: 'exit', protocol: 'hl7', location: 'x', detail: 'y', seed: 1, exec: 0,
    target: { protocol: 'hl7', ...target }, minimized: true,
    exchanges: [{ protocol: 'hl7', side: 'client', label: 'l', chunks: [MESSAGE.toString('hex')], awaitReply: true }],
  }));
  return file;
}

t.test('a reproducer recorded against a TLS target replays over TLS', async (t) => {
  const pki = await proxyPki(t);
  const leaf = await pki.issue('receiver', [HOST]);
  const secure = await receiver(t, leaf);
  const dir = tempDir(t);
  const file = reproducer(dir, 'tls', { kind: 'address', address: `${HOST}:${secure.port}`, tls: true });

  const hosts = recordConnects(t, (h) => h.startsWith('127.46.'));
  const missing = await cli(['fuzz', 'replay', file]);
  t.match(missing.err, { code: 'CLI_ARGUMENT', message: /recorded against a TLS target: add --ca FILE .*or --no-tls/ }, 'no --ca: one line naming what to add');
  t.notMatch((missing.err as Error).message, /\n/, 'one line');
  t.same(hosts, [], 'and nothing was sent');

  const replayed = await cli(['fuzz', 'replay', file, '--ca', pki.trust, '--hang-timeout', '1000']);
  t.equal(replayed.err, undefined, `replayed ${String(replayed.err)}`);
  t.match(replayed.stdout, /reproduced exit-hl7-0000abcd/, 'a verdict line');
  t.ok(secure.firstBytes.includes(0x0b), 'the message arrived inside a TLS session');
  t.notOk(secure.firstBytes.includes(-1), 'no connection spoke plaintext to the TLS port');

  // The user's --target still gets the recorded TLS (the recorded bytes are TLS payload).
  secure.firstBytes.length = 0;
  const retargeted = await cli(['fuzz', 'replay', file, '--target', `${HOST}:${secure.port}`, '--ca', pki.trust, '--hang-timeout', '1000']);
  t.equal(retargeted.err, undefined, `replayed with --target ${String(retargeted.err)}`);
  t.ok(secure.firstBytes.includes(0x0b) && !secure.firstBytes.includes(-1), 'over TLS');
});

t.test('--no-tls, and reproducers without the field, replay in plaintext', async (t) => {
  const plain = await receiver(t);
  const dir = tempDir(t);
  const tlsFile = reproducer(dir, 'tls', { kind: 'address', address: `${HOST}:${plain.port}`, tls: true });
  const r1 = await cli(['fuzz', 'replay', tlsFile, '--no-tls', '--hang-timeout', '1000']);
  t.equal(r1.err, undefined, `--no-tls replays ${String(r1.err)}`);
  t.ok(plain.firstBytes.includes(0x0b), 'the MLLP frame arrived in plaintext');

  plain.firstBytes.length = 0;
  const oldFile = reproducer(dir, 'old', { kind: 'address', address: `${HOST}:${plain.port}` });
  const r2 = await cli(['fuzz', 'replay', oldFile, '--hang-timeout', '1000']);
  t.equal(r2.err, undefined, `an old reproducer replays ${String(r2.err)}`);
  t.ok(plain.firstBytes.includes(0x0b), 'in plaintext, as before');

  const bad = reproducer(dir, 'bad', { kind: 'address', address: `${HOST}:${plain.port}`, tls: 'yes' });
  t.match((await cli(['fuzz', 'replay', bad])).err, { code: 'FUZZ_REPRODUCER_INVALID', message: /field "target\.tls" is not true or false/ });
});

t.test('a route reproducer uses its recorded config only when the file exists here, and says so', async (t) => {
  const f = await routeFixture(t, HOST);
  const dir = tempDir(t);
  const hosts = recordConnects(t, (h) => h.startsWith('127.46.'));

  const gone = reproducer(dir, 'gone', { kind: 'route', route: 'hl7-in', config: join(dir, 'elsewhere', 'gateway.json'), tls: true });
  const r1 = await cli(['fuzz', 'replay', gone, '--cert', f.cert, '--key', f.key, '--ca', f.ca]);
  t.match(r1.err, { code: 'CLI_ARGUMENT', message: /names config \S+elsewhere\/gateway\.json, which does not exist here: give --config FILE \(the gateway config that defines route hl7-in\)/ }, 'a missing recorded config asks for --config');
  const none = reproducer(dir, 'none', { kind: 'route', route: 'hl7-in' });
  t.match((await cli(['fuzz', 'replay', none])).err, { code: 'CLI_ARGUMENT', message: /names no config: give --config FILE/ }, 'so does a reproducer without one');
  t.same(hosts, [], 'nothing was sent');

  // Without --cert the route refuses after loading the config: enough to see which config was used.
  const here = reproducer(dir, 'here', { kind: 'route', route: 'hl7-in', config: f.config, tls: true });
  const r2 = await cli(['fuzz', 'replay', here]);
  t.equal(r2.stderr, `wardgate fuzz replay: using config ${resolve(f.config)} recorded in the reproducer; give --config to choose another\n`, 'names the recorded config it uses');
  t.match(r2.err, { code: 'CLI_ARGUMENT', message: /route hl7-in requires a client certificate/ }, 'the route was found in it');

  const other = join(dir, 'other.json');
  writeFileSync(other, readFileSync(f.config, 'utf8').replaceAll('"name": "', '"name": "other-'));
  const r3 = await cli(['fuzz', 'replay', here, '--config', other]);
  t.equal(r3.stderr, '', 'a given --config is used silently');
  t.match(r3.err, { code: 'CLI_ARGUMENT', message: /no route named "hl7-in" in \S*other\.json/ }, 'and wins over the recorded one');
});
