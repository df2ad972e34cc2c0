// Supervisor of a thread pool's workers (see thread-pool.ts): starts them and turns their 'error' and
// 'exit' events, which the blocked main thread cannot receive, into a dead flag in shared memory
// plus a message saying why. It is terminated with the pool, which ends the workers too; until
// then any exit of a worker is a death.
import { Worker, workerData } from "node:worker_threads";

const { boot, entry, threads, flags, ports, deaths, init } = workerData;
for (let slot = 1; slot < threads; slot++) {
  const port = ports[slot - 1];
  const worker = new Worker(new URL(boot), { workerData: { entry, slot, flags, port, init }, transferList: [port] });
  let reported = false;
  const dead = (why) => {
    if (reported) return;
    reported = true;
    deaths.postMessage({ slot, error: why });
    Atomics.store(flags, threads + slot, 1);
    Atomics.notify(flags, slot);
  };
  worker.on("error", (error) => dead(String(error?.stack ?? error)));
  worker.on("exit", (code) => dead(`it exited with code ${code}`));
}
