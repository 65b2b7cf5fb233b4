/**
 * Text a product controls reaches the conformance report and the terminal: a client's output becomes
 * evidence ("Last output: ...") and --verbose echoes it. JSON.stringify escapes C0 controls but not
 * C1 (U+0080-U+009F, e.g. U+009B CSI), DEL or bidirectional overrides, so a report viewed with `cat`
 * could drive the terminal. Here a real client command prints such text and the report, the --record
 * file and the --verbose echo must carry it escaped.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { reportHtml, reportJson, runAcmeClient } from '../../src/conformance/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { cliCommand } from './fixtures/acme-kit.ts';

/** Characters a terminal acts on: C0 but tab/newline, DEL, C1, and bidirectional or line-separator marks. */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** OSC window title, C1 CSI "2J" (clear screen), DEL, RIGHT-TO-LEFT OVERRIDE; written by printf as raw bytes. */
const HOSTILE_PRINTF = String.raw`printf 'hostile \033]0;pwned\007 \302\2332J \177 \342\200\256gpj.exe\n'; exit 1`;

t.test('a client\'s hostile output is escaped in the JSON and HTML report, and kept intact in meaning', async (t) => {
  const { report } = await runAcmeClient({
    command: ['sh', '-c', HOSTILE_PRINTF], claims: [], phases: ['enroll'], timeoutMs: 20_000,
    serverAddress: '127.30.1.20', deviceAddress: '127.30.1.21', workDir: tempDir(t, 'wardgate-kit-'),
  });
  const row = report.rows.find((r) => r.check === 'acme-client:challenge-support');
  t.match(row?.evidence, /Last output: hostile \u001b\]0;pwned\u0007 \u009b2J \u007f \u202egpj\.exe/, 'the output is evidence, as the client wrote it');
  const json = reportJson(report);
  t.notMatch(json, UNSAFE, 'no raw control or bidi character in the JSON text');
  t.match(json, /\\u009b2J/, 'C1 CSI as a JSON escape');
  t.match(json, /\\u202egpj/, 'RLO as a JSON escape');
  t.same(JSON.parse(json), JSON.parse(JSON.stringify(report)), 'the JSON still parses to the same report');
  const html = reportHtml(report);
  t.notMatch(html, UNSAFE, 'no raw control or bidi character in the HTML');
  t.match(html, /hostile \\x1b\]0;pwned\\x07 \\x9b2J \\x7f \\u202egpj\.exe/, 'shown as visible escapes');
});

t.test('--verbose echoes the client output escaped, line by line; --record and the report are escaped too', async (t) => {
  const dir = tempDir(t);
  const record = join(dir, 'record.json');
  const r = spawnSync(cliCommand()[0], [...cliCommand().slice(1), 'conformance', 'acme-client', '--verbose', '--phases', 'enroll',
    '--server-address', '127.30.1.22', '--device-address', '127.30.1.23', '--timeout', '20000', '--record', record, '--', 'sh', '-c', HOSTILE_PRINTF],
  { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, `exit 0: every row is inconclusive, none failed (${r.stderr.slice(-300)})`);
  t.notMatch(r.stderr, UNSAFE, 'no raw control or bidi character on stderr');
  t.match(r.stderr, /\nhostile \\x1b\]0;pwned\\x07 \\x9b2J \\x7f \\u202egpj\.exe\n/, 'the echo is escaped and keeps its line break');
  t.notMatch(r.stdout, UNSAFE, 'the JSON report on stdout is escaped');
  const saved = readFileSync(record, 'utf8');
  t.notMatch(saved, UNSAFE, 'the --record file is escaped');
  t.match((JSON.parse(saved) as { commands: Array<{ outputTail: string }> }).commands[0].outputTail, /\u009b2J/, 'and parses to the output as written');
});
