/**
 * neverRead execs (src/fuzz/executor.ts): the fuzzer's client reads nothing, so a target that answers
 * without regard to its unread backlog piles it up; the exec ends when the target stops taking bytes.
 */
import net from 'node:net';
import t from 'tap';
import { DEFAULT_EXEC_OPTIONS, runClient } from '../../src/fuzz/executor.ts';

t.test('a neverRead exec reads nothing and ends when the target stops taking bytes', async (t) => {
  let serverBacklog = 0;
  let taken = 0;
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    // Answer every chunk with 16 times its size (more than loopback's socket buffers hold), then
    // stop reading after 1 MiB.
    s.on('data', (d: Buffer) => {
      taken += d.length;
      s.write(Buffer.alloc(d.length * 16, 0x41));
      serverBacklog = Math.max(serverBacklog, s.writableLength);
      if (taken > 1024 * 1024) s.pause();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  }));
  const { port } = server.address() as net.AddressInfo;
  const chunk = Buffer.alloc(64 * 1024, 0x42);
  const ex = { protocol: 'hl7' as const, side: 'client' as const, label: 'never-read test', chunks: Array.from({ length: 512 }, () => chunk), neverRead: true };
  const result = await runClient(ex, { host: '127.0.0.1', port }, { ...DEFAULT_EXEC_OPTIONS, timeoutMs: 20_000, stallMs: 500 });
  t.equal(result.outcome, 'quiet', 'ended by the stall, not the hard timeout');
  t.equal(result.reply.length, 0, 'no answer byte was read');
  t.ok(serverBacklog > 1024 * 1024, `the target's unread answers piled up on its side (${(serverBacklog / 1048576).toFixed(1)} MiB)`);
  t.equal(result.sentBytes, 512 * chunk.length, 'every chunk was handed to the socket');
  t.ok(result.acceptedBytes < result.sentBytes, `the target took ${(result.acceptedBytes / 1048576).toFixed(1)} of ${(result.sentBytes / 1048576).toFixed(0)} MiB`);
  t.ok(result.endedAt - result.startedAt < 10_000, 'well before the hard timeout');
});
