import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Gateway bugs the fuzzer found, kept as regression tests (one per finding id).

t.test('memory-dicom-c96b01ab: an endless command set is aborted, not buffered', async (t) => {
  const script = fileURLToPath(new URL('./fixtures/gateway-bug-command-flood.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, '20'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  t.match(r.stdout, /the gateway aborted the association/);
  t.match(r.stdout, /the backend got 0 MB/, 'the oversized command set never reached the backend whole');
});
