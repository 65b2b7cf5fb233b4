/**
 * Child process for the pruning crash test: prunes the store in argv[2] of orders expired before argv[3],
 * argv[4] rows per transaction (the housekeeping loop, with its yields), and prints the number of orders
 * of each batch only after that batch's transaction committed.
 */
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { pruneExpiredOrders } from '../../src/acme/housekeeping.ts';

const [file, before, batch] = process.argv.slice(2);
const store = new SqliteStore(file);
const acme = store.acme;
const real = acme.pruneExpired.bind(acme);
acme.pruneExpired = (cutoff, limit) => {
  const n = real(cutoff, limit);
  process.stdout.write(`${n.orders}\n`);
  return n;
};
await pruneExpiredOrders(acme, new Date(before), { batchRows: Number(batch) });
store.close();
