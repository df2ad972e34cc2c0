/** Worker thread of the two-lane layout SGD (typed-umap.ts): runs lane 1's share of each step. */
import { parentPort, workerData } from "node:worker_threads";
import type { WorkerInit } from "../neighbours/thread-pool.ts";
import { laneStep, PowTable, type LaneShared } from "./typed-umap.ts";

const data = workerData as WorkerInit<LaneShared>;
const shared = data.init;
const powB = new PowTable(shared.b);

parentPort!.on("message", (task: { n: number; step: number }) => {
  let flag = 1;
  try {
    laneStep(shared, powB, data.slot, task.n, task.step);
  } catch (error) {
    flag = 2;
    data.port.postMessage({ error: String((error as Error)?.stack ?? error) });
  }
  Atomics.store(data.flags, data.slot, flag);
  Atomics.notify(data.flags, data.slot);
});
