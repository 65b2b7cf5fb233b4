/**
 * Floor for stream.ts: the least a Node.js TLS relay can do, with no DICOM framing: mutual TLS in,
 * plaintext out, 'data' events written on with backpressure at the stream high-water mark, the
 * way a straightforward Node relay is written. With `pooled` as the last argument it forwards the way
 * the gateway's relay does instead (session.ts forward: corked until the loop turn ends, 1 MiB
 * backpressure; TLS side read into recycled buffers, pooled-reads.ts), so that the difference to the
 * gateway is its DICOM work. Never used by the gateway. It prefers the suite the gateway's default TLS
 * profile prefers (AES-128-GCM: a client offering OpenSSL's default order would otherwise get the
 * costlier AES-256-GCM), so that the difference is the relay's, not the cipher's.
 * Usage: node --import tsx bench/proxy/bare-relay.ts HOST:PORT UPHOST:UPPORT CERT KEY CA [pooled]  (prints "ready")
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { readPooled } from '../../src/proxy/pooled-reads.ts';
import { forward } from '../../src/proxy/session.ts';

const [listen, upstream, cert, key, ca, mode] = process.argv.slice(2);
const [host, port] = listen.split(':');
const [upHost, upPort] = upstream.split(':');

function relay(from: net.Socket, to: net.Socket): void {
  const onChunk = mode === 'pooled'
    ? (chunk: Buffer, lease?: Parameters<typeof forward>[3]) => forward(from, to, chunk, lease)
    : (chunk: Buffer) => {
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    };
  from.on('data', onChunk);
  if (mode === 'pooled') readPooled(from, onChunk);
  from.on('end', () => to.end());
  from.on('error', () => to.destroy());
}

const server = tls.createServer({ cert: readFileSync(cert), key: readFileSync(key), ca: readFileSync(ca), requestCert: true, rejectUnauthorized: true, ciphers: 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384', honorCipherOrder: true }, (client) => {
  client.pause();
  const up = net.connect({ host: upHost, port: Number(upPort) }, () => {
    relay(client, up);
    relay(up, client);
    client.resume();
  });
  up.on('error', () => client.destroy());
});
server.listen({ host, port: Number(port) }, () => process.stdout.write('ready\n'));
