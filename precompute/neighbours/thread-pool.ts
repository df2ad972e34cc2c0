/**
 * A pool of worker threads driven synchronously from the main thread: `run` hands each worker the
 * same task, does the main thread's own share, then blocks in `Atomics.wait` until every worker
 * has set its flag. Blocking keeps `buildKnnGraph` and `exactKnn` synchronous functions, as the
 * stages call them; workers run on their own event loops, so they need nothing from the blocked
 * main thread. Results travel through SharedArrayBuffers; a task's error through the worker's
 * MessagePort, which the main thread reads with `receiveMessageOnPort`.
 *
 * A worker can also die outside any task's try/catch: `process.exit`, an exception thrown from a
 * timer, running out of heap. Node reports that as 'error' / 'exit' events on the Worker object,
 * and events need an event loop, which the blocked main thread does not run. So the workers are
 * started by a supervisor thread (pool-supervisor.mjs) that does nothing but listen for those
 * events: it marks the worker dead in shared memory and wakes the main thread, which then fails
 * with the reason instead of waiting forever.
 *
 * The main thread takes part as thread 0, so `threads` threads use `threads − 1` workers.
 */
import { availableParallelism } from "node:os";
import { MessageChannel, receiveMessageOnPort, Worker, workerData, type MessagePort } from "node:worker_threads";

/** What a worker receives at start: its slot, the shared flags, its task port, and the caller's init data. */
export interface WorkerInit<T> {
  entry: string;
  slot: number;
  /** [threads] done flags (0 running, 1 done, 2 failed), then [threads] dead flags (1 dead). */
  flags: Int32Array;
  port: MessagePort;
  init: T;
}

/** Default thread count: every core the machine offers, at most 8 (the kernels' scratch slots). */
export function defaultThreads(): number {
  return Math.max(1, Math.min(8, availableParallelism()));
}

export class ThreadPool<Task> {
  private supervisor: Worker | null;
  private readonly ports: MessagePort[] = [];
  private readonly deaths: MessagePort;
  private readonly flags: Int32Array;
  private readonly threads: number;
  /** Why each dead worker died, as the supervisor reported it. */
  private readonly why = new Map<number, string>();

  /** Start `threads − 1` workers running `entry` (a TS module URL) with `init` as their data. */
  constructor(entry: URL, threads: number, init: unknown) {
    this.threads = Math.max(1, threads);
    this.flags = new Int32Array(new SharedArrayBuffer(8 * this.threads));
    const workerPorts: MessagePort[] = [];
    for (let slot = 1; slot < threads; slot++) {
      const { port1, port2 } = new MessageChannel();
      this.ports.push(port1);
      workerPorts.push(port2);
    }
    const { port1, port2 } = new MessageChannel();
    this.deaths = port1;
    const data = {
      boot: new URL("./worker-boot.mjs", import.meta.url).href,
      entry: entry.href,
      threads: this.threads,
      flags: this.flags,
      ports: workerPorts,
      deaths: port2,
      init,
    };
    this.supervisor = new Worker(new URL("./pool-supervisor.mjs", import.meta.url), { workerData: data, transferList: [...workerPorts, port2] });
    this.supervisor.unref();
  }

  get size(): number {
    return this.ports.length + 1;
  }

  private dead(slot: number): boolean {
    return Atomics.load(this.flags, this.threads + slot) !== 0;
  }

  private death(slot: number): Error {
    for (let m = receiveMessageOnPort(this.deaths); m; m = receiveMessageOnPort(this.deaths)) {
      const { slot: s, error } = m.message as { slot: number; error: string };
      if (!this.why.has(s)) this.why.set(s, error);
    }
    return new Error(`worker thread ${slot} died: ${this.why.get(slot) ?? "no reason given"}`);
  }

  /**
   * Give every worker `task`, run `main` (the main thread's share) here, then wait for the workers,
   * calling `onWait` about every 200 ms while waiting. Throws the first error of any thread, or
   * the reason a worker died.
   */
  run(task: Task, main: () => void, onWait?: () => void): void {
    if (!this.supervisor) throw new Error("thread pool is closed");
    let failure: unknown = null;
    for (let w = 0; w < this.ports.length; w++) {
      if (this.dead(w + 1)) {
        failure ??= this.death(w + 1);
        continue;
      }
      Atomics.store(this.flags, w + 1, 0);
      this.ports[w]!.postMessage(task);
    }
    if (!failure) {
      try {
        main();
      } catch (error) {
        failure = error;
      }
    }
    for (let w = 0; w < this.ports.length && !failure; w++) {
      const slot = w + 1;
      while (Atomics.load(this.flags, slot) === 0 && !this.dead(slot)) {
        Atomics.wait(this.flags, slot, 0, 200);
        onWait?.();
      }
      const flag = Atomics.load(this.flags, slot);
      if (flag === 2) {
        const message = receiveMessageOnPort(this.ports[w]!)?.message as { error?: string } | undefined;
        failure = new Error(`worker thread ${slot} failed: ${message?.error ?? "unknown error"}`);
      } else if (flag !== 1) {
        failure = this.death(slot);
      }
    }
    if (failure) {
      this.close();
      throw failure;
    }
  }

  close(): void {
    // Terminating the supervisor ends the workers it started.
    void this.supervisor?.terminate();
    this.supervisor = null;
    for (const p of this.ports) p.close();
    this.deaths.close();
  }
}

/**
 * Worker side: `setup` receives the init data and this worker's slot and returns the task runner;
 * each task's result is its flag (1 done, 2 failed, with the error sent back on the port).
 */
export function serveTasks<Init, Task>(setup: (init: Init, slot: number) => (task: Task) => void): void {
  const data = workerData as WorkerInit<Init>;
  const run = setup(data.init, data.slot);
  data.port.on("message", (task: Task) => {
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
}

/**
 * Float32 rows on a SharedArrayBuffer, sent as the buffer and where the rows lie in it. Why not
 * the Float32Array itself: structured cloning (postMessage, workerData) keeps a view's length in
 * 32 bits, so a worker got a 1 GiB view of the 9.7 GB rows at 1M, and every row past the first
 * ~116,000 read as stale data (measured: a refinement round on two threads gave recall 0.936
 * against 0.942 on one). The buffer itself arrives whole.
 */
export interface SharedRows {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  length: number;
}

/** `rows` as SharedRows for a worker (null unless it is on a SharedArrayBuffer). */
export function sharedRows(rows: Float32Array | null): SharedRows | null {
  if (!rows || !(rows.buffer instanceof SharedArrayBuffer)) return null;
  return { buffer: rows.buffer, byteOffset: rows.byteOffset, length: rows.length };
}

/** The Float32Array that `sharedRows` describes, on the worker's side. */
export function rowsOf(shared: SharedRows): Float32Array {
  return new Float32Array(shared.buffer, shared.byteOffset, shared.length);
}
