import t from 'tap';
import { DEFAULT_VALIDATION_OPTIONS, resolveValidationOptions, reverseDnsName, tlsAlpnServerName } from '../../../src/acme/challenges/index.ts';
import { isAllowed, parseNetworks } from '../../../src/acme/challenges/networks.ts';
import { expectCode } from '../../protocols/fixtures/helpers.ts';

t.test('defaults: ports 80/443, system resolvers, private and loopback ranges only', async (t) => {
  t.same(DEFAULT_VALIDATION_OPTIONS, {
    http01Port: 80, tlsAlpn01Port: 443, dnsResolvers: [], timeoutMs: 10000, attempts: 3,
    allowedNetworks: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', '::1/128', 'fc00::/7', 'fe80::/10'],
  });
  const nets = parseNetworks(DEFAULT_VALIDATION_OPTIONS.allowedNetworks);
  for (const ip of ['10.1.2.3', '172.31.255.1', '192.168.0.9', '127.0.0.1', '::1', 'fd12::5', 'fe80::1', '::ffff:10.0.0.1']) t.ok(isAllowed(ip, nets), `${ip} allowed`);
  for (const ip of ['8.8.8.8', '172.32.0.1', '100.64.0.1', '2001:db8::1', '::ffff:8.8.8.8', '169.254.1.1', 'not-an-ip']) t.notOk(isAllowed(ip, nets), `${ip} refused`);
});

t.test('resolveValidationOptions fills defaults and names bad values', async (t) => {
  t.same(resolveValidationOptions({ http01Port: 5002, dnsResolvers: ['127.0.0.1:8053', '[::1]:53', '10.0.0.53'] }).http01Port, 5002);
  t.equal(resolveValidationOptions({ attempts: undefined }).attempts, 3);
  expectCode(t, () => resolveValidationOptions({ http01Port: 0 }), 'CLI_ARGUMENT', 'port 0');
  expectCode(t, () => resolveValidationOptions({ tlsAlpn01Port: 70000 }), 'CLI_ARGUMENT', 'port 70000');
  expectCode(t, () => resolveValidationOptions({ dnsResolvers: ['dns.klinikum.internal'] }), 'CLI_ARGUMENT', 'resolver by name');
  expectCode(t, () => resolveValidationOptions({ dnsResolvers: ['[::1]:99999'] }), 'CLI_ARGUMENT', 'v6 with a bad port');
  expectCode(t, () => resolveValidationOptions({ allowedNetworks: ['10.0.0.0/33'] }), 'CLI_ARGUMENT', 'bad CIDR');
  expectCode(t, () => resolveValidationOptions({ attempts: 0 }), 'CLI_ARGUMENT', 'attempts 0');
  expectCode(t, () => resolveValidationOptions({ timeoutMs: -1 }), 'CLI_ARGUMENT', 'negative timeout');
});

t.test('reverse-DNS names (RFC 8738 §6, RFC 1035 §3.5, RFC 3596 §2.5)', async (t) => {
  const table: Array<[string, string]> = [
    ['10.20.0.5', '5.0.20.10.in-addr.arpa'],
    ['127.0.0.1', '1.0.0.127.in-addr.arpa'],
    // RFC 3596 §2.5 example: 4321:0:1:2:3:4:567:89ab
    ['4321:0:1:2:3:4:567:89ab', 'b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa'],
  ];
  for (const [ip, name] of table) t.equal(reverseDnsName(ip), name, ip);
  t.equal(tlsAlpnServerName({ type: 'ip', value: '10.20.0.5' }), '5.0.20.10.in-addr.arpa');
  t.equal(tlsAlpnServerName({ type: 'dns', value: 'PACS.Klinikum.Internal.' }), 'pacs.klinikum.internal');
});
