// A worker thread does not inherit the tsx loader this process was started with (Node 20): register
// it here, like bin/wardgate.js, then run the TypeScript entry (route-worker.ts unless a test gives one).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData?.entry ?? './route-worker.ts');
