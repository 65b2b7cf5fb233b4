/** The `wardgate` command tree, built without parsing anything: bin/wardgate.js runs it, and the doc tests read it. */
import { Command } from 'commander';
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

export function buildProgram(): Command {
  const program = new Command('wardgate')
    .description('private ACME CA, TLS gateway, scanner and fuzzer for hospital networks (DICOM, HL7)')
    .version('0.1.0')
    .exitOverride()
    // Usage errors found by commander (unknown option, missing value, bad choice) get the same one-line
    // `wardgate: error [CODE]: ...` form as every other error (docs/errors.md), so scripts match one pattern.
    .configureOutput({
      outputError: (text, write) => write(`wardgate: error [CLI_ARGUMENT]: ${text.trim().replace(/^error: /, '')} (run with --help for usage)\n`),
    });
  for (const register of [init, issue, revoke, crl, list, ca, backup, audit, devCerts, serve, dev, eab, renewEarly, conformance, proxy, scan, fuzz]) register(program);
  return program;
}
