/**
 * Real peer (python3-hl7's mllp_send): our MLLP listener decodes its messages and answers ACKs that
 * it accepts and prints. Loopback only. A missing binary skips locally and fails under CI.
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { MllpDecoder, buildAck, encodeFrame, parseAck, parseMsh } from '../../../src/protocols/hl7/index.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { spawnPeer, which, withTimeout } from '../fixtures/helpers.ts';
import { ADT_A01, ORM_V231 } from '../fixtures/hl7.ts';

const TIMEOUT = 10_000;

t.test('MLLP listener answers mllp_send with ACKs', {
  skip: !which('mllp_send') && !process.env.CI ? 'mllp_send (python3-hl7) is not installed; install python3-hl7 to run this interop test' : false,
}, async (t) => {
  const bin = which('mllp_send');
  if (!bin) return void t.fail('mllp_send is not installed; CI must install python3-hl7');
  const received: string[] = [];
  const errors: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setTimeout(TIMEOUT, () => socket.destroy());
    const decoder = new MllpDecoder({ maxFrameSize: 64 * 1024 });
    socket.on('data', (chunk) => {
      try {
        for (const payload of decoder.push(chunk)) {
          const msh = parseMsh(payload);
          received.push(msh.controlId);
          socket.write(encodeFrame(buildAck(msh, { code: 'AA' })));
        }
      } catch (err) {
        errors.push(String(err));
        socket.destroy();
      }
    });
    socket.on('end', () => {
      try {
        decoder.finish();
      } catch (err) {
        errors.push(String(err));
      }
    });
    socket.on('error', (err) => errors.push(String(err)));
  });
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  // mllp_send reads MLLP-framed messages and prints each response it receives. Its stdin mode is
  // broken on Python 3 in python3-hl7 0.4.5 (str/bytes mix-up), so the messages go through --file.
  const file = join(tempDir(t), 'messages.hl7');
  writeFileSync(file, Buffer.concat([encodeFrame(ADT_A01), encodeFrame(ORM_V231)]));
  const peer = spawnPeer(t, bin, ['-p', String(port), '-f', file, '127.0.0.1']);
  const code = await withTimeout(peer.exited, TIMEOUT, 'mllp_send to exit');
  t.equal(code, 0, `mllp_send exits 0 ${peer.stderr()}`);
  t.same(received, ['MSG00001', '42'], 'both messages decoded by our listener');
  t.same(errors, [], 'no framing or parse errors');
  // Its stdout is each raw response followed by a newline: decode it with our own MLLP decoder.
  const acks = new MllpDecoder().push(peer.stdout()).map((payload) => parseAck(payload));
  t.same(acks.map((a) => [a.code, a.controlIdReferenced]), [['AA', 'MSG00001'], ['AA', '42']], 'mllp_send received our ACKs');
  t.same(acks.map((a) => a.msh.messageType), [{ code: 'ACK', trigger: 'A01', structure: 'ACK' }, { code: 'ACK', trigger: 'O01', structure: 'ACK' }]);
});
