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

// Found in review, not by the fuzzer: the bound above counted fragment bytes only, so zero-length
// command fragments (legal PDVs, PS3.8 E.2) each took a list entry for free: 50 MB held 1.6 GB.
t.test('zero-length command fragments count against the command-set bound', async (t) => {
  const script = fileURLToPath(new URL('./fixtures/gateway-bug-command-flood.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, '20', 'empty'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  t.match(r.stdout, /the gateway aborted the association/);
  t.match(r.stdout, /the backend got 0 MB/, 'the PDU over the bound never reached the backend');
});

t.test('memory-dicom-c96b01ab (second cause): what a peer sends after its A-ABORT is dropped, not collected', async (t) => {
  const script = fileURLToPath(new URL('./fixtures/gateway-bug-pdata-before-rq.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, '32'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  t.match(r.stdout, /a peer sent 32 MiB of P-DATA-TF before any A-ASSOCIATE-RQ; the gateway held at most \d+\.\d MiB/);
});
