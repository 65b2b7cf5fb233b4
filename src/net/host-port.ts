/** `127.0.0.1:80` / `[::1]:80`: an address and port as URLs and HOST:PORT arguments write them (RFC 3986 §3.2.2). */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
