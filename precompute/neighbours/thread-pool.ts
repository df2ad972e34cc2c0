/**
 * A pool of worker threads driven synchronously from the main thread: `run` hands each worker the
 * same task, does the main thread's own share, then blocks in `Atomics.wait` until every worker
 * has set its flag. Blocking keeps `buildKnnGraph` and `exactKnn` synchronous functions, as the
 * stages call them; workers run on their own event loops, so they need nothing from the blocked
 * main thread. Results travel through SharedArrayBuffers; errors through a MessagePort that the
 * main thread reads with `receiveMessageOnPort`.
 *
 * The main thread takes part as thread 0, so `threads` threads use `threads − 1` workers.
 */
import { availableParallelism } from "node:os";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";

/** What a worker receives at start: its slot, the shared flags, and the caller's init data. */
export interface WorkerInit<T> {
  entry: string;
  slot: number;
  flags: Int32Array;
  port: MessagePort;
  init: T;
}

/** Default thread count: every core the machine offers, at most 8 (the kernels' scratch slots). */
export function defaultThreads(): number {
  return Math.max(1, Math.min(8, availableParallelism()));
}

export class ThreadPool<Task> {
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private readonly flags: Int32Array;

  /** Start `threads − 1` workers running `entry` (a TS module URL) with `init` as their data. */
  constructor(entry: URL, threads: number, init: unknown) {
    this.flags = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, threads)));
    for (let slot = 1; slot < threads; slot++) {
      const { port1, port2 } = new MessageChannel();
      const data: WorkerInit<unknown> = { entry: entry.href, slot, flags: this.flags, port: port2, init };
      const worker = new Worker(new URL("./worker-boot.mjs", import.meta.url), { workerData: data, transferList: [port2] });
      worker.unref();
      this.workers.push(worker);
      this.ports.push(port1);
    }
  }

  get size(): number {
    return this.workers.length + 1;
  }

  /**
   * Give every worker `task`, run `main` (the main thread's share) here, then wait for the workers,
   * calling `onWait` about every 200 ms while waiting.
   */
  run(task: Task, main: () => void, onWait?: () => void): void {
    for (let w = 0; w < this.workers.length; w++) {
      Atomics.store(this.flags, w + 1, 0);
      this.workers[w]!.postMessage(task);
    }
    let failure: unknown = null;
    try {
      main();
    } catch (error) {
      failure = error;
    }
    for (let w = 0; w < this.workers.length; w++) {
      const slot = w + 1;
      while (Atomics.load(this.flags, slot) === 0) {
        Atomics.wait(this.flags, slot, 0, 200);
        onWait?.();
      }
      if (Atomics.load(this.flags, slot) === 2) {
        const message = receiveMessageOnPort(this.ports[w]!)?.message as { error?: string } | undefined;
        failure ??= new Error(`worker thread ${slot} failed: ${message?.error ?? "unknown error"}`);
      }
    }
    if (failure) {
      this.close();
      throw failure;
    }
  }

  close(): void {
    for (const w of this.workers) void w.terminate();
    for (const p of this.ports) p.close();
    this.workers.length = 0;
  }
}
