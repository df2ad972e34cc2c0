/**
 * Rows on a SharedArrayBuffer reach worker threads whole (thread-pool.ts `sharedRows`). Structured
 * cloning keeps a typed array's length in 32 bits, so a view of more than 4 GiB arrived cut to its
 * length mod 2^32 bytes, and a worker read stale rows past the cut. The SharedArrayBuffer here is
 * 4.5 GiB of address space, but only its first and last pages are touched.
 */
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { sharedRows } from "../../precompute/neighbours/thread-pool.ts";

/** What a worker sees of rows sent as `payload`: its length and its last value. */
function seenByWorker(payload: unknown): Promise<[number, number]> {
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    const p = workerData.payload;
    const v = p instanceof Float32Array ? p : new Float32Array(p.buffer, p.byteOffset, p.length);
    parentPort.postMessage([v.length, v[v.length - 1]]);`;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { payload } });
    w.once("message", (m: [number, number]) => void w.terminate().then(() => resolve(m)));
    w.once("error", reject);
  });
}

describe("rows sent to worker threads", () => {
  it("arrive whole past 4 GiB as sharedRows", async () => {
    const rows = new Float32Array(new SharedArrayBuffer(4.5 * 2 ** 30), 64);
    rows[0] = 1;
    rows[rows.length - 1] = 7;
    expect(await seenByWorker(sharedRows(rows))).toEqual([rows.length, 7]);
  });

  it("are null unless on a SharedArrayBuffer (workers could not see them)", () => {
    expect(sharedRows(new Float32Array(16))).toBeNull();
    expect(sharedRows(null)).toBeNull();
  });
});
