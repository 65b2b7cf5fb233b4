import net from 'node:net';

/**
 * A TCP port free on `host` right now (bound, then released). Another process can take it before the
 * caller binds it, so callers that start a child on it should retry on a fresh port when it fails.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
