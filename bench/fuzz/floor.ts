/**
 * The floor for bench/fuzz's execs/s: what Node.js manages on this machine when nothing is generated,
 * checked or parsed. One exec is what the bench counts: a new TCP connection carrying one exchange; here
 * the smallest there is, one MLLP frame and its ACK. A bare client (32 connections in flight, as the
 * bench) sends it through a bare relay (piping bytes, no framing, no policy) to a bare receiver (answers
 * the ACK when the frame ends). The relay reaches the receiver in plaintext or, as a gateway's outbound
 * route does, over TLS 1.3 with the last session resumed (ECDSA P-256 certificate); it runs in this
 * process or in a child process (the way `wardgate fuzz --route` runs the gateway). No fuzzer, no
 * oracle, no gateway code: anything the real bench measures has this to pay and more.
 *
 *   node --import tsx bench/fuzz/floor.ts [--seconds 10] [--concurrency 32]
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

type Upstream = 'plain' | 'tls';
const FRAME = Buffer.from('\x0bMSH|^~\\&|FUZZAPP|FUZZFAC|RCV|RCVFAC|20261127||ADT^A01|MSG0001|P|2.5\rPID|1||123^^^HOSP||DOE^JOHN\r\x1c\r', 'latin1');
const ACK = Buffer.from('\x0bMSH|^~\\&|RCV|RCVFAC|FUZZAPP|FUZZFAC|20261127||ACK|A1|P|2.5\rMSA|AA|MSG0001\r\x1c\r', 'latin1');

/** The relay: every accepted connection gets its own upstream connection, bytes piped both ways. */
function relay(upstream: Upstream, upPort: number, certPem: Buffer): Promise<number> {
  let session: Buffer | undefined;
  const server = net.createServer((down) => {
    const up = upstream === 'tls'
      ? tls.connect({ host: '127.0.0.1', port: upPort, ca: certPem, servername: 'floor.bench', session }).on('session', (s) => { session = s; })
      : net.connect(upPort, '127.0.0.1');
    down.pipe(up).pipe(down);
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

function receiver(upstream: Upstream, certPem: Buffer, keyPem: Buffer): Promise<number> {
  const onConnection = (s: net.Socket) => {
    s.on('data', (d: Buffer) => { if (d.includes(0x1c)) s.end(ACK); });
    s.on('error', () => undefined);
  };
  const server = upstream === 'tls' ? tls.createServer({ cert: certPem, key: keyPem, minVersion: 'TLSv1.3' }, onConnection) : net.createServer(onConnection);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

function exchange(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(FRAME));
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => resolve());
  });
}

async function measure(port: number, seconds: number, concurrency: number): Promise<number> {
  let execs = 0;
  const t0 = Date.now();
  const end = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) {
      await exchange(port);
      execs++;
    }
  }));
  return execs / ((Date.now() - t0) / 1000);
}

if (process.argv[2] === '--relay-child') {
  const [, , , upstream, upPort, certFile] = process.argv;
  const port = await relay(upstream as Upstream, Number(upPort), readFileSync(certFile));
  process.send!(port);
} else {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, concurrency: { type: 'string', default: '32' } } });
  const work = mkdtempSync(join(tmpdir(), 'wardgate-fuzz-floor-'));
  const cert = join(work, 'cert.pem');
  const key = join(work, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=floor.bench', '-addext', 'subjectAltName=DNS:floor.bench', '-keyout', key, '-out', cert], { stdio: 'pipe' });
  const certPem = readFileSync(cert);
  const keyPem = readFileSync(key);
  const rows: string[] = [];
  try {
    for (const upstream of ['plain', 'tls'] as const) {
      for (const where of ['in-process', 'child'] as const) {
        const upPort = await receiver(upstream, certPem, keyPem);
        let child: ChildProcess | undefined;
        let port: number;
        if (where === 'child') {
          child = fork(fileURLToPath(import.meta.url), ['--relay-child', upstream, String(upPort), cert], { execArgv: ['--import', 'tsx'] });
          port = await new Promise<number>((resolve) => child!.once('message', (m) => resolve(Number(m))));
        } else {
          port = await relay(upstream, upPort, certPem);
        }
        await measure(port, 2, Number(values.concurrency)); // warm-up
        const rate = await measure(port, Number(values.seconds), Number(values.concurrency));
        child?.kill();
        rows.push(`| ${upstream === 'tls' ? 'TLS 1.3, session resumed' : 'plaintext'} | ${where} | ${rate.toFixed(0)} |`);
        process.stderr.write(`  ${upstream} upstream, relay ${where}: ${rate.toFixed(0)} execs/s\n`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`\nFloor: bare client -> bare relay -> bare receiver, one MLLP frame and its ACK per connection, ${values.concurrency} in flight, ${values.seconds} s\n`);
  console.log('| relay to receiver | relay runs | execs/s |');
  console.log('|---|---|---:|');
  for (const r of rows) console.log(r);
  process.exit(0);
}
