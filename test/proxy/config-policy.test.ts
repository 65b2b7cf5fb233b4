/**
 * Route configuration errors name the field; allow rules bind certificate names to AE titles and HL7
 * senders as documented.
 */
import t from 'tap';
import { isWardgateError } from '../../src/errors.ts';
import { decideAssociation, decideMessage } from '../../src/proxy/policy.ts';
import { validateGatewayConfig } from '../../src/proxy/route-config.ts';
import { parseSubjectAltName } from '../../src/proxy/peer-identity.ts';

const base = { name: 'r1', direction: 'inbound', protocol: 'dicom', listen: '127.0.0.1:1104', upstream: '127.0.0.1:104', tls: { cert: ['c.pem'], key: ['k.pem'], ca: 'ca.pem' } };

t.test('config errors name the field', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['no routes', { routes: [] }, /field "routes" must NOT have fewer than 1 items/],
    ['missing name', { routes: [{ ...base, name: undefined }] }, /field "routes\.0\.name" is required/],
    ['bad direction', { routes: [{ ...base, direction: 'sideways' }] }, /field "routes\.0\.direction" must be one of "inbound", "outbound"/],
    ['bad listen', { routes: [{ ...base, listen: '127.0.0.1' }] }, /field "routes\.0\.listen"/],
    ['port 0', { routes: [{ ...base, listen: '127.0.0.1:0' }] }, /field "routes\.0\.listen" \(route "r1"\)/],
    ['unknown field', { routes: [{ ...base, tls: { ...base.tls, ciphers: 'RC4' } }] }, /field "routes\.0\.tls\.ciphers" is not a known field/],
    ['key count', { routes: [{ ...base, tls: { ...base.tls, key: [] } }] }, /field "routes\.0\.tls\.key" must NOT have fewer than 1 items/],
    ['pairs', { routes: [{ ...base, tls: { ...base.tls, cert: ['a', 'b'] } }] }, /field "routes\.0\.tls\.key" \(route "r1"\) must list one key per certificate/],
    ['no cert', { routes: [{ ...base, tls: { ca: 'x' } }] }, /field "routes\.0\.tls\.cert" \(route "r1"\) is required unless tls\.acme is set/],
    ['clientAuth outbound', { routes: [{ ...base, direction: 'outbound', tls: { ...base.tls, clientAuth: 'required' } }] }, /tls\.clientAuth" \(route "r1"\) applies to inbound routes only/],
    ['duplicate name', { routes: [base, { ...base, listen: '127.0.0.1:1105' }] }, /field "routes\.1\.name" repeats route name "r1"/],
    ['bad limit', { routes: [{ ...base, limits: { maxPduLength: 10 } }] }, /field "routes\.0\.limits\.maxPduLength" must be >= 1024/],
    ['move destination to a missing route', { routes: [{ ...base, direction: 'outbound', moveDestinations: { MOD1: 'nope' } }] }, /field "routes\.0\.moveDestinations\.MOD1" names route "nope", which does not exist/],
    ['move destination to an outbound route', { routes: [{ ...base, direction: 'outbound', moveDestinations: { MOD1: 'r1' } }] }, /names route "r1", which is not an inbound DICOM route/],
    ['empty allow rule', { routes: [{ ...base, allow: [{}] }] }, /field "routes\.0\.allow\.0" must NOT have fewer than 1 properties/],
    // A rule's absent conditions match everything: a condition the route ignored would admit every peer.
    ['DICOM condition on an HL7 route', { routes: [{ ...base, protocol: 'hl7', allow: [{ peerSans: ['lis.klinikum.internal'] }, { callingAeTitles: ['LIS'] }] }] },
      /field "routes\.0\.allow\.1\.callingAeTitles" \(route "r1"\) is a DICOM condition; this route speaks HL7, where it would match every peer/],
    ['HL7 condition on a DICOM route', { routes: [{ ...base, allow: [{ messageTypes: ['ADT'] }] }] }, /field "routes\.0\.allow\.0\.messageTypes" \(route "r1"\) is an HL7 condition/],
    ['certificate condition on a route that asks for no client certificate', { routes: [{ ...base, tls: { ...base.tls, clientAuth: 'none' }, allow: [{ peerSubjects: ['ct1'] }] }] },
      /field "routes\.0\.allow\.0\.peerSubjects" \(route "r1"\) needs a client certificate, and tls\.clientAuth "none" asks for none/],
    ['certificate condition on an outbound route', { routes: [{ ...base, direction: 'outbound', allow: [{ peerSans: ['ct1.klinikum.internal'], callingAeTitles: ['CT1'] }] }] },
      /field "routes\.0\.allow\.0\.peerSans" \(route "r1"\) needs a client certificate, and the clients of an outbound route are plaintext: use peerAddresses/],
  ];
  for (const [name, data, pattern] of cases) {
    try {
      validateGatewayConfig(data, 'gw.json');
      t.fail(`${name}: accepted`);
    } catch (err) {
      t.ok(isWardgateError(err, 'CONFIG_INVALID') && pattern.test(err.message) && err.message.startsWith('gw.json: '), `${name}: ${(err as Error).message}`);
    }
  }
  const ok = validateGatewayConfig({ routes: [base] }, 'gw.json');
  t.equal(ok.routes[0].limits.maxPduLength, 4 * 1024 * 1024, 'defaults filled in');
  t.equal(ok.routes[0].tls.profile, 'bcp195-non-downgrading', 'default TLS profile');
});

t.test('allow rules', async (t) => {
  const ct1 = { address: '10.20.0.5', subjects: ['ct1.rad.klinikum.internal'], sans: ['ct1.rad.klinikum.internal', '10.20.0.5'] };
  const rules = [{ peerSans: ['CT1.rad.klinikum.internal'], callingAeTitles: ['CT1', 'CT1_QR'] }, { peerAddresses: ['10.20.0.9'], calledAeTitles: ['PACS'] }];
  t.ok(decideAssociation(rules, ct1, 'CT1', 'PACS').allowed, 'SAN (case-insensitive) bound to its AE title');
  t.ok(decideAssociation(rules, ct1, ' CT1_QR ', 'ANY').allowed, 'AE titles compared trimmed (PS3.5 §6.2)');
  t.notOk(decideAssociation(rules, ct1, 'MR1', 'PACS').allowed, 'other AE title from the same certificate refused');
  t.notOk(decideAssociation(rules, { ...ct1, sans: ['mr1.rad.klinikum.internal'], subjects: [] }, 'CT1', 'PACS').allowed, 'AE title from another certificate refused');
  t.ok(decideAssociation(rules, { address: '10.20.0.9', subjects: [], sans: [] }, 'X', 'PACS').allowed, 'address rule');
  t.ok(decideAssociation(undefined, ct1, 'ANY', 'ANY').allowed, 'no rules: allowed');
  const hl7 = [{ sendingApplications: ['RIS'], messageTypes: ['ADT^A01', 'ORM'] }];
  t.ok(decideMessage(hl7, ct1, { sendingApplication: 'RIS', sendingFacility: 'X', code: 'ORM', trigger: 'O01' }).allowed, 'code-only type');
  t.ok(decideMessage(hl7, ct1, { sendingApplication: 'RIS', sendingFacility: 'X', code: 'ADT', trigger: 'A01' }).allowed, 'code^trigger');
  t.notOk(decideMessage(hl7, ct1, { sendingApplication: 'RIS', sendingFacility: 'X', code: 'ADT', trigger: 'A08' }).allowed, 'other trigger refused');
  const hd = { sendingApplication: 'RIS', sendingFacility: 'X', code: 'ORM', trigger: 'O01', sendingApplicationHd: 'RIS^1.2.3^ISO', sendingFacilityHd: 'X' };
  t.ok(decideMessage(hl7, ct1, hd).allowed, 'a bare name matches the namespace ID whatever the OID');
  t.ok(decideMessage([{ sendingApplications: ['RIS^1.2.3^ISO'] }], ct1, hd).allowed, 'a rule with ^ matches the whole HD');
  t.notOk(decideMessage([{ sendingApplications: ['RIS^1.2.4^ISO'] }], ct1, hd).allowed, 'and refuses another universal ID');
  t.notOk(decideMessage([{ sendingApplications: ['RIS^1.2.3^ISO'] }], ct1, { ...hd, sendingApplicationHd: 'RIS' }).allowed, 'or none');
  t.same(parseSubjectAltName('DNS:A.example, IP Address:10.0.0.1, email:x@y'), ['a.example', '10.0.0.1']);
  // Found in review: Node prints IPv6 SANs uncompressed, so a rule written `fd00::5` never matched.
  t.same(parseSubjectAltName('IP Address:FD00:0:0:0:0:0:0:5, IP Address:0:0:0:0:0:0:0:1'), ['fd00::5', '::1'], 'IPv6 SANs in RFC 5952 form');
  const v6 = { address: '::1', subjects: [], sans: parseSubjectAltName('IP Address:FD00:0:0:0:0:0:0:5') };
  t.ok(decideAssociation([{ peerSans: ['fd00::5'] }], v6, 'X', 'Y').allowed, 'IPv6 SAN rule written compressed');
  t.ok(decideAssociation([{ peerSans: ['FD00:0:0:0:0:0:0:5'] }], v6, 'X', 'Y').allowed, 'and written in full');
  t.ok(decideAssociation([{ peerAddresses: ['0:0:0:0:0:0:0:1'] }], v6, 'X', 'Y').allowed, 'IPv6 peer address in any spelling');
  t.notOk(decideAssociation([{ peerSans: ['fd00::6'] }], v6, 'X', 'Y').allowed, 'another address still refused');
});

t.test('per-peer and per-route connection limits', async (t) => {
  const { ConnectionLimiter } = await import('../../src/net/connection-limiter.ts');
  const l = new ConnectionLimiter(3, 2);
  const a1 = l.acquire('10.0.0.1');
  const a2 = l.acquire('10.0.0.1');
  t.match(l.acquire('10.0.0.1'), { refused: /per-peer limit is 2/ }, 'third from one peer refused');
  const b1 = l.acquire('10.0.0.2');
  t.match(l.acquire('10.0.0.3'), { refused: /limit is 3/ }, 'route full');
  if ('release' in a1) { a1.release(); a1.release(); }
  t.equal(l.active, 2, 'double release counted once');
  t.ok('release' in l.acquire('10.0.0.3'), 'slot freed');
  t.ok('release' in a2 && 'release' in b1);
});
