import { KeyObject, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { WardgateError } from '../errors.ts';
import { dataDirLayout, type DataDirLayout } from '../config/data-dir.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import type { CertificateRecord, NewAuditEntry } from '../store/types.ts';
import { readCaMeta, writeCaMeta, type CaMeta, type IssuerInfo, type IssuerKind } from './ca-meta.ts';
import { buildCrl } from './crl.ts';
import { createIntermediateCertificate, createRootCertificate, type CaNaming } from './hierarchy.ts';
import { FileKeyStore, type KeyHandle, type KeyStore } from './key-store.ts';
import { isRsa, type KeyType } from './key-types.ts';
import { signLeaf, type DistributionUrls, type IssuerHandle } from './leaf.ts';
import { assertPermitted, normalizePolicy, type NamePolicy } from './name-constraints.ts';
import { normalizeIdentifier, type Identifier } from './names.ts';
import { ProfileRegistry, type CertProfile } from './profiles.ts';
import { normalizeSerial } from './serial.ts';
import { x509 } from './x509.ts';

export interface InitOptions {
  name: string;
  policy: NamePolicy;
  nameConstraintsCritical?: boolean;
  rootKeyType?: KeyType;
  ecdsaKeyType?: KeyType;
  rsaKeyType?: KeyType;
  distributionBaseUrl?: string;
  passphrase: string;
  dev?: boolean;
  profilesDir?: string;
}

export interface IssueRequest {
  spki: Uint8Array;
  keyType: KeyType;
  identifiers: Identifier[];
  profile: string;
  accountId?: string;
  orderId?: string;
  actor?: string;
}

export interface IssuedCertificate {
  record: CertificateRecord;
  /** Leaf first, then its issuing intermediate (what TLS servers send). */
  chainPem: string;
}

/**
 * The certificate authority of one data dir: root, issuing intermediates, keys, store, profiles. Every
 * issuance checks names against the CA's policy (the same one its name constraints encode) and the
 * profile before signing, and stores the certificate durably before returning it.
 */
export class CertificateAuthority {
  private issuerCache = new Map<string, IssuerHandle>();

  private constructor(
    readonly layout: DataDirLayout,
    public meta: CaMeta,
    readonly keys: KeyStore,
    readonly store: Store,
    readonly profiles: ProfileRegistry,
  ) {}

  static async init(dir: string, opts: InitOptions): Promise<CertificateAuthority> {
    const layout = dataDirLayout(dir);
    if (existsSync(layout.caMeta)) throw new WardgateError('DATA_DIR_EXISTS', `${dir} already holds a CA (${layout.caMeta}); refusing to overwrite it`);
    const policy = normalizePolicy(opts.policy);
    if (policy.permitDns.length === 0 && policy.permitIp.length === 0) {
      throw new WardgateError('CLI_ARGUMENT', 'a CA needs at least one --permit-dns SUFFIX or --permit-ip CIDR: an unconstrained private CA could sign for any public name');
    }
    const profiles = ProfileRegistry.load(opts.profilesDir);
    mkdirSync(layout.issuers, { recursive: true, mode: 0o700 });
    if (opts.dev) writeFileSync(layout.devMarker, 'This data dir was made in dev mode: its CA keys are encrypted with a publicly known passphrase.\n');
    const keys = new FileKeyStore(layout.keys, opts.passphrase);
    const naming: CaNaming = { name: opts.name, policy, nameConstraintsCritical: opts.nameConstraintsCritical ?? true };
    const rootKeyType = opts.rootKeyType ?? 'rsa-4096';
    const [rootKey, ecKey, rsaKey] = await Promise.all([
      keys.generate('root', rootKeyType),
      keys.generate('ecdsa-1', opts.ecdsaKeyType ?? 'ecdsa-p256'),
      keys.generate('rsa-1', opts.rsaKeyType ?? 'rsa-3072'),
    ]);
    const rootCert = await createRootCertificate(rootKey, naming);
    writeFileAtomic(layout.rootCert, rootCert.toString('pem') + '\n');
    const issuers: IssuerInfo[] = [];
    for (const [key, kind] of [[ecKey, 'ecdsa'], [rsaKey, 'rsa']] as const) {
      const cert = await createIntermediateCertificate({ key: rootKey, cert: rootCert }, key, naming, kind === 'ecdsa' ? 'ECDSA Issuing CA 1' : 'RSA Issuing CA 1');
      writeFileAtomic(layout.issuerCert(key.id), cert.toString('pem') + '\n');
      issuers.push({ id: key.id, kind, keyType: key.type, notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString(), active: true });
    }
    const meta: CaMeta = {
      version: 1, name: opts.name, policy, nameConstraintsCritical: naming.nameConstraintsCritical,
      root: { id: 'root', keyType: rootKeyType, offline: false }, issuers,
      distributionBaseUrl: opts.distributionBaseUrl, ...(opts.distributionBaseUrl ? { distributionBaseUrlPinned: true } : {}), createdAt: new Date().toISOString(), dev: opts.dev ?? false,
    };
    writeCaMeta(layout.caMeta, meta);
    const ca = new CertificateAuthority(layout, meta, keys, new SqliteStore(layout.store), profiles);
    ca.writeActiveIntermediates();
    ca.store.appendAudit({ event: 'ca.init', actor: 'cli', data: { name: opts.name, policy, issuers: issuers.map((i) => i.id), dev: meta.dev } });
    return ca;
  }

  static async open(dir: string, opts: { passphrase: string; profilesDir?: string; defaultProfile?: string }): Promise<CertificateAuthority> {
    const layout = dataDirLayout(dir);
    const meta = readCaMeta(layout.caMeta);
    const keys = new FileKeyStore(layout.keys, opts.passphrase);
    // A root-offline interrupted after ca.json recorded the export: finish it (the exported file was checked
    // before ca.json changed), so the root key does not stay on the server.
    if (meta.root.offline && keys.has(meta.root.id)) keys.remove(meta.root.id);
    const ca = new CertificateAuthority(layout, meta, keys, new SqliteStore(layout.store), ProfileRegistry.load(opts.profilesDir, opts.defaultProfile));
    // Decrypt one key now so that a wrong passphrase fails at start, not at the first issuance.
    await ca.activeIssuer('ecdsa');
    ca.syncActiveIntermediates();
    return ca;
  }

  get naming(): CaNaming {
    return { name: this.meta.name, policy: this.meta.policy, nameConstraintsCritical: this.meta.nameConstraintsCritical };
  }

  get rootPem(): string {
    return readFileSync(this.layout.rootCert, 'utf8');
  }

  issuerInfo(id: string): IssuerInfo {
    const info = this.meta.issuers.find((i) => i.id === id);
    if (!info) throw new WardgateError('CERT_NOT_FOUND', `no issuer "${id}" in this CA (issuers: ${this.meta.issuers.map((i) => i.id).join(', ')})`);
    return info;
  }

  activeIssuerInfo(kind: IssuerKind): IssuerInfo {
    const info = this.meta.issuers.find((i) => i.kind === kind && i.active);
    if (!info) throw new WardgateError('DATA_DIR_MISSING', `this CA has no active ${kind} issuer`);
    return info;
  }

  async issuer(id: string): Promise<IssuerHandle> {
    const cached = this.issuerCache.get(id);
    if (cached) return cached;
    this.issuerInfo(id);
    const handle: IssuerHandle = {
      id, key: await this.keys.get(id), cert: new x509.X509Certificate(readFileSync(this.layout.issuerCert(id), 'utf8')),
    };
    this.issuerCache.set(id, handle);
    return handle;
  }

  activeIssuer(kind: IssuerKind): Promise<IssuerHandle> {
    return this.issuer(this.activeIssuerInfo(kind).id);
  }

  private readonly issuerPems = new Map<string, string>();

  /** Issuer certificates never change once written (a rollover makes a new id), so they are cached. */
  issuerPem(id: string): string {
    let pem = this.issuerPems.get(id);
    if (pem === undefined) {
      pem = readFileSync(this.layout.issuerCert(id), 'utf8');
      this.issuerPems.set(id, pem);
    }
    return pem;
  }

  private readonly issuerKeyIds = new Map<string, string>();

  /** The issuer's subject key identifier (hex): every leaf it signed carries it as its AKI. Cached. */
  issuerKeyIdHex(id: string): string {
    let keyId = this.issuerKeyIds.get(id);
    if (keyId === undefined) {
      const ski = new x509.X509Certificate(this.issuerPem(id)).getExtension(x509.SubjectKeyIdentifierExtension);
      if (!ski) throw new WardgateError('STORE_CORRUPT', `issuer certificate ${id} has no subject key identifier`);
      keyId = ski.keyId.toLowerCase();
      this.issuerKeyIds.set(id, keyId);
    }
    return keyId;
  }

  distributionUrls(issuerId: string): DistributionUrls | undefined {
    const base = this.meta.distributionBaseUrl?.replace(/\/$/, '');
    if (!base) return undefined;
    return { crl: `${base}/crl/${issuerId}.crl`, ocsp: `${base}/ocsp`, caIssuers: `${base}/ca/${issuerId}.der` };
  }

  /** Records where the distribution listener runs, unless `init --public-url` chose the URL (pinned). */
  setDistributionBaseUrl(url: string): void {
    if (this.meta.distributionBaseUrlPinned || this.meta.distributionBaseUrl === url) return;
    this.meta = { ...this.meta, distributionBaseUrl: url };
    writeCaMeta(this.layout.caMeta, this.meta);
  }

  /** Checks a request against the CA policy and the profile, without signing. */
  checkRequest(req: { keyType: KeyType; identifiers: Identifier[] }, profile: CertProfile): Identifier[] {
    const ids = req.identifiers.map(normalizeIdentifier);
    if (ids.length === 0) throw new WardgateError('NAME_INVALID', 'a certificate needs at least one DNS name or IP address');
    if (ids.length > profile.maxNames) throw new WardgateError('NAME_NOT_PERMITTED', `profile ${profile.name} allows at most ${profile.maxNames} names, ${ids.length} requested`);
    if (!profile.keyTypes.includes(req.keyType)) {
      throw new WardgateError('CSR_KEY_REJECTED', `profile ${profile.name} does not accept ${req.keyType} keys (accepted: ${profile.keyTypes.join(', ')})`);
    }
    for (const id of ids) {
      if (!profile.identifierTypes.includes(id.type)) throw new WardgateError('NAME_NOT_PERMITTED', `profile ${profile.name} does not certify ${id.type} identifiers (${id.value})`);
      assertPermitted(id, this.meta.policy);
    }
    return ids;
  }

  /**
   * Checks and signs, without storing: for callers that store the certificate together with their own
   * state change in one transaction (ACME finalize). Everyone else calls `issue`.
   */
  async sign(req: IssueRequest): Promise<IssuedCertificate & { audit: NewAuditEntry }> {
    const profile = this.profiles.get(req.profile);
    const identifiers = this.checkRequest(req, profile);
    // RSA leaves chain through the RSA intermediate so that RSA-only TLS 1.2 stacks can verify the chain.
    const issuer = await this.activeIssuer(isRsa(req.keyType) ? 'rsa' : 'ecdsa');
    const { pem, serial, notBefore, notAfter } = await signLeaf(issuer, { spki: req.spki, keyType: req.keyType, identifiers, profile }, this.distributionUrls(issuer.id));
    const record: CertificateRecord = {
      serial, issuerId: issuer.id, profile: profile.name, names: identifiers.map((i) => i.value),
      notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(), status: 'valid',
      accountId: req.accountId, orderId: req.orderId, pem, createdAt: new Date().toISOString(),
    };
    const audit: NewAuditEntry = {
      event: 'cert.issue', actor: req.actor ?? 'cli',
      data: { serial, issuer: issuer.id, profile: profile.name, names: record.names, notAfter: record.notAfter, accountId: req.accountId, orderId: req.orderId },
    };
    return { record, chainPem: pem + this.issuerPem(issuer.id), audit };
  }

  /** Checks, signs and stores durably before returning. */
  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    const { record, chainPem, audit } = await this.sign(req);
    this.store.insertCertificate(record, audit);
    return { record, chainPem };
  }

  /** Leaf PEM followed by its issuer, for a stored certificate. */
  chainPemFor(record: CertificateRecord): string {
    return record.pem + this.issuerPem(record.issuerId);
  }

  revoke(serialText: string, reason: number, actor = 'cli'): CertificateRecord {
    const serial = normalizeSerial(serialText);
    const existing = this.store.getCertificate(serial);
    if (!existing) throw new WardgateError('CERT_NOT_FOUND', `no certificate with serial ${serial}`);
    const at = new Date().toISOString();
    const changed = this.store.revokeCertificate(serial, reason, at, { event: 'cert.revoke', actor, data: { serial, reason } });
    if (!changed) throw new WardgateError('CERT_ALREADY_REVOKED', `certificate ${serial} is already revoked`);
    return this.store.getCertificate(serial)!;
  }

  async crl(issuerId = this.activeIssuerInfo('ecdsa').id, validityHours = 24): Promise<x509.X509Crl> {
    const issuer = await this.issuer(issuerId);
    const number = this.store.nextCounter(`crl:${issuerId}`);
    return buildCrl(issuer, this.store.listRevoked(issuerId, new Date().toISOString()), number, validityHours);
  }

  /** Root key for operations that need it; when it is offline the caller passes the exported key file. */
  async rootKey(offlineKeyPem?: string): Promise<KeyHandle> {
    if (!this.meta.root.offline) return this.keys.get(this.meta.root.id);
    if (!offlineKeyPem) throw new WardgateError('ROOT_KEY_OFFLINE', 'the root key is offline: pass the exported root key file with --root-key FILE');
    // Decrypt into memory only: an offline root must not land in the data dir again.
    const key = await this.keys.unwrap('root', offlineKeyPem);
    // Every key under the CA passphrase decrypts (an issuer key, another CA's root): signing with it would
    // activate intermediates that chain to nothing, and every device would then get certificates that fail.
    const given = KeyObject.from(key.publicKey).export({ type: 'spki', format: 'der' });
    const root = new X509Certificate(this.rootPem).publicKey.export({ type: 'spki', format: 'der' });
    if (!given.equals(root)) throw new WardgateError('ROOT_KEY_OFFLINE', `the key given with --root-key is not this CA's root key (its public key differs from ${this.layout.rootCert}): nothing was signed`);
    return key;
  }

  /** Exports the encrypted root key and removes it from the data dir (`wardgate ca root-offline`). */
  async exportRootKey(): Promise<string> {
    if (this.meta.root.offline) throw new WardgateError('ROOT_KEY_OFFLINE', 'the root key is already offline');
    await this.keys.get(this.meta.root.id); // proves the passphrase opens it before anything is removed
    return this.keys.exportWrapped(this.meta.root.id);
  }

  /** Second half of root-offline, called once the caller has written the export somewhere safe. */
  commitRootOffline(): void {
    // ca.json first: killed between the two steps, the CA knows its root is offline (rollover asks for
    // the exported file) and the next open removes the leftover key. The other order left a CA whose
    // ca.json named a root key that no longer existed, repairable only by editing ca.json.
    this.meta = { ...this.meta, root: { ...this.meta.root, offline: true } };
    writeCaMeta(this.layout.caMeta, this.meta);
    this.keys.remove(this.meta.root.id);
    this.store.appendAudit({ event: 'ca.root-offline', actor: 'cli', data: { root: this.meta.root.id } });
  }

  /**
   * Signs a new issuing intermediate of each requested kind and makes it active. The old intermediates
   * stay valid (their certificates keep verifying) and keep signing CRLs for what they issued.
   */
  async rollover(kinds: IssuerKind[], opts: { offlineRootKeyPem?: string; keyType?: Partial<Record<IssuerKind, KeyType>> } = {}): Promise<IssuerInfo[]> {
    const rootKey = await this.rootKey(opts.offlineRootKeyPem);
    const rootCert = new x509.X509Certificate(this.rootPem);
    const created: IssuerInfo[] = [];
    let issuers = [...this.meta.issuers];
    for (const kind of kinds) {
      const n = issuers.filter((i) => i.kind === kind).length + 1;
      const id = `${kind}-${n}`;
      const keyType = opts.keyType?.[kind] ?? this.activeIssuerInfo(kind).keyType;
      const key = await this.keys.generate(id, keyType);
      const cert = await createIntermediateCertificate({ key: rootKey, cert: rootCert }, key, this.naming, `${kind === 'ecdsa' ? 'ECDSA' : 'RSA'} Issuing CA ${n}`);
      writeFileAtomic(this.layout.issuerCert(id), cert.toString('pem') + '\n');
      const info: IssuerInfo = { id, kind, keyType, notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString(), active: true };
      issuers = issuers.map((i) => (i.kind === kind ? { ...i, active: false } : i));
      issuers.push(info);
      created.push(info);
    }
    this.meta = { ...this.meta, issuers };
    writeCaMeta(this.layout.caMeta, this.meta);
    this.writeActiveIntermediates();
    this.store.appendAudit({ event: 'ca.rollover', actor: 'cli', data: { created: created.map((c) => c.id) } });
    return created;
  }

  private writeActiveIntermediates(): void {
    writeFileAtomic(this.layout.intermediate, this.issuerPem(this.activeIssuerInfo('ecdsa').id));
    writeFileAtomic(this.layout.intermediateRsa, this.issuerPem(this.activeIssuerInfo('rsa').id));
  }

  /**
   * ca.json is the commit point of a rollover; intermediate.pem and intermediate-rsa.pem are copies of the
   * active issuers written after it. A rollover killed between the two left copies naming the old issuers,
   * which admins hand to devices as "the intermediate": bring them in line whenever the CA is opened.
   */
  private syncActiveIntermediates(): void {
    for (const [file, kind] of [[this.layout.intermediate, 'ecdsa'], [this.layout.intermediateRsa, 'rsa']] as const) {
      const want = this.issuerPem(this.activeIssuerInfo(kind).id);
      let have: string | undefined;
      try {
        have = readFileSync(file, 'utf8');
      } catch { /* missing: written below */ }
      if (have !== want) writeFileAtomic(file, want);
    }
  }

  /** Every issuer certificate ever used, for trust bundles and chain building. */
  allIssuerPems(): string[] {
    return readdirSync(this.layout.issuers).filter((f) => f.endsWith('.pem')).sort().map((f) => readFileSync(`${this.layout.issuers}/${f}`, 'utf8'));
  }

  close(): void {
    this.store.close();
  }
}
