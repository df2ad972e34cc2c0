// Entry of the neighbour-search worker threads. Worker threads do not inherit tsx's loader, so this
// plain-JS file loads the TypeScript worker through tsx's API. A failure to load is reported the
// same way as a failing task (see thread-pool.ts), so the blocked main thread never waits forever.
import { workerData } from "node:worker_threads";

try {
  const { tsImport } = await import("tsx/esm/api");
  await tsImport(workerData.entry, import.meta.url);
} catch (error) {
  workerData.port.postMessage({ error: String(error?.stack ?? error) });
  Atomics.store(workerData.flags, workerData.slot, 2);
  Atomics.notify(workerData.flags, workerData.slot);
}
