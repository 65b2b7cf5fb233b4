/**
 * Every finding id maps to a title and a concrete next step, in English and German. Commands are
 * filled in with the service's address and port, so an admin can paste them: the gateway route
 * (`wardgate proxy inbound`, issue 4's interface), the ACME enrollment (`certbot` against the
 * wardgate CA, or `wardgate issue` for devices without an ACME client), the TLS profile to apply.
 * `GATEWAY` and `CA_URL` are placeholders the admin replaces with the gateway's address and the
 * wardgate ACME directory (options --gateway / --acme-url fill them in).
 */
import type { FindingId, Lang } from './types.ts';

export interface RecommendationContext {
  address: string;
  port: number;
  hostname?: string;
  protocol: 'dicom' | 'hl7' | 'other';
  gateway?: string;
  acmeUrl?: string;
  /** Advisory details for dicom-known-vulnerable. */
  advisory?: { ids: string; fixedIn: string; source: string };
  detail?: string;
}

interface Text {
  title: string;
  recommendation: string;
}

type Builder = (c: Required<Pick<RecommendationContext, 'gateway' | 'acmeUrl'>> & RecommendationContext & { name: string; tlsPort: number; proto: string }) => Text;

/** `--ca` is required by `wardgate proxy inbound` (the hospital root that client certificates chain to); `--acme-ca` lets the route trust the wardgate ACME server. */
function route(c: Parameters<Builder>[0]): string {
  return `wardgate proxy inbound --protocol ${c.proto} --listen ${c.gateway}:${c.tlsPort} --upstream ${c.address}:${c.port} --acme ${c.acmeUrl} --name ${c.name} --acme-ca root.pem --ca root.pem --client-auth required`;
}

function enroll(c: Parameters<Builder>[0]): string {
  return `certbot certonly --standalone --server ${c.acmeUrl} -d ${c.name}`;
}

/** RSA: devices that can only import a .p12 are mostly older TLS stacks, which expect an RSA key. */
function issue(c: Parameters<Builder>[0]): string {
  const profile = c.proto === 'hl7' ? 'hl7-node' : 'dicom-node';
  return `wardgate issue --profile ${profile} --name ${c.name} --key-type rsa-2048 --pkcs12 ${c.name}.p12`;
}

const EN: Record<FindingId, Builder> = {
  'plaintext-dicom': (c) => ({ title: 'DICOM in plaintext', recommendation: `Put the device behind the TLS gateway and allow its port ${c.port} only from the gateway: \`${route(c)}\`; peers then connect to ${c.gateway}:${c.tlsPort} with TLS (DICOM PS3.15 Annex B, profile bcp195-non-downgrading).` }),
  'plaintext-hl7': (c) => ({ title: 'HL7 v2 (MLLP) in plaintext', recommendation: `Put the receiver behind the TLS gateway and allow its port ${c.port} only from the gateway: \`${route(c)}\`; senders then use MLLP over TLS to ${c.gateway}:${c.tlsPort}.` }),
  'cert-expired': (c) => ({ title: 'Certificate expired', recommendation: `Enroll the device with the wardgate CA so it renews automatically: \`${enroll(c)}\`; devices without an ACME client: \`${issue(c)}\` and import the .p12, or terminate TLS at the gateway: \`${route(c)}\`.` }),
  'cert-not-yet-valid': (c) => ({ title: 'Certificate not yet valid', recommendation: `Peers refuse a certificate before its notBefore date. Check the clocks of the device and of the CA that issued it (NTP); then re-issue with a correct date: \`${enroll(c)}\`, or \`${issue(c)}\` for devices that import .p12 files.` }),
  'cert-expiring-soon': (c) => ({ title: 'Certificate expires soon', recommendation: `Renew now and automate renewal: \`${enroll(c)}\` (renewal at one third of the lifetime left); without an ACME client: \`${issue(c)}\`.` }),
  'cert-self-signed': (c) => ({ title: 'Self-signed certificate', recommendation: `Peers cannot verify a self-signed certificate without pinning it. Replace it with one from the hospital CA: \`${enroll(c)}\`, or \`${issue(c)}\` for devices that import .p12 files.` }),
  'cert-untrusted-issuer': (c) => ({ title: 'Certificate from an untrusted issuer', recommendation: `The chain does not lead to a trusted root (pass your CA with --trust if it should). Re-enroll with the hospital CA: \`${enroll(c)}\`.` }),
  'cert-weak-key': (c) => ({ title: 'Weak certificate key', recommendation: `RSA keys under 2048 bits and EC keys under 256 bits can be broken (NIST SP 800-131A). Generate a new key on the device and re-enroll: \`${enroll(c)} --key-type ecdsa\`, or \`${issue(c)}\`.` }),
  'cert-weak-signature': (c) => ({ title: 'Certificate signed with SHA-1 or MD5', recommendation: `Collisions in SHA-1/MD5 allow forged certificates. Re-issue with SHA-256 from the hospital CA: \`${enroll(c)}\`.` }),
  'cert-hostname-mismatch': (c) => ({ title: 'Certificate does not name the device', recommendation: `Clients that verify names will refuse it. Re-issue with the device's name and address as subjectAltName: \`${enroll(c)}\` (the wardgate CA accepts IP identifiers, RFC 8738).` }),
  'tls-legacy-version': (c) => ({ title: 'TLS 1.0/1.1 accepted', recommendation: `RFC 8996 deprecates TLS 1.0 and 1.1. Configure TLS 1.2+ only (profile bcp195-non-downgrading, profiles/tls); if the device cannot be changed, terminate TLS at the gateway: \`${route(c)}\`.` }),
  'tls-weak-cipher': (c) => ({ title: 'Weak TLS cipher suites accepted', recommendation: `Disable 3DES, RC4, NULL, export and anonymous suites (RFC 9325 §4.1); apply profile bcp195-non-downgrading, or front the device with the gateway: \`${route(c)}\`.` }),
  'dicom-any-ae-accepted': (c) => ({ title: 'Any called AE title accepted', recommendation: `The device accepts associations for any AE title, so anyone on the network can send or query. Configure its AE title and a calling-AE allow-list, and require mutual TLS at the gateway: \`${route(c)}\`.` }),
  'dicom-known-vulnerable': (c) => ({ title: 'DICOM implementation with known vulnerabilities', recommendation: `The reported implementation version matches ${c.advisory?.ids ?? 'a known advisory'} (${c.advisory?.source ?? ''}). Update to ${c.advisory?.fixedIn ?? 'a fixed version'} or later (confirm with the vendor: backports are invisible to a scan); until then restrict access to the gateway: \`${route(c)}\`.` }),
};

const DE: Record<FindingId, Builder> = {
  'plaintext-dicom': (c) => ({ title: 'DICOM unverschlüsselt', recommendation: `Gerät hinter das TLS-Gateway stellen und Port ${c.port} nur noch vom Gateway aus erlauben: \`${route(c)}\`; Gegenstellen verbinden sich dann per TLS mit ${c.gateway}:${c.tlsPort} (DICOM PS3.15 Anhang B, Profil bcp195-non-downgrading).` }),
  'plaintext-hl7': (c) => ({ title: 'HL7 v2 (MLLP) unverschlüsselt', recommendation: `Empfänger hinter das TLS-Gateway stellen und Port ${c.port} nur noch vom Gateway aus erlauben: \`${route(c)}\`; Sender nutzen dann MLLP über TLS zu ${c.gateway}:${c.tlsPort}.` }),
  'cert-expired': (c) => ({ title: 'Zertifikat abgelaufen', recommendation: `Gerät bei der wardgate-CA einschreiben, damit es automatisch erneuert: \`${enroll(c)}\`; Geräte ohne ACME-Client: \`${issue(c)}\` und die .p12 importieren, oder TLS am Gateway terminieren: \`${route(c)}\`.` }),
  'cert-not-yet-valid': (c) => ({ title: 'Zertifikat noch nicht gültig', recommendation: `Gegenstellen lehnen ein Zertifikat vor seinem notBefore-Datum ab. Uhrzeit des Geräts und der ausstellenden CA prüfen (NTP); dann mit korrektem Datum neu ausstellen: \`${enroll(c)}\`, oder \`${issue(c)}\` für Geräte, die .p12-Dateien importieren.` }),
  'cert-expiring-soon': (c) => ({ title: 'Zertifikat läuft bald ab', recommendation: `Jetzt erneuern und die Erneuerung automatisieren: \`${enroll(c)}\` (Erneuerung bei einem Drittel Restlaufzeit); ohne ACME-Client: \`${issue(c)}\`.` }),
  'cert-self-signed': (c) => ({ title: 'Selbstsigniertes Zertifikat', recommendation: `Gegenstellen können ein selbstsigniertes Zertifikat nur durch Pinning prüfen. Durch eines der Klinik-CA ersetzen: \`${enroll(c)}\`, oder \`${issue(c)}\` für Geräte, die .p12-Dateien importieren.` }),
  'cert-untrusted-issuer': (c) => ({ title: 'Zertifikat eines nicht vertrauenswürdigen Ausstellers', recommendation: `Die Kette führt zu keiner vertrauenswürdigen Wurzel (eigene CA mit --trust angeben, falls sie es sein sollte). Bei der Klinik-CA neu einschreiben: \`${enroll(c)}\`.` }),
  'cert-weak-key': (c) => ({ title: 'Schwacher Zertifikatsschlüssel', recommendation: `RSA-Schlüssel unter 2048 Bit und EC-Schlüssel unter 256 Bit sind angreifbar (NIST SP 800-131A). Neuen Schlüssel auf dem Gerät erzeugen und neu einschreiben: \`${enroll(c)} --key-type ecdsa\`, oder \`${issue(c)}\`.` }),
  'cert-weak-signature': (c) => ({ title: 'Zertifikat mit SHA-1 oder MD5 signiert', recommendation: `Kollisionen in SHA-1/MD5 erlauben gefälschte Zertifikate. Mit SHA-256 von der Klinik-CA neu ausstellen: \`${enroll(c)}\`.` }),
  'cert-hostname-mismatch': (c) => ({ title: 'Zertifikat nennt das Gerät nicht', recommendation: `Clients, die Namen prüfen, lehnen es ab. Mit Name und Adresse des Geräts als subjectAltName neu ausstellen: \`${enroll(c)}\` (die wardgate-CA akzeptiert IP-Identifier, RFC 8738).` }),
  'tls-legacy-version': (c) => ({ title: 'TLS 1.0/1.1 wird akzeptiert', recommendation: `RFC 8996 erklärt TLS 1.0 und 1.1 für veraltet. Nur TLS 1.2+ konfigurieren (Profil bcp195-non-downgrading, profiles/tls); lässt sich das Gerät nicht ändern, TLS am Gateway terminieren: \`${route(c)}\`.` }),
  'tls-weak-cipher': (c) => ({ title: 'Schwache TLS-Cipher-Suites werden akzeptiert', recommendation: `3DES, RC4, NULL-, Export- und anonyme Suites abschalten (RFC 9325 §4.1); Profil bcp195-non-downgrading anwenden oder das Gerät hinter das Gateway stellen: \`${route(c)}\`.` }),
  'dicom-any-ae-accepted': (c) => ({ title: 'Beliebiger Called-AE-Title wird akzeptiert', recommendation: `Das Gerät nimmt Assoziationen für jeden AE-Title an, jeder im Netz kann also senden oder abfragen. AE-Title und eine Calling-AE-Positivliste konfigurieren und am Gateway gegenseitiges TLS verlangen: \`${route(c)}\`.` }),
  'dicom-known-vulnerable': (c) => ({ title: 'DICOM-Implementierung mit bekannten Schwachstellen', recommendation: `Die gemeldete Implementierungsversion passt zu ${c.advisory?.ids ?? 'einer bekannten Warnung'} (${c.advisory?.source ?? ''}). Auf ${c.advisory?.fixedIn ?? 'eine korrigierte Version'} oder neuer aktualisieren (mit dem Hersteller klären: Backports sind für einen Scan unsichtbar); bis dahin Zugriff nur über das Gateway: \`${route(c)}\`.` }),
};

/** DICOM PS3.15 B.1 registers 2762 for DICOM over TLS; HL7 has no registered TLS port, 2575 is reused. */
function tlsPortFor(protocol: RecommendationContext['protocol']): number {
  return protocol === 'hl7' ? 2575 : 2762;
}

export function recommend(id: FindingId, lang: Lang, ctx: RecommendationContext): Text {
  const table = lang === 'de' ? DE : EN;
  const proto = ctx.protocol === 'hl7' ? 'hl7' : 'dicom';
  return table[id]({
    ...ctx,
    gateway: ctx.gateway ?? 'GATEWAY',
    acmeUrl: ctx.acmeUrl ?? 'https://CA_HOST/acme/directory',
    name: ctx.hostname ?? ctx.address,
    tlsPort: tlsPortFor(ctx.protocol),
    proto,
  });
}
