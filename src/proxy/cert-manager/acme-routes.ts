/**
 * Wires ACME-managed certificates into the gateway: one CertManager per route with `tls.acme`, whose
 * credentials seed the route and whose renewals are hot-swapped into it (open connections keep theirs).
 */
import { readFileSync } from 'node:fs';
import { WardgateError } from '../../errors.ts';
import type { Credentials } from '../credentials.ts';
import type { Gateway } from '../gateway.ts';
import { type GatewayConfig, parseAddress } from '../route-config.ts';
import { Http01Responder } from './http01.ts';
import { CertManager } from './manager.ts';

export interface AcmeRoutes {
  credentials: Map<string, Credentials>;
  managers: Map<string, CertManager>;
  attach(gateway: Gateway): void;
  stop(): Promise<void>;
}

export async function startAcmeRoutes(config: GatewayConfig, log: (m: string) => void): Promise<AcmeRoutes> {
  const credentials = new Map<string, Credentials>();
  const managers = new Map<string, CertManager>();
  const responders = new Map<string, Http01Responder>();
  try {
    for (const route of config.routes) {
      const acme = route.tls.acme;
      if (!acme) continue;
      const listen = acme.http01Listen ?? '0.0.0.0:80';
      let responder = responders.get(listen);
      if (!responder) {
        responder = new Http01Responder(parseAddress(listen, `route ${route.name} tls.acme.http01Listen`), log);
        responders.set(listen, responder);
      }
      let directoryCa: string | undefined;
      if (acme.directoryCa) {
        try {
          directoryCa = readFileSync(acme.directoryCa, 'utf8');
        } catch (err) {
          throw new WardgateError('TLS_CREDENTIALS_INVALID', `route ${route.name}: cannot read tls.acme.directoryCa ${acme.directoryCa}: ${(err as Error).message}`);
        }
      }
      const manager = new CertManager({
        directoryUrl: acme.directory, names: acme.names, stateDir: acme.stateDir ?? `wardgate-acme/${route.name}`,
        http01: responder, directoryCa, email: acme.email, log,
      });
      credentials.set(route.name, await manager.start());
      managers.set(route.name, manager);
    }
  } catch (err) {
    for (const m of managers.values()) m.stop();
    for (const r of responders.values()) await r.stop();
    throw err;
  }
  return {
    credentials,
    managers,
    attach(gateway) {
      for (const [name, manager] of managers) {
        manager.onChange((creds) => {
          gateway.route(name)?.updateCredentials(creds);
          log(`route ${name}: certificate renewed and swapped in`);
        });
      }
    },
    async stop() {
      for (const m of managers.values()) m.stop();
      for (const r of responders.values()) await r.stop();
    },
  };
}
