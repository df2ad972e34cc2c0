/** Worker thread of the two-lane layout SGD (typed-umap.ts): runs lane 1's share of each step. */
import { serveTasks } from "../neighbours/thread-pool.ts";
import { laneStep, PowTable, type LaneShared } from "./typed-umap.ts";

serveTasks<LaneShared, { n: number; step: number }>((shared, slot) => {
  const powB = new PowTable(shared.b);
  return (task) => laneStep(shared, powB, slot, task.n, task.step);
});
