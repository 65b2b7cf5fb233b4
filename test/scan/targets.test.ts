import t from 'tap';
import { DEFAULT_MAX_HOSTS, ExcludeList, checkHostCount, countHosts, expandTargets, parseShard, parseTargetArgs, parseTargetSpec, parseTargetsFile } from '../../src/scan/targets.ts';
import { parsePorts, DEFAULT_PORTS } from '../../src/scan/ports.ts';
import { isWardgateError } from '../../src/errors.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.ts';

async function addresses(words: string[], opts: Parameters<typeof expandTargets>[1] = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const target of expandTargets(parseTargetArgs(words), opts)) out.push(target.address);
  return out;
}

function rejects(t: { ok: (v: unknown, m: string) => void; fail: (m: string) => void }, fn: () => unknown, label: string) {
  try {
    fn();
    t.fail(`${label}: accepted`);
  } catch (err) {
    t.ok(isWardgateError(err, 'SCAN_TARGET_INVALID') || isWardgateError(err, 'SCAN_OPTION_INVALID'), `${label}: ${(err as Error).message}`);
  }
}

t.test('target words', async (t) => {
  t.same(await addresses(['127.20.0.5']), ['127.20.0.5']);
  t.same(await addresses(['127.20.0.4/30']), ['127.20.0.4', '127.20.0.5', '127.20.0.6', '127.20.0.7'], 'CIDR block');
  t.same(await addresses(['127.20.0.6/30']), ['127.20.0.4', '127.20.0.5', '127.20.0.6', '127.20.0.7'], 'CIDR with host bits set is the block');
  t.same(await addresses(['127.20.0.8-10']), ['127.20.0.8', '127.20.0.9', '127.20.0.10'], 'last-octet range');
  t.same(await addresses(['127.20.0.254-127.20.1.1']), ['127.20.0.254', '127.20.0.255', '127.20.1.0', '127.20.1.1'], 'full range');
  t.same(await addresses(['127.20.0.5', '127.20.0.4/30']), ['127.20.0.5', '127.20.0.4', '127.20.0.6', '127.20.0.7'], 'duplicates scanned once');
  t.same(await addresses(['localhost']), ['127.0.0.1'], 'hostname resolved');
  const [h] = await (async () => { const o = []; for await (const x of expandTargets([parseTargetSpec('localhost')])) o.push(x); return o; })();
  t.equal(h.hostname, 'localhost', 'the name is kept for the certificate check');
  t.same(await addresses(['::1']), ['::1'], 'IPv6 address');
  for (const bad of ['127.20.0.300', '127.20.0.0/33', '127.20.0.9-5', '10.0.0.0/7', 'not a host!', '-rf', '1.2.3.4-300', '']) rejects(t, () => parseTargetSpec(bad), JSON.stringify(bad));
});

t.test('files: plain list, nmap -oG, masscan -oL and -oG', async (t) => {
  const dir = tempDir(t);
  const plain = join(dir, 'list.txt');
  writeFileSync(plain, '# ward 3\n127.20.0.1\n127.20.0.2, 127.20.0.3  # CT\n\n127.20.0.8/31\n');
  t.same(await addresses([plain]), ['127.20.0.1', '127.20.0.2', '127.20.0.3', '127.20.0.8', '127.20.0.9']);
  const gnmap = [
    '# Nmap 7.93 scan initiated Thu Nov 26 03:00:00 2026 as: nmap -p 104,11112 -oG - 127.20.0.0/24',
    'Host: 127.20.0.10 ()\tStatus: Up',
    'Host: 127.20.0.10 ()\tPorts: 104/closed/tcp//acr-nema///, 11112/open/tcp//dicom///\tIgnored State: closed (998)',
    'Host: 127.20.0.11 ()\tStatus: Up',
    'Host: 127.20.0.11 ()\tPorts: 104/open/tcp//acr-nema///, 2762/open/tcp//dicom-tls///',
    'Host: 127.20.0.12 ()\tPorts: 104/filtered/tcp//acr-nema///',
    '# Nmap done at Thu Nov 26 03:00:05 2026 -- 256 IP addresses (3 hosts up) scanned in 5.00 seconds',
  ].join('\n');
  const specs = parseTargetsFile(gnmap);
  t.same(specs.map((s) => [s.text, s.ports]), [['127.20.0.10', [11112]], ['127.20.0.11', [104, 2762]]], 'only open ports; hosts without open ports dropped');
  const masscan = ['#masscan', 'open tcp 2575 127.20.0.30 1764126000', 'open tcp 104 127.20.0.30 1764126001', 'open tcp 11112 127.20.0.31 1764126002', '# end'].join('\n');
  t.same(parseTargetsFile(masscan).map((s) => [s.text, s.ports]), [['127.20.0.30', [104, 2575]], ['127.20.0.31', [11112]]], 'masscan -oL merged per host');
  const masscanG = 'Host: 127.20.0.40 ()\tPorts: 2575/open/tcp////\n';
  t.same(parseTargetsFile(masscanG).map((s) => s.ports), [[2575]], 'masscan -oG');
  try {
    parseTargetsFile('127.20.0.1\nct_1!\n', 'x.txt');
    t.fail('bad line accepted');
  } catch (err) {
    t.match((err as Error).message, /x\.txt line 2/, 'a bad line is named by file and line');
  }
  const f = join(dir, 'scan.gnmap');
  writeFileSync(f, gnmap);
  const got = [];
  for await (const x of expandTargets(parseTargetArgs([`@${f}`]))) got.push(x);
  t.same(got, [{ address: '127.20.0.10', ports: [11112] }, { address: '127.20.0.11', ports: [104, 2762] }], '@file carries ports to the scanner');
});

t.test('--exclude', async (t) => {
  const exclude = new ExcludeList(parseTargetArgs(['127.20.0.2', '127.20.0.8/30', 'localhost']));
  t.same(await addresses(['127.20.0.0/28'], { exclude }), ['127.20.0.0', '127.20.0.1', '127.20.0.3', '127.20.0.4', '127.20.0.5', '127.20.0.6', '127.20.0.7', '127.20.0.12', '127.20.0.13', '127.20.0.14', '127.20.0.15']);
  t.same(await addresses(['localhost'], { exclude }), [], 'excluded by name');
});

t.test('--shard I/N splits without overlap or gap', async (t) => {
  const all = await addresses(['127.20.0.0/24']);
  const parts = await Promise.all([1, 2, 3].map((i) => addresses(['127.20.0.0/24'], { shard: { index: i, count: 3 } })));
  t.same(parts.flat().sort(), [...all].sort(), 'union is everything');
  t.equal(new Set(parts.flat()).size, all.length, 'no address twice');
  t.ok(Math.max(...parts.map((p) => p.length)) - Math.min(...parts.map((p) => p.length)) <= 1, 'even sizes');
  t.same(parseShard('2/4'), { index: 2, count: 4 });
  for (const bad of ['0/4', '5/4', '1', 'a/b', '1/0']) rejects(t, () => parseShard(bad), bad);
});

t.test('ports', async (t) => {
  t.same(parsePorts('104,2575, 11112-11114'), [104, 2575, 11112, 11113, 11114]);
  for (const p of [104, 2575, 2761, 2762, 4242, 6661, 11112]) t.ok(DEFAULT_PORTS.includes(p), `default ports include ${p}`);
  for (const bad of ['0', '70000', '5-3', 'x', '']) rejects(t, () => parsePorts(bad), bad);
});

t.test('a hostname is scanned at every address it resolves to', async (t) => {
  const answers: Record<string, string[]> = {
    'pacs.ward3.test': ['127.43.21.10', '::1', '127.43.21.11', '127.43.21.10', '::FFFF:127.43.21.11', '0:0:0:0:0:0:0:1'],
    'ct.ward3.test': ['127.43.21.12'],
  };
  const asked: string[] = [];
  const resolve = async (name: string) => {
    asked.push(name);
    return (answers[name.toLowerCase()] ?? []).map((address) => ({ address }));
  };
  const expand = async (words: string[], opts: Parameters<typeof expandTargets>[1] = {}) => {
    const out = [];
    for await (const target of expandTargets(parseTargetArgs(words), { resolve, ...opts })) out.push(target);
    return out;
  };
  t.same(await expand(['pacs.ward3.test']), [
    { address: '127.43.21.10', hostname: 'pacs.ward3.test' },
    { address: '::1', hostname: 'pacs.ward3.test' },
    { address: '127.43.21.11', hostname: 'pacs.ward3.test' },
  ], 'IPv4 and IPv6, each address once (mapped and long IPv6 spellings are the same device)');
  t.same(asked, ['pacs.ward3.test'], 'resolved once');
  t.same((await expand(['PACS.ward3.test', 'pacs.ward3.test'])).length, 3, 'the same name twice: still each address once');
  t.same((await expand(['127.43.21.10', 'pacs.ward3.test'])).map((x) => [x.address, x.hostname]), [
    ['127.43.21.10', undefined], ['127.43.21.10', 'pacs.ward3.test'], ['::1', 'pacs.ward3.test'], ['127.43.21.11', 'pacs.ward3.test'],
  ], 'by address and by name stay two targets (the certificate name check differs)');
  const exclude = new ExcludeList(parseTargetArgs(['127.43.21.11', '::1']));
  t.same((await expand(['pacs.ward3.test'], { exclude })).map((x) => x.address), ['127.43.21.10'], 'excluded addresses of the name are still skipped');
  t.same(await expand(['pacs.ward3.test'], { exclude: new ExcludeList(parseTargetArgs(['pacs.ward3.test'])) }), [], 'an excluded name skips all its addresses');
  // Sharding: the name is one unit, so machines whose resolvers order the answers differently
  // still split without overlap.
  const parts = await Promise.all([1, 2].map((i) => expand(['ct.ward3.test', 'pacs.ward3.test'], { shard: { index: i, count: 2 } })));
  t.same(parts.map((p) => p.map((x) => x.address)), [['127.43.21.12'], ['127.43.21.10', '::1', '127.43.21.11']], 'all addresses of a name in one shard');
  try {
    await expand(['nowhere.ward3.test']);
    t.fail('a name without addresses accepted');
  } catch (err) {
    t.ok(isWardgateError(err, 'SCAN_TARGET_INVALID'), `no addresses: ${(err as Error).message}`);
  }
});

t.test('total target size is capped (--max-hosts)', async (t) => {
  const specs = parseTargetArgs(['10.0.0.0/8', '11.0.0.0/8', '12.0.0.0/8']);
  t.equal(countHosts(specs), 3 * 2 ** 24, 'three /8 blocks: each allowed alone');
  try {
    checkHostCount(specs, DEFAULT_MAX_HOSTS);
    t.fail('50 million addresses accepted');
  } catch (err) {
    t.ok(isWardgateError(err, 'SCAN_TARGET_INVALID'), 'SCAN_TARGET_INVALID');
    t.match((err as Error).message, /50331648 addresses.*65536 allowed.*--max-hosts/, `names the count and the way out: ${(err as Error).message}`);
  }
  t.equal(DEFAULT_MAX_HOSTS, 65536);
  t.equal(checkHostCount(parseTargetArgs(['10.1.0.0/16']), DEFAULT_MAX_HOSTS), 65536, 'a /16 is within the default');
  t.throws(() => checkHostCount(parseTargetArgs(['10.1.0.0/16', '10.2.0.1']), DEFAULT_MAX_HOSTS), /65537 addresses/, 'one more is not');
  t.equal(checkHostCount(specs, 3 * 2 ** 24), 3 * 2 ** 24, 'raised limit');
  t.equal(checkHostCount(parseTargetArgs(['10.0.0.0/14']), DEFAULT_MAX_HOSTS, { index: 1, count: 4 }), 65536, 'with --shard the share of this machine counts');
  t.throws(() => checkHostCount(parseTargetArgs(['10.0.0.0/14']), DEFAULT_MAX_HOSTS, { index: 1, count: 3 }), /87382 addresses in shard 1\/3/);
});
