import { Command, CommanderError } from 'commander';
import { reportError } from './common.ts';
import { register as init } from './init.ts';
import { register as issue } from './issue.ts';
import { register as revoke } from './revoke.ts';
import { register as crl } from './crl.ts';
import { register as list } from './list.ts';
import { register as ca } from './ca.ts';
import { register as backup } from './backup.ts';
import { register as audit } from './audit.ts';
import { register as devCerts } from './dev-certs.ts';
import { register as serve } from './serve.ts';
import { register as dev } from './dev.ts';
import { register as eab } from './eab.ts';
import { register as renewEarly } from './renew-early.ts';
import { register as conformance } from './conformance.ts';
import { register as proxy } from './proxy.ts';
import { register as scan } from './scan.ts';
import { register as fuzz } from './fuzz.ts';

// `wardgate ... | head` closes stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command('wardgate')
  .description('private ACME CA, TLS gateway, scanner and fuzzer for hospital networks (DICOM, HL7)')
  .version('0.1.0')
  .exitOverride()
  .showHelpAfterError('(run with --help for usage)');

for (const register of [init, issue, revoke, crl, list, ca, backup, audit, devCerts, serve, dev, eab, renewEarly, conformance, proxy, scan, fuzz]) register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has printed its message (or help/version) already.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.exitCode = reportError(err);
  }
}
