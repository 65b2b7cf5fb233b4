/**
 * README.md and docs/errors.md promise one error format: `wardgate: error [CODE]: ...` on one line,
 * exit 2 for CLI_ARGUMENT. Usage errors that commander finds before any wardgate code runs (unknown
 * option, missing required option, bad choice, unknown command) must follow it too.
 */
import t from 'tap';
import { wardgate } from '../helpers/cli.ts';

const cases: Array<[string, string[], RegExp]> = [
  ['bad choice', ['scan', '127.58.0.5', '--format', 'xml'], /option '--format <format>' argument 'xml' is invalid/],
  ['missing required option', ['init', '-d', 'unused'], /required option '--name <name>' not specified/],
  ['unknown option', ['list', '--bogus'], /unknown option '--bogus'/],
  ['unknown command', ['bogus'], /unknown command 'bogus'/],
  ['missing argument', ['scan'], /missing required argument 'target'/],
  ['nested command', ['proxy', 'inbound', '--listen', '127.58.0.5:1'], /required option '--protocol <protocol>' not specified/],
];

for (const [label, args, message] of cases) {
  t.test(label, async (t) => {
    const r = wardgate(args);
    t.equal(r.status, 2, 'usage errors exit 2');
    t.equal(r.stdout, '');
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    t.equal(lines.length, 1, `one line: ${JSON.stringify(r.stderr)}`);
    t.match(lines[0], /^wardgate: error \[CLI_ARGUMENT\]: /);
    t.match(lines[0], message);
  });
}

t.test('help and version are not errors', async (t) => {
  const help = wardgate(['scan', '--help']);
  t.equal(help.status, 0);
  t.match(help.stdout, /Usage: wardgate scan/);
  t.equal(wardgate(['--version']).stdout.trim(), '0.1.0');
});
