/**
 * The commands an admin copies from README.md, docs/ and the `--help` examples must exist with that
 * spelling and take the flags shown: every `wardgate ...` line of a code block or inline code span is
 * walked through the real command tree (src/cli/program.ts) without running anything.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.ts';

const root = join(import.meta.dirname, '..', '..');
const docFiles = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f)), join('docs', 'ihe-profile', 'README.md')];

/** Shell-like words: quotes group, `\`-newline continues. */
function words(line: string): string[] {
  return [...line.replace(/\\\n\s*/g, ' ').matchAll(/'[^']*'|"[^"]*"|\S+/g)].map((m) => m[0]);
}

/** `wardgate ...` command lines: from code blocks (continuations joined) and inline code spans. */
function commandLines(text: string): string[] {
  const out: string[] = [];
  const blocks = [...text.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].map((m) => m[1]);
  for (const block of blocks) {
    for (const line of block.replace(/\\\n\s*/g, ' ').split('\n')) {
      const at = line.search(/(^|\s)wardgate\s/);
      if (at >= 0 && !/^\s*#/.test(line)) out.push(line.slice(at).trim().replace(/\s+#.*$/, ''));
    }
  }
  const prose = text.replace(/```[a-z]*\n[\s\S]*?```/g, '');
  for (const m of prose.matchAll(/`((?:npx )?wardgate [^`]+)`/g)) out.push(m[1].replace(/^npx /, ''));
  return out;
}

function helpExamples(cmd: Command, path: string[] = []): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let help = '';
  cmd.configureOutput({ writeOut: (s) => { help += s; }, writeErr: () => undefined });
  cmd.outputHelp();
  for (const line of commandLines('```\n' + help.split('\n').filter((l) => /^\s+wardgate\s/.test(l) || /\\$/.test(l) || /^\s{4,}\S/.test(l)).join('\n') + '\n```')) {
    out.push([`wardgate ${[...path, '--help'].join(' ')}`, line]);
  }
  for (const sub of cmd.commands) out.push(...helpExamples(sub, [...path, sub.name()]));
  return out;
}

/** What is wrong with one command line, or undefined. */
function check(program: Command, line: string): string | undefined {
  const argv = words(line).slice(1).map((w) => w.replace(/^\[|\]$/g, ''));
  let cmd = program;
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i];
    if (word.startsWith('-')) break;
    const names = word.split('|');
    const subs = names.map((n) => cmd.commands.find((c) => c.name() === n || c.aliases().includes(n)));
    if (subs.every(Boolean)) { cmd = subs[0]!; continue; }
    if (cmd === program) return `no command "${word}"`;
    break;
  }
  for (const word of argv.slice(i)) {
    if (word === '--') break;
    if (!/^--?[A-Za-z]/.test(word) || /[*<>{}|]/.test(word.split('=')[0])) continue;
    const flag = word.split('=')[0];
    if (flag === '--help' || flag === '-h') continue;
    const known = cmd.options.some((o) => o.long === flag || o.short === flag || (o.negate && o.long === flag));
    if (!known) return `"wardgate ${cmd.name()}" has no option ${flag}`;
  }
  return undefined;
}

t.test('documented commands and flags exist', async (t) => {
  const program = buildProgram();
  const lines: Array<[string, string]> = [];
  for (const f of docFiles) for (const line of commandLines(readFileSync(join(root, f), 'utf8'))) lines.push([f, line]);
  lines.push(...helpExamples(program));
  t.ok(lines.length > 60, `${lines.length} command lines found`);
  const wrong = lines.map(([where, line]) => [where, line, check(program, line)]).filter(([, , problem]) => problem);
  t.same(wrong, [], 'commands or flags the CLI does not have');
});

t.test('an --acme example names the ACME server trust anchor', async (t) => {
  // Without --acme-ca the route trusts only public roots: enrollment against a wardgate CA retries for
  // minutes and fails (README's example did that).
  const program = buildProgram();
  const lines = [...docFiles.flatMap((f) => commandLines(readFileSync(join(root, f), 'utf8'))), ...helpExamples(program).map(([, l]) => l)];
  const acme = lines.filter((l) => /^wardgate proxy (inbound|outbound)\b/.test(l) && /--acme\s+(https|CA_URL)/.test(l));
  t.ok(acme.length >= 3, `${acme.length} examples`);
  t.same(acme.filter((l) => !l.includes('--acme-ca')), []);
});
