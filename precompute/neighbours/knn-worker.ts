/**
 * Worker thread of the neighbour search (see thread-pool.ts): runs its share of each task on the
 * shared rows and raises its flag when done.
 */
import { exactSearch, exactSelfDots, windowScan, type ExactShared, type WindowShared } from "./exact.ts";
import { Int8Kernel, type QuantisedRows } from "./int8.ts";
import { assignAll, assignSample, finishRows, searchCells, searchPairs, selfDots, type SearchShared } from "./partitions.ts";
import { refineRows, type RefineShared } from "./refine.ts";
import { adoptMemory, Kernel, StagedExact, type BlockKernel, type ExactKernel } from "./simd.ts";
import { rowsOf, serveTasks, type SharedRows } from "./thread-pool.ts";

export interface KnnWorkerInit {
  /** float32 rows (and spare rows) the block kernel reads, when it is the float32 one. */
  memory: WebAssembly.Memory | null;
  /** int8 rows the block kernel reads, when it is the int8 one. */
  quant: QuantisedRows | null;
  /** Where the exact kernel reads the float32 rows: their memory, or a SharedArrayBuffer to stage them from. */
  exactMemory: WebAssembly.Memory | null;
  exactShared: SharedRows | null;
  d: number;
  threads: number;
  search?: SearchShared;
  exact?: ExactShared;
  window?: WindowShared;
  refine?: RefineShared;
}

export type KnnTask =
  | { kind: "assign-sample" | "assign-all" | "self" | "cells" | "finish" | "exact-self" | "exact" | "window" | "refine" }
  | { kind: "pairs"; pairs: Int32Array };

serveTasks<KnnWorkerInit, KnnTask>((init, slot) => {
  const { memory, quant, exactMemory, exactShared, d, threads, search, exact, window, refine } = init;
  for (const m of [memory, exactMemory]) if (m) adoptMemory(m);
  const f32 = memory ? new Kernel(memory, d, slot) : null;
  const kernel: BlockKernel | null = quant ? new Int8Kernel(quant, slot) : f32;
  let exactK: ExactKernel | null = null;
  const exactKernel = (): ExactKernel => {
    exactK ??= exactMemory ? (exactMemory === memory ? f32! : new Kernel(exactMemory, d, slot)) : new StagedExact(rowsOf(exactShared!), d);
    return exactK;
  };
  // Test hook (tests/unit/neighbours-int8.test.ts): this worker dies, as a crash would, on the named task.
  const dieOn = process.env["FEATURE_ATLAS_TEST_WORKER_EXIT"];
  return (task) => {
    if (dieOn === task.kind) process.exit(70);
    switch (task.kind) {
      case "assign-sample":
        return assignSample(search!, kernel!, slot, threads);
      case "assign-all":
        return assignAll(search!, kernel!, slot, threads);
      case "self":
        return selfDots(search!, exactKernel(), slot, threads);
      case "cells":
        return searchCells(search!, kernel!);
      case "pairs":
        return searchPairs(search!, kernel!, task.pairs);
      case "finish":
        return finishRows(search!, exactKernel(), slot, threads);
      case "exact-self":
        return exactSelfDots(exact!, f32!, slot, threads);
      case "exact":
        return exactSearch(exact!, f32!, slot, threads);
      case "window":
        return windowScan(window!, f32!, slot, threads);
      case "refine":
        return refineRows(refine!, exactKernel(), slot, threads, quant ? (kernel as Int8Kernel) : null);
    }
  };
});
