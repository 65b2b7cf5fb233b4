import { spawn } from 'node:child_process';
import { withoutSecrets } from '../../config/secret-env.ts';
import type { Phase } from './exchange.ts';

/** What the client under test is told about the test CA, as placeholders and environment variables. */
export interface ClientContext {
  directoryUrl: string;
  rootPemPath: string;
  /** RFC 7030 cacerts URL on the plain-HTTP distribution listener. */
  cacertsUrl: string;
  http01Port: number;
  tlsAlpn01Port: number;
  deviceAddress: string;
  deviceName: string;
  stateDir: string;
  phase: Phase;
  dnsResolver?: string;
  dnsManagementUrl?: string;
  eab?: { kid: string; hmacKey: string };
}

/** Placeholder -> value; `{name}` in any argument of the command is replaced (see CLI help). */
export function placeholders(c: ClientContext): Record<string, string> {
  return {
    directory: c.directoryUrl, root: c.rootPemPath, cacerts: c.cacertsUrl, http01Port: String(c.http01Port), tlsAlpn01Port: String(c.tlsAlpn01Port),
    deviceIp: c.deviceAddress, name: c.deviceName, stateDir: c.stateDir, phase: c.phase,
    dnsResolver: c.dnsResolver ?? '', dnsManagement: c.dnsManagementUrl ?? '', eabKid: c.eab?.kid ?? '', eabHmac: c.eab?.hmacKey ?? '',
  };
}

/**
 * The environment of the client command: the usual trust-store variables of the common stacks point
 * at the test CA's root (OpenSSL/Python requests/Go/lego/Node), and WARDGATE_* name everything else.
 * The client under test is a vendor's program: it gets none of the operator's secrets (secret-env.ts).
 */
export function clientEnv(c: ClientContext, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const p = placeholders(c);
  return {
    ...withoutSecrets(base),
    WARDGATE_ACME_DIRECTORY: p.directory, WARDGATE_CA_ROOT: p.root, WARDGATE_CACERTS_URL: p.cacerts, WARDGATE_HTTP01_PORT: p.http01Port, WARDGATE_TLSALPN01_PORT: p.tlsAlpn01Port,
    WARDGATE_DEVICE_IP: p.deviceIp, WARDGATE_DEVICE_NAME: p.name, WARDGATE_STATE_DIR: p.stateDir, WARDGATE_CONFORMANCE_PHASE: p.phase,
    ...(c.dnsResolver ? { WARDGATE_DNS_RESOLVER: p.dnsResolver, WARDGATE_DNS_MANAGEMENT: p.dnsManagement } : {}),
    ...(c.eab ? { WARDGATE_EAB_KID: p.eabKid, WARDGATE_EAB_HMAC: p.eabHmac } : {}),
    SSL_CERT_FILE: p.root, REQUESTS_CA_BUNDLE: p.root, LEGO_CA_CERTIFICATES: p.root, NODE_EXTRA_CA_CERTS: p.root, CURL_CA_BUNDLE: p.root,
  };
}

export function substitute(argv: string[], values: Record<string, string>): string[] {
  return argv.map((a) => a.replace(/\{([A-Za-z0-9]+)\}/g, (m, k: string) => values[k] ?? m));
}

/** `timedOut`: the kit killed the client's group at `timeoutMs` (a hung client), so `signal` is the kit's. */
export interface CommandResult { exitCode: number | null; signal?: string; timedOut?: boolean; ms: number; outputTail: string }

const TAIL_BYTES = 4000;
/** How long output pipes may stay open after the client itself exited before the kit stops reading them. */
const PIPE_GRACE_MS = 2000;

/**
 * Runs the client once, asynchronously (the test CA serves from this very process), killing it after
 * `timeoutMs`. Never throws for a failing client: its exit status is evidence.
 *
 * The client runs in a process group of its own (detached), and the whole group is killed at the
 * timeout and once the client exits: a wrapper script's children, or a challenge responder the client
 * left behind, must not outlive the run (holding a port the next phase needs) nor hold the output pipes
 * open, which would keep the kit waiting for ever. A descendant that left the group (setsid) is no
 * longer waited for PIPE_GRACE_MS after the client exited.
 */
export function runClient(argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number, cwd?: string, echo?: (chunk: Buffer) => void): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    let out = '';
    const keep = (d: Buffer) => {
      out = (out + d.toString()).slice(-TAIL_BYTES);
      echo?.(d);
    };
    const child = spawn(argv[0], argv.slice(1), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch { /* the group is gone already */ }
    };
    // The kit ending (an error, process.exit) takes the client's group with it. Its own group does not
    // get the terminal's Ctrl-C, so a SIGINT/SIGTERM to the kit ends the client's group too, and is then
    // raised again for the kit (Node's default: exit).
    process.once('exit', killGroup);
    const onSignal = (signal: NodeJS.Signals) => {
      killGroup();
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      process.kill(process.pid, signal);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      out += `\n[conformance kit: killed after ${timeoutMs} ms]`;
      killGroup();
    }, timeoutMs);
    let grace: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (exitCode: number | null, signal: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(grace);
      process.removeListener('exit', killGroup);
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ exitCode, ...(signal ? { signal } : {}), ...(timedOut ? { timedOut } : {}), ms: Date.now() - started, outputTail: out.slice(-TAIL_BYTES) });
    };
    child.once('error', (e) => {
      out += `\n[conformance kit: cannot start ${argv[0]}: ${e.message}]`;
      finish(null, null);
    });
    child.once('exit', (code, signal) => {
      killGroup();
      grace = setTimeout(() => {
        out += `\n[conformance kit: output pipes still open ${PIPE_GRACE_MS} ms after the client exited; stopped reading]`;
        finish(code, signal);
      }, PIPE_GRACE_MS);
    });
    child.once('close', (code, signal) => finish(code, signal));
  });
}
