import type net from 'node:net';
import type tls from 'node:tls';

/**
 * The TCP socket a server-side TLSSocket wraps. Node 20 keeps it in the undocumented `_parent` field: a
 * dependency on Node internals, taken only where the TLS socket no longer answers (Node destroyed it
 * during a failed handshake, so its address is gone) or counts too little (its bytesWritten leaves out
 * the handshake). Callers must cope with undefined.
 */
export function tcpSocketUnder(socket: tls.TLSSocket): net.Socket | undefined {
  return (socket as tls.TLSSocket & { _parent?: net.Socket })._parent ?? undefined;
}
