/**
 * One route: a listener (TLS for inbound, plaintext for outbound) that admits connections under the
 * route's limits, authenticates TLS peers, and hands each connection to the DICOM or HL7 relay with an
 * upstream connector (plaintext for inbound, verified TLS with the gateway's client certificate for
 * outbound). Certificates can be swapped while running: new handshakes use the new ones, open
 * connections keep theirs (tls.Server#setSecureContext).
 */
import { type PeerCertificate, RevocationList, trustAnchors } from './revocation.ts';
import { VerifiedChains } from './verified-chains.ts';
import { constants } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { securityAlert } from '../audit/events.ts';
import type { Auditor } from '../audit/auditor.ts';
import { WardgateError } from '../errors.ts';
import { type Credentials, secondsUntilExpiry } from './credentials.ts';
import { relayDicom } from './dicom-relay.ts';
import { relayHl7 } from './hl7-relay.ts';
import { ConnectionLimiter } from '../net/connection-limiter.ts';
import type { Metrics } from './metrics.ts';
import { type PeerIdentity, normalizeAddress, plainPeer, subjectTextOf, tlsPeer } from './peer-identity.ts';
import { tcpSocketUnder } from '../net/tcp-under-tls.ts';
import { type HostPort, type RouteConfig, effectiveClientAuth, parseAddress } from './route-config.ts';
import type { SessionContext } from './session.ts';
import { DEFAULT_TLS_PROFILES_DIR, getTlsProfile, toTlsOptions } from './tls-profile.ts';
import { closeServer } from '../net/close-server.ts';
import { TICKET_KEY_ROTATION_MS, rotateTicketKeys } from '../net/ticket-keys.ts';

export interface RouteDeps {
  metrics: Metrics;
  auditor: Auditor;
  log: (message: string) => void;
  tlsProfilesDir?: string;
  /** Inbound: how often the session ticket key changes (src/net/ticket-keys.ts). */
  ticketKeyRotationMs?: number;
  /** The fuzzer's TLS-free harness (`wardgate fuzz --plaintext`); `wardgate proxy` never sets it. */
  withoutTls?: WithoutTls;
}

/**
 * For fuzzing the protocol handling alone (`wardgate fuzz --route --plaintext`): the route's TLS side
 * runs in plaintext, so the fuzzer's execs go to framing, parsing, policy and relaying instead of a
 * handshake each (a resumed TLS 1.3 connection costs Node ~1.3 ms of CPU for both ends, more than
 * everything else an exec does; bench/fuzz/README.md). Inbound connections get `peer`'s names as if
 * they were their verified client certificate's, so allow rules with peer names keep their meaning.
 * Not reachable from a gateway config: only the fuzz harness passes it, and what it leaves out (the
 * handshake, certificate checks, revocation) is then not exercised.
 */
export interface WithoutTls {
  peer: Pick<PeerIdentity, 'subjects' | 'sans'>;
}

function isIp(host: string): boolean {
  return net.isIP(host) !== 0;
}

/** How long stop() waits for sessions to write their last audit records after their connections closed. */
const SESSION_DRAIN_MS = 2000;

/** What an upstream's certificate is checked by after the handshake (revocation of its chain, expiry on resumption). */
interface UpstreamPeer { chain: PeerCertificate; validTo: string }

/**
 * The client's address for a refusal record. When Node itself has closed the TLS socket (a client chain that
 * did not verify, see tlsServer()), its handle and so its address are gone; the TCP socket it wrapped still
 * has the address admit() read; without it the record says "unknown", as before.
 */
function peerAddress(socket: tls.TLSSocket): string {
  return normalizeAddress(socket.remoteAddress ?? tcpSocketUnder(socket)?.remoteAddress);
}

/**
 * Why an established upstream TLS connection failed. A TLS 1.2 upstream that answers the no_renegotiation warning
 * (RFC 5746 §4.2) with a fatal handshake_failure alert has asked for a renegotiation the gateway refused: nothing
 * else sends a handshake alert after the handshake.
 */
function upstreamFailure(protocol: string | null, err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  const afterHelloRequest = protocol === 'TLSv1.2' && (code === 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' || code === 'ERR_SSL_NO_RENEGOTIATION');
  const detail = err.message.split('\n')[0];
  return afterHelloRequest ? `the upstream closed the connection after wardgate refused its TLS renegotiation request (${detail})` : detail;
}

export class Route {
  readonly listenAt: HostPort;
  readonly upstreamAt: HostPort;
  private server: net.Server | undefined;
  private readonly limiter: ConnectionLimiter;
  private readonly labels: { route: string };
  private readonly tlsOptions: ReturnType<typeof toTlsOptions>;
  private credentials: Credentials;
  private clientContext: tls.SecureContext | undefined;
  /**
   * The upstream's last TLS session (RFC 8446 §4.6.1 ticket, or a TLS 1.2 session, RFC 5077), offered
   * on the next upstream connection: a resumed handshake skips the certificate exchange and the
   * signature, so an association costs one key exchange instead of a full handshake. One route has
   * one upstream and one verified name; the cache is dropped with the client context whenever the
   * credentials (and so the trust) change, so a session is only ever offered to the upstream name
   * that issued it under the trust in force. Concurrent connections may offer the same ticket until
   * a newer one arrives: RFC 8446 §C.4 advises against that for the client's privacy (linkability),
   * which a gateway always connecting from the same address to the same upstream does not have.
   */
  private upstreamSession: Buffer | undefined;
  /**
   * The upstream certificate the cached session was verified with: a resumed handshake sends none, and
   * Node's client then reports an empty peer certificate, so expiry and the CRL are checked against this.
   */
  private upstreamSessionPeer: UpstreamPeer | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Upstream connections open, and sessions not yet closed (see stop()). */
  private readonly upstreams = new Set<net.Socket>();
  private openSessions = 0;
  private drained: (() => void) | undefined;
  private lastLimitLog = 0;
  private stopTicketRotation: (() => void) | undefined;

  private readonly revocation?: RevocationList;
  /** The trust bundle's fingerprints: a chain checked against tls.crl must end at one of them. */
  private readonly anchors: ReadonlySet<string>;
  /** Inbound: client chains from full handshakes, for their resumed sessions' revocation checks. */
  private readonly verifiedChains = new VerifiedChains();

  constructor(readonly config: RouteConfig, private readonly deps: RouteDeps, credentials: Credentials, private readonly trust: string) {
    if (config.tls.crl) this.revocation = new RevocationList(config.tls.crl, undefined, (m) => deps.log(`route ${config.name}: ${m}`));
    this.anchors = this.revocation ? trustAnchors(trust) : new Set();
    this.listenAt = parseAddress(config.listen, `route ${config.name} listen`);
    this.upstreamAt = parseAddress(config.upstream, `route ${config.name} upstream`);
    this.limiter = new ConnectionLimiter(config.limits.maxConnections, config.limits.maxConnectionsPerPeer);
    this.labels = { route: config.name };
    this.tlsOptions = toTlsOptions(getTlsProfile(config.tls.profile, deps.tlsProfilesDir ?? DEFAULT_TLS_PROFILES_DIR));
    this.credentials = credentials;
    deps.metrics.collect('wardgate_certificate_expiry_seconds', () =>
      this.credentials.pairs.map((_, i) => ({ labels: { route: config.name, index: String(i) }, value: secondsUntilExpiry(this.credentials)[i] })));
    deps.metrics.collect('wardgate_crl_next_update_seconds', () => {
      const seconds = this.revocation?.secondsUntilNextUpdate();
      return seconds === undefined ? [] : [{ labels: { route: config.name }, value: seconds }];
    });
  }

  /** The bound address (port resolved when 0 was asked for). */
  address(): HostPort {
    const a = this.server?.address() as net.AddressInfo | null;
    return a ? { host: a.address, port: a.port } : this.listenAt;
  }

  get activeConnections(): number {
    return this.limiter.active;
  }

  private serverContextOptions(): tls.SecureContextOptions {
    return {
      ...this.tlsOptions,
      // TLS 1.2 renegotiation (RFC 5746) lets a client present another certificate after the first
      // handshake: Node keeps `authorized` from the first while getPeerCertificate() returns the new one,
      // which the allow rules would then judge unverified and unchecked against the CRL. Devices never need it.
      secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
      cert: this.credentials.pairs.map((p) => p.cert),
      key: this.credentials.pairs.map((p) => p.key),
      ca: this.trust,
    };
  }

  /** Hot swap: new handshakes present `creds`; established connections are untouched. */
  updateCredentials(creds: Credentials): void {
    this.credentials = creds;
    this.clientContext = undefined;
    this.upstreamSession = undefined;
    this.upstreamSessionPeer = undefined;
    if (this.server instanceof tls.Server) this.server.setSecureContext(this.serverContextOptions());
  }

  async start(): Promise<HostPort> {
    const { config, deps } = this;
    const withoutTls = deps.withoutTls;
    const server = config.direction === 'outbound' ? net.createServer((socket) => this.onPlainConnection(socket))
      : withoutTls ? net.createServer((socket) => this.onHarnessConnection(socket, withoutTls))
        : this.tlsServer();
    // Prepended so that limits run before TLS (or the relay) touches the connection.
    server.prependListener('connection', (raw: net.Socket) => this.admit(raw));
    server.on('error', (err) => deps.log(`route ${config.name}: listener error: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(new WardgateError('PROXY_LISTEN_FAILED', `route ${config.name}: cannot listen on ${config.listen}: ${err.message}`, { cause: err }));
      server.once('error', onError);
      server.listen({ host: this.listenAt.host, port: this.listenAt.port, backlog: 2048 }, () => {
        server.removeListener('error', onError);
        resolve();
      });
    });
    this.server = server;
    if (server instanceof tls.Server) this.stopTicketRotation = rotateTicketKeys(server, deps.ticketKeyRotationMs ?? TICKET_KEY_ROTATION_MS);
    return this.address();
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.stopTicketRotation?.();
    await closeServer(server, this.sockets);
    // A session writes its last audit records (association closed, instances transferred) when both of
    // its connections have closed: close the upstream ones too and wait for that, so the gateway's
    // auditor is not closed under them (the records were lost with "write after end").
    for (const s of this.upstreams) s.destroy();
    if (this.openSessions > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, SESSION_DRAIN_MS);
        this.drained = () => { clearTimeout(timer); resolve(); };
      });
    }
  }

  /** Runs first for every TCP connection, before any TLS byte: per-route and per-peer limits. */
  private admit(raw: net.Socket): void {
    const peer = normalizeAddress(raw.remoteAddress);
    const slot = this.limiter.acquire(peer);
    if ('refused' in slot) {
      this.deps.metrics.inc('wardgate_denials_total', { ...this.labels, reason: 'limit' });
      raw.destroy();
      // A flood would flood the log too: one line per second per route, the metric counts them all.
      const now = Date.now();
      if (now - this.lastLimitLog >= 1000) {
        this.lastLimitLog = now;
        const err = new WardgateError('PROXY_LIMIT_EXCEEDED', slot.refused);
        this.deps.log(`route ${this.config.name}: ${err.code}: ${err.message}`);
      }
      return;
    }
    this.sockets.add(raw);
    raw.once('close', () => {
      slot.release();
      this.sockets.delete(raw);
    });
    raw.on('error', () => undefined);
  }

  private tlsServer(): tls.Server {
    const { config, deps } = this;
    const clientAuth = effectiveClientAuth(config);
    const server = tls.createServer({
      ...this.serverContextOptions(),
      requestCert: clientAuth !== 'none',
      // 'required': OpenSSL itself fails a handshake without a client certificate (SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
      // which Node sets only with rejectUnauthorized), so the client is told why: TLS 1.3 certificate_required
      // (RFC 8446 §4.4.2.4), TLS 1.2 handshake_failure, instead of a reset after a handshake that seemed to succeed.
      // A chain that does not verify still completes the handshake (Node's verify callback accepts every chain and
      // checks the result afterwards): Node then closes it and reports tlsClientError with authorizationError set,
      // audited below. 'optional' must accept no certificate, so it keeps Node's check off and refuses an
      // unverifiable certificate in onTlsConnection.
      rejectUnauthorized: clientAuth === 'required',
      handshakeTimeout: config.limits.handshakeTimeoutMs,
    });
    server.on('secureConnection', (socket) => this.onTlsConnection(socket, clientAuth));
    server.on('tlsClientError', (err, socket) => {
      // Before destroy(), which drops the handle the address is read from: audited as "unknown" otherwise.
      const address = peerAddress(socket);
      // With a listener attached Node leaves the socket open (handshake timeouts included): close it here.
      socket.destroy();
      deps.metrics.inc('wardgate_handshake_failures_total', this.labels);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return this.auditRefusal(address, 'TLS handshake failed: no client certificate presented', 'no client certificate presented');
      // Node closed a handshake whose client chain did not verify (rejectUnauthorized) and reports it as a hang-up.
      if (socket.authorizationError) {
        const reason = `client certificate rejected: ${String(socket.authorizationError)}`;
        return this.auditRefusal(address, `TLS handshake failed: ${reason}`, reason);
      }
      // ECONNRESET before any byte is a port probe or a client giving up, not an authentication event.
      if (code === 'ECONNRESET') return;
      deps.auditor.record(securityAlert(deps.auditor.identity, 'node-authentication', { userId: address, address }, `route ${config.name}: TLS handshake failed: ${err.message}`));
      deps.log(`route ${config.name}: TLS handshake with ${address} failed: ${err.message}`);
    });
    return server;
  }

  /** A client refused after its handshake: counted, audited as a node-authentication failure, logged, closed. */
  private refuseClient(socket: tls.TLSSocket, audited: string, logged: string): void {
    this.deps.metrics.inc('wardgate_handshake_failures_total', this.labels);
    this.auditRefusal(normalizeAddress(socket.remoteAddress), audited, logged);
    socket.destroy();
  }

  private auditRefusal(address: string, audited: string, logged: string): void {
    const { config, deps } = this;
    deps.auditor.record(securityAlert(deps.auditor.identity, 'node-authentication', { userId: address, address }, `route ${config.name}: ${audited}`));
    deps.log(`route ${config.name}: refused ${address}: ${logged}`);
  }

  private onTlsConnection(socket: tls.TLSSocket, clientAuth: string): void {
    // A resumed session skips verification: `authorized` is the result from the full handshake, up to a
    // ticket lifetime ago, so a certificate that has expired since would still be admitted.
    const resumed = socket.isSessionReused();
    if (socket.authorized && (this.revocation || resumed)) {
      // With its chain: a resumed session has the leaf only (the ticket does not keep the chain), so it is
      // checked against the chain its full handshake showed; without one, Node completes it from the
      // trust bundle where it can, and check() refuses it where it must.
      const peer = socket.getPeerCertificate(true);
      const chain = resumed && peer?.raw ? this.verifiedChains.recall(peer) ?? peer : peer;
      const refused = this.revocation && peer?.raw ? this.revocation.check(chain, this.anchors) : undefined;
      if (refused) return this.refuseClient(socket, `client ${refused}`, `client ${refused}`);
      if (this.revocation && !resumed && peer?.raw) this.verifiedChains.remember(peer);
      if (resumed && peer?.valid_to && Date.parse(peer.valid_to) < Date.now()) {
        return this.refuseClient(socket, `resumed TLS session refused: the client certificate expired ${peer.valid_to}`, `resumed session with a client certificate that expired ${peer.valid_to}`);
      }
    }
    if (clientAuth !== 'none' && !socket.authorized) {
      const presented = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
      // Optional means "no certificate is fine", never "an unverifiable certificate is fine".
      if (clientAuth === 'required' || presented) {
        const reason = presented ? `client certificate rejected: ${String(socket.authorizationError)}` : 'no client certificate presented';
        return this.refuseClient(socket, `TLS handshake failed: ${reason}`, reason);
      }
    }
    this.session(socket, tlsPeer(socket));
  }

  private onPlainConnection(socket: net.Socket): void {
    if (socket.destroyed) return; // refused by admit()
    this.session(socket, plainPeer(socket));
  }

  /** Inbound under the fuzz harness (WithoutTls): a plaintext client, named as the harness says. */
  private onHarnessConnection(socket: net.Socket, withoutTls: WithoutTls): void {
    if (socket.destroyed) return; // refused by admit()
    const names = withoutTls.peer;
    this.session(socket, { address: normalizeAddress(socket.remoteAddress), subjects: names.subjects, sans: names.sans, subjectText: subjectTextOf(names.subjects) });
  }

  private session(client: net.Socket, peer: PeerIdentity): void {
    const { config, deps } = this;
    client.setNoDelay(true);
    deps.metrics.inc('wardgate_connections_total', this.labels);
    deps.metrics.inc('wardgate_connections_active', this.labels);
    let closed = false;
    this.openSessions++;
    const ctx: SessionContext = {
      route: config,
      client,
      peer,
      connectUpstream: () => this.connectUpstream().then((socket) => {
        this.upstreams.add(socket);
        socket.once('close', () => this.upstreams.delete(socket));
        return socket;
      }),
      upstreamHost: this.upstreamAt.host,
      metrics: deps.metrics,
      auditor: deps.auditor,
      log: deps.log,
      onClose: () => {
        if (closed) return;
        closed = true;
        deps.metrics.dec('wardgate_connections_active', this.labels);
        if (--this.openSessions === 0) this.drained?.();
      },
    };
    try {
      if (config.protocol === 'dicom') relayDicom(ctx);
      else relayHl7(ctx);
    } catch (err) {
      deps.log(`route ${config.name}: session failed to start: ${(err as Error).message}`);
      client.destroy();
      ctx.onClose();
    }
  }

  private connectUpstream(): Promise<net.Socket> {
    const { config, deps } = this;
    const { host, port } = this.upstreamAt;
    const timeoutMs = config.limits.handshakeTimeoutMs;
    return new Promise((resolve, reject) => {
      let socket: net.Socket;
      const fail = (why: string) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new WardgateError('PROXY_UPSTREAM_FAILED', `route ${config.name}: upstream ${config.upstream}: ${why}`));
      };
      const timer = setTimeout(() => fail(`not connected within ${timeoutMs} ms`), timeoutMs);
      if (config.direction === 'inbound' || deps.withoutTls) {
        socket = net.connect({ host, port });
        socket.once('connect', () => {
          clearTimeout(timer);
          socket.removeAllListeners('error');
          socket.setNoDelay(true);
          resolve(socket);
        });
      } else {
        this.clientContext ??= tls.createSecureContext({
          ...this.tlsOptions,
          cert: this.credentials.pairs.map((p) => p.cert),
          key: this.credentials.pairs.map((p) => p.key),
          ca: this.trust,
          // An upstream's TLS 1.2 HelloRequest (RFC 5246 §7.4.1.1) is answered with a no_renegotiation warning
          // instead of a new handshake: a renegotiated connection could present another certificate, and
          // Node's client would judge it afresh without the revocation and expiry checks of secureConnect below.
          secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
        });
        const name = config.tls.serverName ?? host;
        const context = this.clientContext;
        // RFC 6066 §3: SNI carries host names only; an IP upstream is verified against its IP SAN.
        const offered = this.upstreamSession;
        const offeredPeer = this.upstreamSessionPeer;
        const tlsSocket = tls.connect({ host, port, secureContext: context, servername: isIp(name) ? undefined : name, checkServerIdentity: (_h, cert) => tls.checkServerIdentity(name, cert), minVersion: this.tlsOptions.minVersion, maxVersion: this.tlsOptions.maxVersion, session: offered });
        socket = tlsSocket;
        // TLS 1.3 tickets arrive after the handshake, a TLS 1.2 session during it. Only a connection
        // whose peer passed verification (chain, and the name above: secureConnect comes only then)
        // under the current context may refresh the cache.
        let verified = false;
        let pending: Buffer | undefined;
        // The certificate this connection's sessions vouch for: its own after a full handshake, else
        // the one the offered session was verified with (tickets issued on a resumed connection too).
        let sessionPeer: UpstreamPeer | undefined;
        const keep = (session: Buffer) => {
          if (this.clientContext === context) {
            this.upstreamSession = session;
            this.upstreamSessionPeer = sessionPeer;
          }
        };
        const forget = () => {
          if (this.clientContext === context && this.upstreamSession === offered) {
            this.upstreamSession = undefined;
            this.upstreamSessionPeer = undefined;
          }
        };
        tlsSocket.on('session', (session: Buffer) => {
          if (verified) keep(session);
          else pending = session;
        });
        socket.once('secureConnect', () => {
          const resumed = tlsSocket.isSessionReused();
          const own = resumed ? undefined : tlsSocket.getPeerCertificate(true);
          const peer: UpstreamPeer | undefined = resumed ? offeredPeer : own?.raw ? { chain: own, validTo: own.valid_to } : undefined;
          const refuse = (why: string) => {
            forget();
            deps.metrics.inc('wardgate_handshake_failures_total', this.labels);
            fail(why);
          };
          if (!peer) return refuse('the upstream presented no certificate wardgate could check');
          // tls.crl lists revoked certificates of whichever peer the route authenticates: here the upstream's
          // and its CAs'. A resumed session is checked against the chain its full handshake showed.
          const revoked = this.revocation?.check(peer.chain, this.anchors);
          if (revoked) return refuse(`upstream ${revoked}`);
          // A resumed session carries the verify result of the handshake it came from; the upstream's
          // certificate may have expired since. Forget it, so the next connection verifies afresh.
          if (resumed && Date.parse(peer.validTo) < Date.now()) return refuse(`upstream certificate expired ${peer.validTo} (resumed session)`);
          sessionPeer = peer;
          verified = tlsSocket.authorized;
          if (verified && pending) keep(pending);
          clearTimeout(timer);
          socket.removeAllListeners('error');
          // The relays only close the session on an upstream error; the operator learns the reason here.
          const protocol = tlsSocket.getProtocol();
          socket.on('error', (err) => deps.log(`route ${config.name}: upstream ${config.upstream}: ${upstreamFailure(protocol, err)}`));
          socket.setNoDelay(true);
          resolve(socket);
        });
      }
      socket.once('error', (err) => {
        if (config.direction === 'outbound') deps.metrics.inc('wardgate_handshake_failures_total', this.labels);
        fail(err.message);
      });
    });
  }
}
