import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCsr } from '../../src/pki/csr.ts';
import { makeCsr } from '../helpers/openssl.ts';
import { tempDir } from '../helpers/tmp.ts';
import { rejectsWithCode } from '../helpers/errors.ts';

t.test('CSR signatures of every accepted key type verify; a flipped bit anywhere in the signed part fails', async (t) => {
  const dir = tempDir(t);
  for (const key of ['ec256', 'ec384', 'rsa2048', 'rsa3072'] as const) {
    const { csr } = makeCsr(dir, key, { key, cn: 'a.klinikum.internal', sans: ['DNS:a.klinikum.internal', 'IP:10.20.0.1'] });
    const parsed = await parseCsr(readFileSync(csr));
    t.same(parsed.identifiers.map((i) => i.value), ['a.klinikum.internal', '10.20.0.1'], `${key}: names`);
    const der = Buffer.from(readFileSync(csr, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const tampered = Buffer.from(der);
    tampered[tampered.indexOf(Buffer.from('klinikum'))] ^= 0x01; // inside certificationRequestInfo
    await rejectsWithCode(t, parseCsr(tampered), 'CSR_INVALID', /does not verify/, `${key}: altered name`);
  }
});

t.test('RSASSA-PSS CSRs fall back to the general verifier', async (t) => {
  const dir = tempDir(t);
  const csr = join(dir, 'pss.csr');
  execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'pss.key'), '-out', csr, '-subj', '/CN=pss.klinikum.internal', '-sigopt', 'rsa_padding_mode:pss', '-sha256'], { stdio: 'pipe' });
  const parsed = await parseCsr(readFileSync(csr));
  t.equal(parsed.keyType, 'rsa-2048');
});

t.test('truncated and garbage DER are CSR_INVALID, never a crash', async (t) => {
  const dir = tempDir(t);
  const { csr } = makeCsr(dir, 'x', { cn: 'x.klinikum.internal' });
  const der = Buffer.from(readFileSync(csr, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  for (const cut of [1, 10, der.length / 2, der.length - 1]) {
    await rejectsWithCode(t, parseCsr(der.subarray(0, Math.floor(cut))), 'CSR_INVALID', undefined, `cut at ${Math.floor(cut)}`);
  }
});
