/**
 * `wardgate serve --max-connections-per-client N` / `--max-connections N`: the listeners' connection caps
 * (src/net/connection-caps.ts) set from the command line, as an admin with many devices behind one NAT
 * address needs; bad values are one-line errors before anything listens.
 */
import net from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { TEST_PASSPHRASE } from '../helpers/ca.ts';
import { wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { freePort } from '../interop/fixtures/peers.ts';
import { spawnServe } from '../interop/fixtures/serve-process.ts';

const HOST = '127.31.7.1';

/** Opens a TCP connection; resolves 'closed' when the server closes it unread within `ms`, else 'open'. */
function probe(port: number, ms: number, keep: net.Socket[]): Promise<'open' | 'closed'> {
  return new Promise((resolve) => {
    const s = net.connect(port, HOST);
    keep.push(s);
    s.on('error', () => undefined);
    const timer = setTimeout(() => resolve('open'), ms);
    s.once('close', () => { clearTimeout(timer); resolve('closed'); });
  });
}

t.test('serve connection caps from the command line', async (t) => {
  const dir = join(tempDir(t, 'wardgate-serve-caps-'), 'data');
  const init = wardgate(['init', '-d', dir, '--name', 'Caps', '--permit-ip', '127.0.0.0/8', '--root-key-type', 'ecdsa-p256', '--rsa-key-type', 'rsa-2048'], { WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE });
  t.equal(init.status, 0, init.stderr);

  t.test('a bad value is one line naming the option', async (t) => {
    const r = wardgate(['serve', '-d', dir, '--listen', `${HOST}:${await freePort(HOST)}`, '--max-connections-per-client', '0'], { WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE });
    t.not(r.status, 0);
    t.match(r.stderr, /^wardgate: error \[CLI_ARGUMENT\]: --max-connections-per-client "0" is not a whole number >= 1\n$/);
  });

  t.test('--max-connections-per-client 2: the third connection of one address is closed unread, on both listeners', async (t) => {
    const port = await freePort(HOST);
    const httpPort = await freePort(HOST);
    const server = spawnServe(t, ['--data-dir', dir, '--listen', `${HOST}:${port}`, '--http-listen', `${HOST}:${httpPort}`, '--max-connections-per-client', '2']);
    await server.ready;
    const keep: net.Socket[] = [];
    t.teardown(() => keep.forEach((s) => s.destroy()));
    for (const p of [port, httpPort]) {
      t.same(await Promise.all([probe(p, 500, keep), probe(p, 500, keep)]), ['open', 'open'], `two connections stay open on ${p}`);
      t.equal(await probe(p, 2000, keep), 'closed', `the third is closed on ${p}`);
    }
    server.child.kill('SIGTERM');
    t.same(await server.exited, { code: 0, signal: null });
  });
});
