/**
 * The address helpers every policy decision goes through: IPv4-mapped IPv6 addresses (what a
 * dual-stack socket reports for IPv4 peers, and what a resolver can return) are judged as the IPv4
 * address they reach, in both spellings, and loopback means only this host.
 */
import t from 'tap';
import { isLoopback } from '../../src/net/loopback.ts';
import { unmapIpv4 } from '../../src/pki/ip.ts';
import { rateLimitKey } from '../../src/acme/rate-limit.ts';
import { isAllowed, parseNetworks } from '../../src/acme/challenges/networks.ts';
import { normalizeAddress } from '../../src/proxy/peer-identity.ts';

t.test('unmapIpv4: dotted and hex spellings, nothing else changed', async (t) => {
  t.equal(unmapIpv4('::ffff:10.1.2.3'), '10.1.2.3');
  t.equal(unmapIpv4('::FFFF:a01:203'), '10.1.2.3', 'hex form, any case');
  t.equal(unmapIpv4('0:0:0:0:0:ffff:a01:203'), '10.1.2.3', 'uncompressed form');
  for (const same of ['10.1.2.3', '::1', 'fd00::ffff:a01:203', '::ffff:0:a01:203', '64:ff9b::a01:203', 'pacs.internal', '']) {
    t.equal(unmapIpv4(same), same, `${same || '(empty)'} unchanged`);
  }
});

t.test('every policy point judges a mapped address as its IPv4 address', async (t) => {
  for (const mapped of ['::ffff:10.1.2.3', '::ffff:a01:203']) {
    t.equal(rateLimitKey(mapped), '10.1.2.3', `rate-limit bucket of ${mapped}`);
    t.equal(normalizeAddress(mapped), '10.1.2.3', `gateway peer address of ${mapped}`);
    t.ok(isAllowed(mapped, parseNetworks(['10.0.0.0/8'])), `validation allow-list admits ${mapped}`);
    t.notOk(isAllowed(mapped, parseNetworks(['192.168.0.0/16'])), `and refuses it outside the list`);
  }
  t.ok(isLoopback('::ffff:127.0.0.9') && isLoopback('[::ffff:7f00:9]') && isLoopback('::1') && isLoopback('localhost') && isLoopback('127.20.0.1'));
  t.notOk(isLoopback('::ffff:10.0.0.1') || isLoopback('::2') || isLoopback('fe80::1') || isLoopback('128.0.0.1') || isLoopback('localhost.example'));
});
