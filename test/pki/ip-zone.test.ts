/**
 * Found in review: isIP('fe80::1%eth0') is 6, and ipToBytes stopped parsing each group at '%', so an ACME
 * `ip` identifier, a --name, a CSR's CN or a CIDR written with a zone ID silently became fe80::1.
 * RFC 8738 §3 identifiers are the address alone: text with a zone is refused. Addresses the OS hands
 * over (a link-local peer's socket address carries its zone) keep working: rate limits, allow rules,
 * scanner targets.
 */
import t from 'tap';
import { rateLimitKey } from '../../src/acme/rate-limit.ts';
import { isCanonicalIp } from '../../src/conformance/acme-client/record-query.ts';
import { canonicalIp, cidrContains, ipToBytes, parseCidr, stripZone, unmapIpv4 } from '../../src/pki/ip.ts';
import { identifierFromText, normalizeIdentifier } from '../../src/pki/names.ts';
import { normalizeAddress } from '../../src/proxy/peer-identity.ts';
import { decideAssociation } from '../../src/proxy/policy.ts';
import { validateGatewayConfig } from '../../src/proxy/route-config.ts';
import { canonicalAddress, parseTargetSpec } from '../../src/scan/targets.ts';

const ZONED = ['fe80::1%eth0', 'fe80::1%2', 'FE80:0:0:0:0:0:0:1%lo', '2001:db8::5%eth0', '::ffff:127.56.0.1%eth0'];

t.test('text with a zone ID is not an IP identifier', async (t) => {
  for (const text of ZONED) {
    t.throws(() => ipToBytes(text), { code: 'NAME_INVALID', message: /zone ID/ }, `ipToBytes ${text}`);
    t.throws(() => canonicalIp(text), { code: 'NAME_INVALID' }, `canonicalIp ${text}`);
    t.throws(() => identifierFromText(text), { code: 'NAME_INVALID' }, `--name / CN ${text}`);
    t.throws(() => normalizeIdentifier({ type: 'ip', value: text }), { code: 'NAME_INVALID' }, `ip identifier ${text}`);
    t.notOk(isCanonicalIp(text), `not an RFC 8738 identifier for the conformance checks: ${text}`);
  }
  t.same(identifierFromText('FE80:0:0:0:0:0:0:1'), { type: 'ip', value: 'fe80::1' }, 'without the zone the address is fine');
  t.ok(isCanonicalIp('fe80::1'));
});

t.test('a CIDR with a zone ID is refused like any malformed range', async (t) => {
  for (const text of ['fe80::%eth0/64', 'fe80::1%eth0', 'fd00::%2/8']) {
    t.throws(() => parseCidr(text), { code: 'CLI_ARGUMENT', message: /zone ID \(%\.\.\.\) names an interface/ }, text);
  }
  t.equal(parseCidr('fe80::/64').text, 'fe80::/64');
  t.notOk(cidrContains(parseCidr('fe80::/64'), 'fe80::1%eth0'), 'a zoned address is not "inside" a range either (fail closed)');
});

t.test('addresses from the OS keep their meaning', async (t) => {
  t.equal(stripZone('fe80::1%eth0'), 'fe80::1');
  t.equal(stripZone('fe80::1'), 'fe80::1');
  t.equal(stripZone('127.56.0.1'), '127.56.0.1');
  t.equal(unmapIpv4('fe80::1%eth0'), 'fe80::1%eth0', 'unmapIpv4 never throws on a socket address');
  t.equal(unmapIpv4('::ffff:127.56.0.1'), '127.56.0.1');

  // ACME rate limits: request.ip of a link-local client.
  t.equal(rateLimitKey('fe80::1%eth0'), 'fe80::1%eth0', 'one bucket per link-local client');
  t.not(rateLimitKey('fe80::1%eth0'), rateLimitKey('fe80::1%eth1'), 'the same address on another link is another host');

  // Gateway allow rules: the peer's socket address carries its zone, the rule the address alone.
  const peer = { address: normalizeAddress('fe80::1%eth0'), subjects: [], sans: [] };
  t.equal(peer.address, 'fe80::1%eth0', 'the audit keeps the interface');
  t.ok(decideAssociation([{ peerAddresses: ['FE80::1'] }], peer, 'MOD', 'PACS').allowed, 'a link-local peer matches its address rule');
  t.notOk(decideAssociation([{ peerAddresses: ['fe80::2'] }], peer, 'MOD', 'PACS').allowed, 'and no other');

  // Scanner targets: a link-local device is reached through its interface, so the zone is kept.
  t.equal(canonicalAddress('FE80:0:0:0:0:0:0:1%eth0'), 'fe80::1%eth0');
  t.same(parseTargetSpec('fe80::1%eth0'), { kind: 'ipv6', text: 'fe80::1%eth0', address: 'fe80::1%eth0' });
});

t.test('a gateway allow rule with a zone ID is a config error, not a silent fe80::1', async (t) => {
  const route = { name: 'r1', direction: 'inbound', protocol: 'dicom', listen: '127.56.0.1:1104', upstream: '127.56.0.2:104', tls: { cert: ['c.pem'], key: ['k.pem'], ca: 'ca.pem' } };
  t.throws(() => validateGatewayConfig({ routes: [{ ...route, allow: [{ peerAddresses: ['10.20.0.5', 'fe80::1%eth0'] }] }] }, 'gw.json'),
    { code: 'CONFIG_INVALID', message: /^gw\.json: field "routes\.0\.allow\.0\.peerAddresses" \(route "r1"\) "fe80::1%eth0" carries a zone ID/ });
  t.ok(validateGatewayConfig({ routes: [{ ...route, allow: [{ peerAddresses: ['fe80::1'] }] }] }, 'gw.json'), 'the address alone is accepted');
});
