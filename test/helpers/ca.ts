import { join } from 'node:path';
import { CertificateAuthority, type InitOptions } from '../../src/pki/ca.ts';
import { tempDir } from './tmp.ts';

export const TEST_PASSPHRASE = 'test-passphrase-not-secret';

/**
 * A CA in a temp dir. The root is ECDSA P-384 unless asked otherwise: RSA-4096 generation costs ~1.5 s
 * and most tests do not care about the root's key type.
 */
export async function testCa(t: { teardown: (fn: () => void) => void }, opts: Partial<InitOptions> = {}): Promise<{ ca: CertificateAuthority; dir: string; work: string }> {
  const work = tempDir(t);
  const dir = join(work, 'data');
  const ca = await CertificateAuthority.init(dir, {
    name: 'Test Klinikum',
    policy: { permitDns: ['klinikum.internal'], permitIp: ['127.0.0.0/8', '10.20.0.0/16'] },
    rootKeyType: 'ecdsa-p384',
    rsaKeyType: 'rsa-2048',
    passphrase: TEST_PASSPHRASE,
    ...opts,
  });
  t.teardown(() => ca.close());
  return { ca, dir, work };
}
