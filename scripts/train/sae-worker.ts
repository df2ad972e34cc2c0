/** Worker thread for trainer.ts: runs the kernels on the shared workspace it is started with. */
import { parentPort, workerData } from "node:worker_threads";
import { accumulateGradients, allocScratch, encodeRows, zeroGrads } from "./topk-sae.ts";
import type { Workspace, WorkerRequest, WorkerReply } from "./trainer.ts";

const ws = workerData as Workspace;
const scratch = allocScratch(ws.sae.dIn, ws.sae.dSae, ws.k, ws.kAux);
const port = parentPort!;

port.on("message", (m: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    if (m.type === "grad") {
      const g = ws.grads[m.shard]!;
      zeroGrads(g);
      const stats = accumulateGradients(ws.sae, ws.x, ws.order, m.start, m.end, m.useDead ? ws.dead : null, m.o, g, ws.fired[m.shard]!, scratch);
      reply = { id: m.id, stats };
    } else {
      reply = { id: m.id, sse: encodeRows(ws.sae, ws.x, m.start, m.end, ws.k, ws.encIdx, ws.encVal, scratch) };
    }
  } catch (e) {
    reply = { id: m.id, error: (e as Error).stack ?? String(e) };
  }
  port.postMessage(reply);
});
