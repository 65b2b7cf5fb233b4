import t from 'tap';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PROFILES_DIR, ProfileRegistry, lifetimeMs, parseProfile } from '../../src/pki/profiles.ts';
import { tempDir } from '../helpers/tmp.ts';
import { rejectsWithCode } from '../helpers/errors.ts';

const good = JSON.parse(readFileSync(join(DEFAULT_PROFILES_DIR, 'dicom-node.json'), 'utf8'));

t.test('the shipped profiles load and say what each device class gets', async (t) => {
  const reg = ProfileRegistry.load();
  t.same(reg.names().sort(), ['dicom-node', 'hl7-node', 'web-server', 'workstation-client']);
  t.same(reg.get('dicom-node').extendedKeyUsage, ['serverAuth', 'clientAuth'], 'DICOM nodes both accept and open TLS associations');
  t.same(reg.get('web-server').extendedKeyUsage, ['serverAuth']);
  t.same(reg.get('workstation-client').extendedKeyUsage, ['clientAuth']);
  for (const p of reg.all()) {
    t.notOk(p.keyTypes.some((k) => /rsa-1024|secp256k1/.test(k)), `${p.name} allows no weak keys`);
    if (p.extendedKeyUsage.includes('serverAuth')) {
      t.same(p.keyUsage.rsa, ['digitalSignature', 'keyEncipherment'], `${p.name}: RSA server keys also get keyEncipherment (TLS 1.2 RSA key exchange)`);
    }
    t.same(p.keyUsage.ec, ['digitalSignature'], `${p.name}: ECDSA keys only sign`);
  }
  await rejectsWithCode(t, () => reg.get('nope'), 'PROFILE_UNKNOWN', /available: /, 'unknown profile names the available ones');
});

t.test('a bad profile file is refused with the file and the field named', async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['missing field', { ...good, lifetime: undefined }, /field "lifetime"/],
    ['bad EKU', { ...good, extendedKeyUsage: ['codeSigning'] }, /field "extendedKeyUsage\.0"/],
    ['weak key type', { ...good, keyTypes: ['rsa-1024'] }, /field "keyTypes\.0"/],
    ['unknown field', { ...good, colour: 'blue' }, /unknown field "colour"/],
    ['bad lifetime', { ...good, lifetime: '3 months' }, /field "lifetime"|lifetime "3 months"/],
    ['name mismatch', { ...good, name: 'other' }, /field "name" is "other"/],
  ];
  for (const [label, data, msg] of cases) {
    await rejectsWithCode(t, () => parseProfile('/p/dicom-node.json', JSON.stringify(data)), 'CONFIG_INVALID', msg, label);
    await rejectsWithCode(t, () => parseProfile('/p/dicom-node.json', JSON.stringify(data)), 'CONFIG_INVALID', /\/p\/dicom-node\.json/, `${label} names the file`);
  }
  await rejectsWithCode(t, () => parseProfile('/p/x.json', '{ not json'), 'CONFIG_INVALID', /x\.json: not valid JSON/, 'broken JSON');

  // A registry refuses to load a directory with one bad file, naming it.
  const dir = join(tempDir(t), 'profiles');
  mkdirSync(dir);
  for (const f of readdirSync(DEFAULT_PROFILES_DIR)) copyFileSync(join(DEFAULT_PROFILES_DIR, f), join(dir, f));
  writeFileSync(join(dir, 'hl7-node.json'), JSON.stringify({ ...good, name: 'hl7-node', maxNames: 0 }));
  await rejectsWithCode(t, () => ProfileRegistry.load(dir), 'CONFIG_INVALID', /hl7-node\.json: field "maxNames"/, 'registry names the bad file');
});

t.test('lifetimes', async (t) => {
  t.equal(lifetimeMs('90d'), 90 * 86_400_000);
  t.equal(lifetimeMs('12h'), 12 * 3_600_000);
  t.equal(lifetimeMs('30m'), 30 * 60_000);
  await rejectsWithCode(t, () => lifetimeMs('1y'), 'CONFIG_INVALID', /1y/, 'years are not a unit');
});
