/**
 * An outbound route verifies the upstream's certificate against the name it was configured with, not
 * just the chain: an IP upstream against an IP SAN, `tls.serverName` against a DNS SAN, and never one
 * for the other. SNI carries the DNS name only (RFC 6066 §3). A certificate of the trusted CA for another
 * device (a LAN attacker answering at the upstream's address with its own valid certificate) is refused.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { encodeFrame } from '../../src/protocols/hl7/index.ts';
import { freeLoopbackPort, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const GW = '127.55.6.1';
const UP = '127.55.6.5';

t.test('the upstream name is checked as configured, IP against IP SAN, DNS name against DNS SAN', async (t) => {
  const pki = await proxyPki(t);
  const gw = await pki.issue('gw', ['gw.klinikum.internal']);
  const certs = {
    dns: await pki.issue('up-dns', ['ris.klinikum.internal']),
    ip: await pki.issue('up-ip', [UP]),
    otherIp: await pki.issue('up-other-ip', ['127.55.6.6']),
  };
  const cases: Array<{ cert: keyof typeof certs; serverName?: string; relayed: boolean; sni: string | false }> = [
    { cert: 'dns', relayed: false, sni: false },
    { cert: 'dns', serverName: 'ris.klinikum.internal', relayed: true, sni: 'ris.klinikum.internal' },
    { cert: 'dns', serverName: UP, relayed: false, sni: false },
    { cert: 'ip', relayed: true, sni: false },
    { cert: 'ip', serverName: 'ris.klinikum.internal', relayed: false, sni: false },
    { cert: 'otherIp', relayed: false, sni: false },
    { cert: 'otherIp', serverName: 'ris.klinikum.internal', relayed: false, sni: false },
  ];
  for (const c of cases) {
    const what = `certificate for ${c.cert}, serverName ${c.serverName ?? '(none)'}`;
    let bytes = 0;
    let sni: string | false = false;
    const upstream = tls.createServer({ cert: readFileSync(certs[c.cert].cert), key: readFileSync(certs[c.cert].key) }, (s) => {
      sni = s.servername ?? false;
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => (bytes += d.length));
    });
    upstream.on('tlsClientError', () => undefined);
    const upPort = await freeLoopbackPort();
    await new Promise<void>((r) => upstream.listen(upPort, UP, r));
    const port = await freeLoopbackPort();
    const log: string[] = [];
    const gateway = await startGateway(t, { routes: [{ name: 'out', direction: 'outbound', protocol: 'hl7', listen: `${GW}:${port}`, upstream: `${UP}:${upPort}`,
      tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust, ...(c.serverName ? { serverName: c.serverName } : {}) } }] }, log);
    const client = net.connect({ host: GW, port });
    client.on('error', () => undefined);
    client.write(encodeFrame('MSH|^~\\&|RIS|R|LIS|L|20261126||ADT^A01|N1|P|2.5\r'));
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && bytes === 0 && !log.some((l) => /does not match|upstream/i.test(l))) await new Promise((r) => setTimeout(r, 20));
    if (c.relayed) {
      t.ok(bytes > 0, `${what}: the message reaches the upstream`);
      t.equal(sni, c.sni, `${what}: SNI ${c.sni || 'not sent'}`);
    } else {
      t.equal(bytes, 0, `${what}: nothing reaches the upstream`);
      t.match(log.join('\n'), /does not match certificate's altnames|Cert does not contain a DNS name/, `${what}: refused by the name check`);
    }
    client.destroy();
    await gateway.stop();
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});
