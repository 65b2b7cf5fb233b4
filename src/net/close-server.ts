import type net from 'node:net';

/**
 * Stops listening and destroys the connections still open; resolves once the server has closed
 * (server.close alone waits for every open connection to end on its own).
 */
export function closeServer(server: net.Server, open: Iterable<net.Socket>): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const s of open) s.destroy();
  });
}
