import http from 'node:http';
import type net from 'node:net';
import { connectFirst, socketErrorText } from './connect.ts';
import { failure, preview, ValidationFailure } from './failure.ts';
import { hostPort } from '../../net/host-port.ts';
import { checkIdentifierShape, validationTargets } from './targets.ts';
import type { Identifier, ValidationOptions } from './types.ts';

/** The response is a key authorization (~87 characters); anything much larger is not one. */
export const HTTP01_MAX_BODY = 8 * 1024;

/** RFC 8555 §8.3: "The server SHOULD ignore whitespace characters at the end of the body." */
function trimTrailingWhitespace(s: string): string {
  return s.replace(/[ \t\r\n]+$/, '');
}

/** RFC 9110 §7.2: the Host header carries the port when it is not the scheme's default. */
function hostHeader(identifier: Identifier, port: number): string {
  const host = identifier.type === 'ip' && identifier.value.includes(':') ? `[${identifier.value}]` : identifier.value;
  return port === 80 ? host : `${host}:${port}`;
}

/**
 * One GET over an already-connected socket. Redirects are NOT followed (a 3xx fails with its Location
 * named): following one would let a device point the validator at any address, bypassing the allow-list,
 * and inside a hospital a device can always answer on its own port 80.
 */
function get(socket: net.Socket, identifier: Identifier, port: number, path: string, signal: AbortSignal, timeoutMs: number, where: string): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      createConnection: () => socket, method: 'GET', path,
      headers: { Host: hostHeader(identifier, port), 'User-Agent': 'wardgate-validator (RFC 8555 §8.3)', Accept: '*/*', Connection: 'close' },
    });
    const onAbort = () => {
      req.destroy();
      reject(failure('connection', `timed out after ${timeoutMs} ms waiting for the HTTP response from ${where}`, true));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const done = () => signal.removeEventListener('abort', onAbort);
    req.once('error', (err) => {
      done();
      reject(failure('connection', `HTTP request to ${where} failed: ${socketErrorText(err)}`, true));
    });
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > HTTP01_MAX_BODY) {
          done();
          req.destroy();
          reject(failure('unauthorized', `the response from ${where} is larger than ${HTTP01_MAX_BODY} bytes: not a key authorization`));
          return;
        }
        chunks.push(chunk);
      });
      res.once('end', () => {
        done();
        resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.once('error', (err) => {
        done();
        reject(failure('connection', `reading the response from ${where} failed: ${socketErrorText(err)}`, true));
      });
    });
    req.end();
  });
}

/**
 * RFC 8555 §8.3 (and RFC 8738 §4 for IP identifiers): GET http://HOST:PORT/.well-known/acme-challenge/TOKEN
 * on the first allowed address that accepts a connection (connectFirst: addresses in order, the next one
 * tried when the previous fails or is slow to connect); the trimmed body must equal the key authorization.
 * An answer, right or wrong, is final.
 */
export async function validateHttp01(identifier: Identifier, token: string, keyAuthorization: string, opts: ValidationOptions, signal: AbortSignal): Promise<string> {
  checkIdentifierShape(identifier);
  const targets = await validationTargets(identifier, opts, signal);
  const path = `/.well-known/acme-challenge/${token}`;
  const { socket, address } = await connectFirst(targets.addresses, opts.http01Port, signal, opts.timeoutMs).catch((err: unknown) => {
    if (!(err instanceof ValidationFailure) || signal.aborted) throw err;
    throw failure('connection', `http-01 for ${identifier.value}: ${err.problem.detail}${targets.note}`, true);
  });
  const where = `http://${hostPort(address, opts.http01Port)}${path} (Host: ${hostHeader(identifier, opts.http01Port)})`;
  try {
    const res = await get(socket, identifier, opts.http01Port, path, signal, opts.timeoutMs, where);
    if (res.status >= 300 && res.status < 400) {
      throw failure('unauthorized', `${where} answered ${res.status} redirecting to ${res.location === undefined ? '(no Location)' : preview(res.location)}; this CA follows no redirects: serve the key authorization directly on port ${opts.http01Port}`);
    }
    if (res.status !== 200) throw failure('unauthorized', `${where} answered HTTP ${res.status} instead of 200 with the key authorization; body ${preview(res.body)}`);
    const body = trimTrailingWhitespace(res.body);
    if (body !== keyAuthorization) {
      throw failure('unauthorized', `${where} answered 200 with ${preview(body)}, which is not the key authorization for token ${token} (expected ${preview(keyAuthorization)})`);
    }
    return address;
  } finally {
    socket.destroy();
  }
}
