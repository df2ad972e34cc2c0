// A pool worker that dies on request, for tests/unit/neighbours-int8.test.ts: not through the
// task's try/catch (that path already reports), but the ways only the Worker's events can tell.
import { workerData } from "node:worker_threads";
import type { WorkerInit } from "../../../precompute/neighbours/thread-pool.ts";

const data = workerData as WorkerInit<null>;
data.port.on("message", (task: string) => {
  if (task === "exit") process.exit(3);
  if (task === "throw-later") {
    // Thrown from a timer: the task never finishes, and no try/catch around it sees the error.
    setTimeout(() => {
      throw new Error("thrown from a timer");
    }, 0);
    return;
  }
  Atomics.store(data.flags, data.slot, 1);
  Atomics.notify(data.flags, data.slot);
});
