/** `wardgate proxy ...` for the bench until src/cli/main.ts registers the command (then use bin/wardgate.js). */
import { Command } from 'commander';
import { reportError } from '../../src/cli/common.ts';
import { register } from '../../src/cli/proxy.ts';

const program = new Command('wardgate').exitOverride();
register(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = reportError(err);
}
