/**
 * The gateway's http-01 responder runs as long as the gateway, in its process. Found in review: it kept
 * connections that never sent a byte open for good, with no cap, so one LAN host could use up the file
 * descriptors the routes accept with. Now: at most 16 per address, 64 in all, idle ones closed after 10 s.
 */
import http from 'node:http';
import type net from 'node:net';
import t from 'tap';
import { closedWithin, connectFrom } from '../helpers/connection-probes.ts';
import { Http01Responder } from '../../src/proxy/cert-manager/http01.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort } from './fixtures/peers.ts';

const HOST = '127.55.7.1';



t.test('idle connections to the http-01 responder are capped per address and closed', async (t) => {
  const port = await freeLoopbackPort();
  const responder = new Http01Responder({ host: HOST, port });
  responder.set('tok', 'tok.thumbprint');
  await responder.start();
  t.teardown(() => responder.stop());
  const held: net.Socket[] = [];
  t.teardown(() => { for (const s of held) s.destroy(); });
  for (let i = 0; i < 16; i++) held.push(await connectFrom(HOST, port, '127.55.7.9'));
  const extra = await connectFrom(HOST, port, '127.55.7.9');
  t.ok(await closedWithin(extra, 2000) >= 0, 'the 17th idle connection from one address is closed at once');
  const body = await withTimeout(new Promise<string>((resolve, reject) => {
    http.get({ host: HOST, port, path: '/.well-known/acme-challenge/tok', localAddress: '127.55.7.10', agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  }), 5000, 'challenge answer');
  t.equal(body, 'tok.thumbprint', 'the CA, from another address, still gets its answer');
  const ms = await closedWithin(held[0], 15_000);
  t.ok(ms >= 8000 && ms < 13_000, `an idle connection is closed after ${ms} ms`);
});
