import t from 'tap';
import { ExcludeList, expandTargets, parseShard, parseTargetArgs, parseTargetSpec, parseTargetsFile } from '../../src/scan/targets.ts';
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
