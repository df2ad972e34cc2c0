/**
 * Build log: a header per stage, progress on long steps, and a totals block at the end. Progress
 * redraws one line on a terminal and prints every 10 % otherwise, so CI logs stay short.
 * Everything goes to stderr, leaving stdout for machine-readable output.
 */
import type { Progress } from "./stages.ts";

export interface StageTiming {
  name: string;
  seconds: number;
  /** Peak resident set size seen during the stage, in bytes. */
  peakRss: number;
  /**
   * CPU seconds the process used in the stage, all threads (user + system). On a loaded machine
   * wall time stretches with the load while this mostly does not, so benchmarks report both.
   */
  cpuSeconds?: number;
}

export class BuildLog {
  readonly timings: StageTiming[] = [];
  private readonly tty: boolean;
  private readonly quiet: boolean;
  private current: { name: string; start: number; peakRss: number; cpu: NodeJS.CpuUsage } | null = null;
  private rssTimer: NodeJS.Timeout | null = null;

  constructor(opts: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}) {
    this.quiet = opts.quiet ?? false;
    this.tty = Boolean((opts.stream ?? process.stderr).isTTY);
  }

  info(message: string): void {
    if (!this.quiet) process.stderr.write(`${message}\n`);
  }

  warn(message: string): void {
    process.stderr.write(`warning: ${message}\n`);
  }

  /** Run one stage: prints its header, times it and records its peak memory. */
  async stage<T>(name: string, fn: (progress: Progress) => T | Promise<T>): Promise<T> {
    this.info(`[${name}]`);
    this.current = { name, start: performance.now(), peakRss: process.memoryUsage.rss(), cpu: process.cpuUsage() };
    // RSS is sampled because Node only reports the current value; 200 ms is fine-grained enough
    // for stages that last seconds, and unref() keeps it from holding the process open.
    this.rssTimer = setInterval(() => this.sampleRss(), 200);
    this.rssTimer.unref();
    try {
      return await fn(this.progress(name));
    } finally {
      clearInterval(this.rssTimer);
      this.sampleRss();
      const seconds = (performance.now() - this.current.start) / 1000;
      const cpu = process.cpuUsage(this.current.cpu);
      this.timings.push({ name, seconds, peakRss: this.current.peakRss, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
      this.current = null;
    }
  }

  private sampleRss(): void {
    if (this.current) this.current.peakRss = Math.max(this.current.peakRss, process.memoryUsage.rss());
  }

  private progress(label: string): Progress {
    let lastPrinted = -1;
    let lastDraw = 0;
    return (done, total) => {
      if (this.quiet || total <= 0) return;
      this.sampleRss();
      const fraction = Math.min(1, done / total);
      if (this.tty) {
        const now = performance.now();
        if (done < total && now - lastDraw < 100) return;
        lastDraw = now;
        const width = 28;
        const filled = Math.round(fraction * width);
        const bar = "█".repeat(filled) + "░".repeat(width - filled);
        process.stderr.write(`\r  ${bar} ${(fraction * 100).toFixed(0).padStart(3)}%  ${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")} ${label}`);
        if (done >= total) process.stderr.write("\n");
      } else {
        const decile = Math.floor(fraction * 10);
        if (decile > lastPrinted) {
          lastPrinted = decile;
          process.stderr.write(`  ${decile * 10}% (${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")})\n`);
        }
      }
    };
  }

  /** The totals block: time and peak memory per stage. */
  summary(extra: [string, string][]): string {
    const lines = ["", "[Summary]"];
    for (const [k, v] of extra) lines.push(`  ${k.padEnd(22)} ${v}`);
    lines.push("  stage                   seconds   peak RSS");
    for (const t of this.timings) {
      lines.push(`  ${t.name.padEnd(22)} ${t.seconds.toFixed(2).padStart(8)}   ${formatBytes(t.peakRss).padStart(8)}`);
    }
    const total = this.timings.reduce((a, t) => a + t.seconds, 0);
    lines.push(`  ${"total".padEnd(22)} ${total.toFixed(2).padStart(8)}`);
    return lines.join("\n");
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}
