/**
 * The --lab gate for names: `localhost` is loopback only when every address it resolves to is
 * (/etc/hosts may map it to a LAN address). Lookups are injected so no test edits /etc/hosts; one case
 * uses this machine's real resolver.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { fuzzListenHost } from '../../src/fuzz/route-target.ts';
import { type LookupAll, checkScopeResolved } from '../../src/fuzz/scope.ts';
import { prepareTarget } from '../../src/fuzz/setup.ts';
import { recordConnects } from '../helpers/connect-guard.ts';
import { tempDir } from '../helpers/tmp.ts';

const answers = (addresses: string[]): LookupAll & { calls: string[] } => {
  const calls: string[] = [];
  return Object.assign(async (host: string) => { calls.push(host); return addresses; }, { calls });
};

t.test('a name passes only when all its addresses are loopback', async (t) => {
  const cases: [string[], RegExp | null][] = [
    [['127.0.0.1'], null],
    [['127.0.0.1', '::1'], null],
    [['::ffff:127.0.0.1'], null],
    [['10.0.0.5'], /localhost resolves to 10\.0\.0\.5, not only to loopback.*add --lab/],
    [['127.0.0.1', '192.168.1.9'], /resolves to 192\.168\.1\.9, not only to loopback/],
    [['::1', 'fe80::1'], /resolves to fe80::1,/],
    [['::ffff:10.0.0.5'], /resolves to ::ffff:10\.0\.0\.5,/],
    [[], /resolves to no address/],
  ];
  for (const [addresses, refused] of cases) {
    const lookup = answers(addresses);
    const result = await checkScopeResolved('localhost', false, { lookup }).then(() => null, (err) => err);
    if (refused) t.match(result, { code: 'FUZZ_TARGET_REFUSED', message: refused }, `${addresses.join(', ') || '(none)'}: refused`);
    else t.equal(result, null, `${addresses.join(', ')}: accepted`);
    t.same(lookup.calls, ['localhost'], 'one lookup of the name');
  }
});

t.test('a name that does not resolve is refused with a clear error; addresses and --lab need no lookup', async (t) => {
  const failing: LookupAll = async () => { throw Object.assign(new Error('getaddrinfo ENOTFOUND localhost'), { code: 'ENOTFOUND' }); };
  await t.rejects(checkScopeResolved('localhost', false, { lookup: failing }), { code: 'FUZZ_TARGET_REFUSED', message: /^target localhost does not resolve \(ENOTFOUND\): give a loopback address such as 127\.0\.0\.1, or --lab/ });
  const never = answers(['10.0.0.5']);
  await checkScopeResolved('localhost', true, { lookup: never });
  await checkScopeResolved('127.46.0.1', false, { lookup: never });
  await checkScopeResolved('[::1]', false, { lookup: never });
  t.same(never.calls, [], 'no lookup for --lab or an address');
  await t.rejects(checkScopeResolved('pacs.invalid', false, { lookup: never }), { code: 'FUZZ_TARGET_REFUSED', message: /not on loopback/ }, 'other names are refused by spelling');
  t.same(never.calls, [], 'without a lookup (no DNS query leaves for them)');
});

t.test('this machine\'s localhost passes with the real resolver', async (t) => {
  await t.resolves(checkScopeResolved('localhost', false));
});

t.test('fuzz --target localhost:PORT mapped off-host is refused before any connection or spawn', async (t) => {
  const hosts = recordConnects(t, (h) => h.startsWith('127.46.'));
  const offHost = answers(['10.0.0.5']);
  const address = prepareTarget({ target: 'localhost:11112', protocol: 'dicom', lookup: offHost });
  await t.rejects(address.target.start(), { code: 'FUZZ_TARGET_REFUSED', message: /localhost resolves to 10\.0\.0\.5/ });

  const marker = join(tempDir(t), 'spawned');
  const spawned = prepareTarget({ target: 'localhost:11112', protocol: 'hl7', spawn: `touch ${marker}`, lookup: offHost });
  await t.rejects(spawned.target.start(), { code: 'FUZZ_TARGET_REFUSED' });
  t.notOk(existsSync(marker), 'the --spawn command did not run');
  t.same(hosts, [], 'no connection was attempted');
});

t.test('a route listening on a name is fuzzed on 127.0.0.1, not on what the name resolves to', async (t) => {
  t.equal(fuzzListenHost('localhost:1104'), '127.0.0.1');
  t.equal(fuzzListenHost('127.46.0.3:1104'), '127.46.0.3');
  t.equal(fuzzListenHost('[::1]:1104'), '::1');
  t.equal(fuzzListenHost('10.1.1.1:1104'), '127.0.0.1');
  t.equal(fuzzListenHost('pacs.klinikum.internal:1104'), '127.0.0.1');
});
