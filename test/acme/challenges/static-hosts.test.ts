import t from 'tap';
import { staticAddresses } from '../../../src/acme/challenges/resolve.ts';

t.test('static hosts (dev mode): exact names, then the longest *.suffix; nothing else', async (t) => {
  const hosts = { '*.wardgate.test': ['127.0.0.1'], '*.lab.wardgate.test': ['127.0.0.2'], localhost: ['127.0.0.1', '::1'] };
  t.same(staticAddresses('localhost', hosts), ['127.0.0.1', '::1']);
  t.same(staticAddresses('LocalHost.', hosts), ['127.0.0.1', '::1'], 'case and a trailing dot do not matter');
  t.same(staticAddresses('dev.wardgate.test', hosts), ['127.0.0.1']);
  t.same(staticAddresses('ct.lab.wardgate.test', hosts), ['127.0.0.2'], 'the longest suffix wins');
  t.equal(staticAddresses('wardgate.test', hosts), undefined, '*.suffix does not match the suffix itself');
  t.equal(staticAddresses('evilwardgate.test', hosts), undefined, 'a suffix matches on a label boundary only');
  t.equal(staticAddresses('pacs.klinikum.internal', hosts), undefined);
  t.equal(staticAddresses('localhost', undefined), undefined, 'no static hosts outside dev mode');
});
