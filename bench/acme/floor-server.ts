/**
 * The floor for bench/acme: the least any ACME server written for Node.js must do for the bench's
 * issuance, so the bench can say what part of wardgate's CPU per issuance the platform takes before
 * any of wardgate's own work. It answers the same load worker over the same kind of connection (HTTPS,
 * TLS 1.3, ECDSA P-256 certificate, keep-alive) and does, per issuance, only what no server can skip:
 * parse each JWS and verify its ES256 signature (node:crypto directly, the fastest way Node has; jose
 * through WebCrypto costs about twice as much), check and issue nonces, fetch the http-01 token once,
 * and make one ECDSA signature (the certificate's). Everything else is left out: no storage, no
 * CSR parsing or checks, no policy, no certificate encoding (the same PEM is returned every time),
 * no problem documents, no rate limits. NOT an ACME server: a measuring stick, trusted only by the bench.
 *
 *   node bench/acme/floor-server.ts PORT CERT_PEM KEY_PEM HTTP01_PORT   (prints "ready" when listening)
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { get, type ServerResponse } from 'node:http';
import { createServer } from 'node:https';

const [port, certFile, keyFile, http01Port] = process.argv.slice(2);
const cert = readFileSync(certFile, 'utf8');
const signingKey = createPrivateKey(readFileSync(keyFile));
const base = `https://127.0.0.1:${port}`;
const nonces = new Set<string>();
const accounts = new Map<string, { key: KeyObject; thumbprint: string }>();
const orders = new Map<string, { ip: string; token: string; valid: boolean; issued: boolean }>();
/** What the certificate's signature is made over: about the size of a leaf's TBSCertificate. */
const TBS = randomBytes(420);

function nonce(): string {
  const n = randomBytes(16).toString('base64url');
  nonces.add(n);
  return n;
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'application/pem-certificate-chain' : 'application/json', 'replay-nonce': nonce(), 'cache-control': 'no-store', link: `<${base}/dir>;rel="index"`, ...headers }).end(text);
}

function thumbprint(jwk: Record<string, string>): string {
  return createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url');
}

/** The token's key authorization, fetched once from the device over a new connection, as a validation does. */
function fetchToken(ip: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: ip, port: Number(http01Port), path: `/.well-known/acme-challenge/${token}`, agent: false }, (r) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (c) => { text += c; });
      r.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

async function post(path: string, protectedHeader: Record<string, any>, payload: any, res: ServerResponse): Promise<void> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const account = accounts.get(protectedHeader.kid);
  const id = path.split('/')[2];
  const order = orders.get(id);
  if (path === '/new-order') {
    const orderId = randomBytes(8).toString('hex');
    orders.set(orderId, { ip: payload.identifiers[0].value, token: randomBytes(16).toString('base64url'), valid: false, issued: false });
    return reply(res, 201, { status: 'pending', identifiers: payload.identifiers, authorizations: [`${base}/authz/${orderId}`], finalize: `${base}/finalize/${orderId}` }, { location: `${base}/order/${orderId}` });
  }
  if (!order || !account) return reply(res, 404, { type: 'urn:ietf:params:acme:error:malformed' });
  const challenge = { type: 'http-01', url: `${base}/chall/${id}`, token: order.token, status: order.valid ? 'valid' : 'pending' };
  if (path.startsWith('/authz/')) return reply(res, 200, { status: order.valid ? 'valid' : 'pending', identifier: { type: 'ip', value: order.ip }, challenges: [challenge] });
  if (path.startsWith('/chall/')) {
    order.valid = (await fetchToken(order.ip, order.token)) === `${order.token}.${account.thumbprint}`;
    return reply(res, 200, { ...challenge, status: order.valid ? 'valid' : 'invalid' });
  }
  const status = order.issued ? 'valid' : order.valid ? 'ready' : 'pending';
  if (path.startsWith('/finalize/')) {
    sign('sha256', TBS, signingKey);
    order.issued = true;
  }
  if (path.startsWith('/cert/')) return reply(res, 200, cert);
  return reply(res, 200, { status: order.issued ? 'valid' : status, finalize: `${base}/finalize/${id}`, certificate: `${base}/cert/${id}` }, { location: `${base}/order/${id}` });
}

const server = createServer({ cert, key: readFileSync(keyFile), keepAliveTimeout: 60_000 }, (req, res) => {
  const path = req.url ?? '/';
  if (req.method === 'GET' && path === '/dir') return reply(res, 200, { newNonce: `${base}/nonce`, newAccount: `${base}/new-account`, newOrder: `${base}/new-order` });
  if (path === '/nonce') return reply(res, req.method === 'HEAD' ? 200 : 204, '');
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const jws = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const header = JSON.parse(Buffer.from(jws.protected, 'base64url').toString('utf8'));
    const payload = jws.payload === '' ? undefined : JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8'));
    if (!nonces.delete(header.nonce) || header.url !== `${base}${path}` || header.alg !== 'ES256') return reply(res, 400, { type: 'urn:ietf:params:acme:error:badNonce' });
    const key = header.jwk ? createPublicKey({ key: header.jwk, format: 'jwk' }) : accounts.get(header.kid)?.key;
    if (!key || !verify('sha256', Buffer.from(`${jws.protected}.${jws.payload}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(jws.signature, 'base64url'))) {
      return reply(res, 401, { type: 'urn:ietf:params:acme:error:unauthorized' });
    }
    if (path === '/new-account') {
      const kid = `${base}/acct/${randomBytes(8).toString('hex')}`;
      accounts.set(kid, { key, thumbprint: thumbprint(header.jwk) });
      return reply(res, 201, { status: 'valid' }, { location: kid });
    }
    post(path, header, payload, res).catch((err) => reply(res, 500, { type: 'urn:ietf:params:acme:error:serverInternal', detail: String(err) }));
  });
});
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
