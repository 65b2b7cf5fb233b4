/**
 * The kit's test CA: a fresh wardgate CA in a scratch dir, the wardgate ACME server over HTTPS (its
 * certificate issued by that CA, exactly as `wardgate serve` does), the plain-HTTP distribution listener
 * (CRL, OCSP, trust anchors), and optionally pebble-challtestsrv as the DNS server names resolve through.
 * Every listener is instrumented (instrument.ts). The directory lives under a random path prefix, so a
 * client that builds URLs itself instead of following the directory hits 404s (RFC 8555 §7.1.1).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, delimiter } from 'node:path';
import { existsSync } from 'node:fs';
import type { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { AcmeContext } from '../../acme/context.ts';
import { buildDistributionServer } from '../../acme/distribution/index.ts';
import { createEabKey } from '../../acme/eab.ts';
import { issueServerCertificate } from '../../acme/server-certificate.ts';
import { buildAcmeContext, buildAcmeServer } from '../../acme/server.ts';
import { WardgateError } from '../../errors.ts';
import { CertificateAuthority } from '../../pki/ca.ts';
import type { Identifier } from '../../pki/names.ts';
import { DEFAULT_PROFILES_DIR } from '../../pki/profiles.ts';
import type { FaultPlan } from './fault-plan.ts';
import { instrumentAcme, instrumentDistribution } from './instrument.ts';
import { KitSession } from './session.ts';
import { freePort } from '../../net/free-port.ts';
import { withoutSecrets } from '../../config/secret-env.ts';


/** The profile every kit certificate is issued under: dicom-node with the plan's short lifetime. */
export const KIT_PROFILE = 'icm-conformance';

export interface TestCaOptions {
  workDir: string;
  /** Loopback address the ACME server, distribution listener and DNS server bind. */
  serverAddress: string;
  /** Address the device answers challenges on; every test DNS name resolves to it. */
  deviceAddress: string;
  /** DNS suffix the CA permits; the device name is `device.<suffix>`. */
  dnsSuffix: string;
  http01Port?: number;
  tlsAlpn01Port?: number;
  claims: string[];
  plan: FaultPlan;
}

export interface TestCa {
  session: KitSession;
  ca: CertificateAuthority;
  ctx: AcmeContext;
  directoryUrl: string;
  rootPemPath: string;
  distributionUrl: string;
  deviceName: string;
  http01Port: number;
  tlsAlpn01Port: number;
  /** Present when pebble-challtestsrv runs: ADDR:PORT of its DNS server and its management URL. */
  dns?: { resolver: string; managementUrl: string };
  eab?: { kid: string; hmacKey: string };
  /** Presents a certificate from a foreign CA until the returned function is called. */
  presentForeignCertificate(): Promise<() => void>;
  close(): Promise<void>;
}


export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** profiles/cert/ plus the kit's profile, so kit certificates are short-lived and renewals come quickly. */
function writeProfiles(dir: string, lifetime: string): void {
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(DEFAULT_PROFILES_DIR).filter((n) => n.endsWith('.json'))) copyFileSync(join(DEFAULT_PROFILES_DIR, f), join(dir, f));
  const base = JSON.parse(readFileSync(join(DEFAULT_PROFILES_DIR, 'dicom-node.json'), 'utf8'));
  writeFileSync(join(dir, `${KIT_PROFILE}.json`), JSON.stringify({
    ...base, name: KIT_PROFILE, lifetime,
    description: `ICM conformance kit: ${base.description} Lifetime ${lifetime} so that renewal is due at once.`,
  }, null, 2));
}

async function initCa(dir: string, profilesDir: string, dnsSuffix: string, name: string): Promise<CertificateAuthority> {
  return CertificateAuthority.init(dir, {
    name, policy: { permitDns: [dnsSuffix], permitIp: ['127.0.0.0/8'] },
    rootKeyType: 'ecdsa-p384', rsaKeyType: 'rsa-2048', passphrase: randomBytes(16).toString('base64url'), profilesDir,
  });
}

/** pebble-challtestsrv as the site DNS: A queries for every name answer `deviceAddress`; TXT via its API. */
async function startDns(host: string, deviceAddress: string): Promise<{ child: ChildProcess; resolver: string; managementUrl: string }> {
  // Free ports are picked, released and then bound by the child: another process can take one in
  // between (tests run in parallel), so a start that never becomes ready is retried on fresh ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDnsOnce(host, deviceAddress, 15_000);
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

async function startDnsOnce(host: string, deviceAddress: string, timeoutMs: number): Promise<{ child: ChildProcess; resolver: string; managementUrl: string }> {
  const dnsPort = await freePort(host);
  const mgmtPort = await freePort(host);
  const child = spawn('pebble-challtestsrv', [
    '-dns01', `${host}:${dnsPort}`, '-management', `${host}:${mgmtPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '',
    '-defaultIPv4', deviceAddress, '-defaultIPv6', '',
    // Another program, whose stderr is quoted in errors: it gets no passphrase (config/secret-env.ts).
  ], { stdio: ['ignore', 'ignore', 'pipe'], env: withoutSecrets() });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const managementUrl = `http://${host}:${mgmtPort}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new WardgateError('CONFORMANCE_UNAVAILABLE', `pebble-challtestsrv exited: ${stderr.trim()}`);
    try {
      const r = await fetch(`${managementUrl}/clear-txt`, { method: 'POST', body: JSON.stringify({ host: 'ready.invalid.' }), signal: AbortSignal.timeout(1000) });
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new WardgateError('CONFORMANCE_UNAVAILABLE', `pebble-challtestsrv did not start on ${host}: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, resolver: `${host}:${dnsPort}`, managementUrl };
}

export async function startTestCa(opts: TestCaOptions): Promise<TestCa> {
  const profilesDir = join(opts.workDir, 'profiles');
  writeProfiles(profilesDir, opts.plan.lifetime);
  const ca = await initCa(join(opts.workDir, 'ca'), profilesDir, opts.dnsSuffix, 'wardgate ICM conformance test CA');
  const closers: Array<() => Promise<void> | void> = [() => ca.close()];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    let dns: Awaited<ReturnType<typeof startDns>> | undefined;
    if (findOnPath('pebble-challtestsrv')) {
      dns = await startDns(opts.serverAddress, opts.deviceAddress);
      const child = dns.child;
      closers.push(() => { child.kill('SIGKILL'); });
    }
    const http01Port = opts.http01Port ?? await freePort(opts.deviceAddress);
    const tlsAlpn01Port = opts.tlsAlpn01Port ?? await freePort(opts.deviceAddress);
    const port = await freePort(opts.serverAddress);
    const prefix = `/icm-${randomBytes(6).toString('hex')}`;
    const origin = `https://${opts.serverAddress}:${port}`;
    const directoryUrl = `${origin}${prefix}/acme/directory`;
    const eabKey = opts.claims.includes('EAB') ? createEabKey(ca.store.acme, ca.meta.policy, { label: 'conformance kit' }) : undefined;
    const session = new KitSession(directoryUrl, opts.claims, opts.plan, eabKey?.kid);

    const distribution = await buildDistributionServer(ca);
    const distributionOrigin = await (async () => {
      instrumentDistribution(distribution, session);
      await distribution.listen({ host: opts.serverAddress, port: 0 });
      return `http://${opts.serverAddress}:${(distribution.server.address() as AddressInfo).port}`;
    })();
    closers.push(() => distribution.close());
    ca.setDistributionBaseUrl(distributionOrigin);

    const names: Identifier[] = [{ type: 'ip', value: opts.serverAddress }];
    const creds = await issueServerCertificate(ca, names);
    const ctx = buildAcmeContext(ca, {
      baseUrl: `${origin}${prefix}`, defaultProfile: KIT_PROFILE, externalAccountRequired: Boolean(eabKey),
      ariRetryAfterSeconds: opts.plan.ari.retryAfterSeconds,
      validation: { http01Port, tlsAlpn01Port, dnsResolvers: dns ? [dns.resolver] : [], timeoutMs: 5000, attempts: 2 },
    });
    const app: FastifyInstance = await buildAcmeServer(ctx, {
      https: { cert: creds.cert, key: creds.key, minVersion: 'TLSv1.2' },
      forceCloseConnections: true,
      // Only URLs under the random prefix reach the ACME routes; anything else is a 404 problem.
      rewriteUrl: (req) => (req.url?.startsWith(`${prefix}/`) ? req.url.slice(prefix.length) : `/outside-the-directory${req.url ?? ''}`),
    });
    instrumentAcme(app, session, ctx, origin);
    await app.listen({ host: opts.serverAddress, port });
    closers.push(() => app.close());

    const rootPemPath = ca.layout.rootCert;
    let foreign: { cert: string; key: string } | undefined;
    return {
      session, ca, ctx, directoryUrl, rootPemPath, distributionUrl: distributionOrigin, deviceName: `device.${opts.dnsSuffix}`,
      http01Port, tlsAlpn01Port, ...(dns ? { dns: { resolver: dns.resolver, managementUrl: dns.managementUrl } } : {}),
      ...(eabKey ? { eab: { kid: eabKey.kid, hmacKey: eabKey.hmacKey } } : {}),
      async presentForeignCertificate() {
        if (!foreign) {
          const other = await initCa(join(opts.workDir, 'foreign-ca'), profilesDir, opts.dnsSuffix, 'Foreign CA (not a hospital trust anchor)');
          try {
            foreign = await issueServerCertificate(other, names);
          } finally {
            other.close();
          }
        }
        const server = app.server as unknown as TlsServer;
        server.setSecureContext({ cert: foreign.cert, key: foreign.key, minVersion: 'TLSv1.2' });
        return () => server.setSecureContext({ cert: creds.cert, key: creds.key, minVersion: 'TLSv1.2' });
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
