/**
 * Which floods a campaign measures (src/fuzz/bulk-exec.ts BulkSampler): measuring costs the target
 * two full GCs per reading, and measuring every flood halved the DICOM route's execs/s.
 */
import t from 'tap';
import { BulkSampler } from '../../src/fuzz/bulk-exec.ts';
import type { Exchange } from '../../src/fuzz/exchange.ts';

const flood = (label: string): Exchange => ({ protocol: 'dicom', side: 'client', label, chunks: [] });

t.test('the first flood of each kind is measured at once, one at a time, later ones at most once per interval', async (t) => {
  const s = new BulkSampler(5000);
  const a = s.claim(flood('assoc ct data-flood'), 0);
  t.ok(a, 'the first data-flood is measured');
  t.notOk(s.claim(flood('assoc mr command-flood'), 10), 'not while another measurement runs');
  a!();
  const b = s.claim(flood('assoc mr command-flood'), 20);
  t.ok(b, 'the first command-flood is measured as soon as nothing else is');
  b!();
  t.notOk(s.claim(flood('assoc ct data-flood'), 1000), 'a kind already measured waits for the interval');
  t.notOk(s.claim(flood('assoc ct command-flood'), 4999));
  const c = s.claim(flood('assoc ct data-flood'), 5020);
  t.ok(c, 'measured again once the interval passed');
  c!();
  t.ok(s.claim(flood('assoc us empty-command-flood'), 5030), 'a new kind does not wait for the interval');
});
