/**
 * `npm start` (wardgate dev) prints a lego command to try: it must work as printed, on this machine,
 * with no DNS server and no root privileges (dev names resolve to loopback, http-01 on a high port).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { BIN } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { verifyChain } from '../helpers/openssl.ts';
import { freePort, requirePeers, run, skipUnlessPeers, tail } from './fixtures/peers.ts';

t.test('the lego command `wardgate dev` prints gets a certificate as printed', { skip: skipUnlessPeers('lego') }, async (t) => {
  if (!requirePeers(t, 'lego')) return;
  const work = tempDir(t);
  const [port, httpPort, http01Port] = [await freePort(), await freePort(), await freePort()];
  const child = spawn(process.execPath, [BIN, 'dev', '-d', join(work, 'dev'), '--listen', `127.0.0.1:${port}`, '--http-listen', `127.0.0.1:${httpPort}`, '--http01-port', String(http01Port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => { out += d; if (/ lego .* run\n/.test(out)) resolve(); });
    child.on('exit', (code) => reject(new Error(`dev exited ${code}: ${out}`)));
  });
  const env = /LEGO_CA_CERTIFICATES=(\S+)/.exec(out)?.[1];
  const command = / (lego .* run)\n/.exec(out)?.[1];
  t.ok(env && command, `a lego command with its trust setting is printed:\n${out}`);
  // As printed, plus where lego keeps its files (its default is ./.lego).
  const args = [...command!.split(' ').slice(1, -1), '--path', join(work, 'lego'), 'run'];
  const r = await run('lego', args, { env: { ...process.env, LEGO_CA_CERTIFICATES: env! }, timeoutMs: 60_000 });
  t.equal(r.code, 0, tail(r));
  const [leaf, issuer] = readFileSync(join(work, 'lego', 'certificates', 'dev.wardgate.test.crt'), 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/);
  t.ok(verifyChain(readFileSync(env!, 'utf8'), issuer, leaf, work).ok, 'the certificate chains to the dev root');
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
});
