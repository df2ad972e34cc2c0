/**
 * Worker thread of the neighbour search (see thread-pool.ts): runs its share of each task on the
 * shared rows and raises its flag when done.
 */
import { parentPort, workerData } from "node:worker_threads";
import { exactSearch, exactSelfDots, type ExactShared } from "./exact.ts";
import { assignAll, assignSample, finishRows, searchCells, searchPairs, selfDots, type SearchShared } from "./partitions.ts";
import { adoptMemory, Kernel } from "./simd.ts";
import type { WorkerInit } from "./thread-pool.ts";

export interface KnnWorkerInit {
  memory: WebAssembly.Memory;
  d: number;
  threads: number;
  search?: SearchShared;
  exact?: ExactShared;
}

export type KnnTask =
  | { kind: "assign-sample" | "assign-all" | "self" | "cells" | "finish" | "exact-self" | "exact" }
  | { kind: "pairs"; pairs: Int32Array };

const data = workerData as WorkerInit<KnnWorkerInit>;
const { memory, d, threads, search, exact } = data.init;
adoptMemory(memory);
const kernel = new Kernel(memory, d, data.slot);

function run(task: KnnTask): void {
  const slot = data.slot;
  switch (task.kind) {
    case "assign-sample":
      return assignSample(search!, kernel, slot, threads);
    case "assign-all":
      return assignAll(search!, kernel, slot, threads);
    case "self":
      return selfDots(search!, kernel, slot, threads);
    case "cells":
      return searchCells(search!, kernel);
    case "pairs":
      return searchPairs(search!, kernel, task.pairs);
    case "finish":
      return finishRows(search!, kernel, slot, threads);
    case "exact-self":
      return exactSelfDots(exact!, kernel, slot, threads);
    case "exact":
      return exactSearch(exact!, kernel, slot, threads);
  }
}

parentPort!.on("message", (task: KnnTask) => {
  let flag = 1;
  try {
    run(task);
  } catch (error) {
    flag = 2;
    data.port.postMessage({ error: String((error as Error)?.stack ?? error) });
  }
  Atomics.store(data.flags, data.slot, flag);
  Atomics.notify(data.flags, data.slot);
});
