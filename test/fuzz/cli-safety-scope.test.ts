/**
 * Attacks on the --lab gate (issue 6): every spelling of an address that reaches a host other than
 * this one is refused before any socket connects, on `fuzz` and on `fuzz replay` (whose target comes
 * from a file someone else wrote). The CLI runs in this process so net.Socket.connect can be watched.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildProgram } from '../../src/cli/program.ts';
import { REPRODUCER_FORMAT } from '../../src/fuzz/findings.ts';
import { prepareTarget } from '../../src/fuzz/setup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { recordConnects } from '../helpers/connect-guard.ts';

/** Records every connect; one to anything but 127.61/16 fails at once instead of leaving the host. */
const watchConnects = (t: Test): string[] => recordConnects(t, (host) => host.startsWith('127.61.'));

async function cli(args: string[]): Promise<unknown> {
  try {
    await buildProgram().parseAsync(['node', 'wardgate', ...args]);
    return undefined;
  } catch (err) {
    return err;
  }
}

t.test('spellings of non-loopback hosts are refused without --lab, before any connection', async (t) => {
  const hosts = watchConnects(t);
  const targets = [
    '10.0.0.1:104',
    '[::ffff:10.0.0.1]:104', // IPv4-mapped LAN address
    '[::ffff:a00:1]:104', // the same, hex form
    '[::10.0.0.1]:104', // IPv4-compatible (deprecated) form
    '0.0.0.0:104', // "this host" on Linux, any interface elsewhere: not provably loopback
    '[::]:104',
    '2130706433:104', // decimal 127.0.0.1: Node connects there, but the check refuses names it cannot read
    '0x7f000001:104',
    '017700000001:104',
    '127.1:104',
    '127.0.0.1.:104', // trailing dot: a DNS name, not the address
    'localhost.:104', // the absolute name goes to DNS, not /etc/hosts
    'localhost.hospital.lan:104',
    '127.0.0.1.nip.io:104', // a name that looks like loopback
    '[fe80::1]:104',
  ];
  for (const target of targets) {
    const err = await cli(['fuzz', '--target', target, '--protocol', 'dicom', '--duration', '1s', '--out', tempDir(t)]);
    t.match(err, { code: 'FUZZ_TARGET_REFUSED', message: /not on loopback.*--lab/ }, `${target}: refused`);
  }
  t.same(hosts, [], 'no socket connected for any of them');
});

t.test('loopback spellings pass the gate (without --lab)', async (t) => {
  for (const target of ['127.61.0.1:104', '[::ffff:127.61.0.1]:104', '[::ffff:7f3d:1]:104', '[::1]:104', 'localhost:104', 'LOCALHOST:104']) {
    t.doesNotThrow(() => prepareTarget({ target, protocol: 'hl7' }), target);
  }
});

function reproducer(dir: string, address: string, extra: Record<string, unknown> = {}): string {
  const file = join(dir, 'exit-dicom-0000abcd.json');
  writeFileSync(file, JSON.stringify({
    format: REPRODUCER_FORMAT, id: 'exit-dicom-0000abcd', oracle: 'exit', protocol: 'dicom', location: 'x', detail: 'y', seed: 1, exec: 0,
    target: { kind: 'address', protocol: 'dicom', address, tls: false }, minimized: true,
    exchanges: [{ protocol: 'dicom', side: 'client', label: 'l', chunks: ['0100'] }], ...extra,
  }));
  return file;
}

t.test('replay: a reproducer whose target is a LAN address is refused without --lab, before any connection', async (t) => {
  const hosts = watchConnects(t);
  const dir = tempDir(t);
  for (const address of ['10.0.0.1:104', '192.168.5.5:11112', 'pacs.example:104', '2130706433:104']) {
    const err = await cli(['fuzz', 'replay', reproducer(dir, address)]);
    t.match(err, { code: 'FUZZ_TARGET_REFUSED' }, `${address}: refused`);
  }
  // A spawn command in the file is never run, and its address is gated too when --spawn is repeated.
  const spawned = reproducer(dir, '10.0.0.1:104', { target: { kind: 'spawn', protocol: 'dicom', address: '10.0.0.1:104', command: 'touch /tmp/pwned' } });
  t.match(await cli(['fuzz', 'replay', spawned]), { code: 'CLI_ARGUMENT', message: /does not run commands taken from a reproducer/ });
  t.match(await cli(['fuzz', 'replay', spawned, '--spawn', 'true']), { code: 'FUZZ_TARGET_REFUSED' });
  t.same(hosts, [], 'no socket connected');
});

t.test('replay: --lab on the command line lets the reproducer\'s target through (and only then is it contacted)', async (t) => {
  const hosts = watchConnects(t);
  const err = await cli(['fuzz', 'replay', reproducer(tempDir(t), '10.0.0.1:104'), '--lab']);
  t.match(err, { code: 'FUZZ_TARGET_FAILED' }, 'the gate passed; the guard refused the connection');
  t.ok(hosts.length > 0 && hosts.every((h) => h === '10.0.0.1'), 'only the named lab host was tried (and the guard stopped it)');
});
