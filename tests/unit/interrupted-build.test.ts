/**
 * Interrupted builds never cost the previous atlas: the CLI is killed with SIGKILL at several
 * stages, a build whose writes hit a full disk fails with a clear message, and a build killed
 * between the two renames of the swap is repaired by the next one. After each, the previous
 * atlas is byte for byte what its manifest lists, and the next build succeeds, cleans up the
 * leftovers and resumes from the stage cache.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseManifest } from "../../contract/atlas.ts";
import { buildAtlas } from "../../precompute/build.ts";
import { describeEstimate, estimateMemory, memoryLimits, ResourceError } from "../../precompute/resources.ts";
import { AtlasWriter } from "../../precompute/write/atlas-writer.ts";
import { syntheticDictionary, writeSaeLensFolder } from "../../scripts/synthetic-dictionary.ts";
import { listedFiles } from "./helpers/atlas-files.ts";
import { cleanTemp, repoRoot, tempDir } from "./helpers/read-files.ts";

/** Writes into an atlas's temporary folder fail with ENOSPC once `failAfter` of them have succeeded. */
const disk = vi.hoisted(() => ({ failAfter: -1, writes: 0 }));
vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  const writeFileSync = ((path: unknown, ...rest: unknown[]) => {
    if (disk.failAfter >= 0 && String(path).includes("atlas.tmp-") && disk.writes++ >= disk.failAfter) {
      const e = Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: "ENOSPC", errno: -28, syscall: "write", path: String(path) });
      throw e;
    }
    return (fs.writeFileSync as (...a: unknown[]) => void)(path, ...rest);
  }) as typeof fs.writeFileSync;
  return { ...fs, default: { ...fs, writeFileSync }, writeFileSync };
});

afterAll(cleanTemp);

let work: string;
let dict: string;
let out: string;

/** Every file of a folder, relative path → sha256. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else files.set(relative(dir, p), createHash("sha256").update(readFileSync(p)).digest("hex"));
    }
  };
  walk(dir);
  return files;
}

/** The atlas is exactly what its manifest lists: same manifest bytes, every file present with its hash, nothing else. */
function expectIntact(before: { manifest: Buffer; files: Map<string, string> }): void {
  const manifestBytes = readFileSync(join(out, "manifest.json"));
  expect(manifestBytes.equals(before.manifest)).toBe(true);
  const manifest = parseManifest(JSON.parse(manifestBytes.toString("utf8")));
  const now = snapshot(out);
  for (const f of listedFiles(out, manifest)) expect(now.get(f.path), f.path).toBe(f.sha256);
  expect(now).toEqual(before.files);
}

function remember(): { manifest: Buffer; files: Map<string, string> } {
  return { manifest: readFileSync(join(out, "manifest.json")), files: snapshot(out) };
}

/** Run the CLI and SIGKILL it as soon as stderr shows `marker`. Resolves with what it printed. */
function killAt(marker: string, args: string[]): Promise<{ stderr: string; pid: number; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "precompute", "cli.ts"), "build", dict, "--out", out, ...args], { cwd: repoRoot });
    let stderr = "";
    let killed = false;
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
      if (!killed && stderr.includes(marker)) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    child.on("error", reject);
    child.on("close", (_code, signal) => resolve({ stderr, pid: child.pid!, signal }));
  });
}

beforeAll(async () => {
  work = tempDir("atlas-interrupt-");
  dict = join(work, "dict");
  // Large enough that each stage lasts well beyond the few milliseconds a kill takes to land.
  writeSaeLensFolder(dict, syntheticDictionary({ n: 6000, d: 48, seed: 5 }));
  const labels: Record<string, string> = {};
  for (let i = 0; i < 6000; i++) labels[i] = `feature ${i}`;
  writeFileSync(join(dict, "labels.json"), JSON.stringify(labels));
  out = join(work, "atlases", "atlas");
  await buildAtlas({ dictionary: dict, out, quiet: true, seed: 1, shardSize: 8 });
});

describe("a build killed with SIGKILL", () => {
  // Seed 2 differs from the atlas on disk, so a wrongly swapped-in atlas would show.
  const args = ["--seed", "2", "--shard-size", "8"];

  for (const marker of ["[Building kNN graph]", "[Laying out", "[Writing feature shards]"]) {
    it(`after "${marker}" leaves the previous atlas intact`, async () => {
      const before = remember();
      const run = await killAt(marker, args);
      expect(run.signal).toBe("SIGKILL");
      expect(run.stderr).toContain(marker);
      expect(run.stderr).not.toContain("[Summary]");
      expectIntact(before);
      // Its temporary folder and lock are left behind, for the next build to clear.
      expect(readdirSync(join(work, "atlases"))).toContain(`atlas.tmp-${run.pid}`);
      expect(existsSync(`${out}.lock`)).toBe(true);
    });
  }

  it("the next build succeeds, resumes from the cache and clears the leftovers", async () => {
    const stderr: string[] = [];
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true));
    let manifest;
    try {
      manifest = (await buildAtlas({ dictionary: dict, out, seed: 2, shardSize: 8 })).manifest;
    } finally {
      spy.mockRestore();
    }
    const log = stderr.join("");
    // kNN and layout were finished by the killed runs before they died.
    expect(log).toContain("graph from the cache");
    expect(log).toContain("layout from the cache");
    expect(log).toMatch(/removed atlas\.tmp-\d+, left by a build that did not finish/);
    // The memory estimate comes before the long stages.
    expect(log).toMatch(/ {2}memory: about [\d.]+ [KMG]B at peak \([\d.]+ [KMG]B arrays, [\d.]+ [KMG]B JS heap\); [\d.]+ [KMG]B available of [\d.]+ [KMG]B, JS heap limit [\d.]+ [KMG]B\n\[Normalising decoder rows\]/);
    expect(log.indexOf("  memory: ")).toBeLessThan(log.indexOf("[Building kNN graph]"));
    expect(manifest.params.seed).toBe(2);
    expect(readdirSync(join(work, "atlases")).sort()).toEqual([".atlas-cache", "atlas"]);
    expectIntact(remember());
  });
});

describe("a build that runs out of disk", () => {
  it("says so in one sentence, and the previous atlas and folder are as they were", async () => {
    const before = remember();
    disk.failAfter = 5;
    disk.writes = 0;
    let error: unknown;
    try {
      await buildAtlas({ dictionary: dict, out, quiet: true, seed: 3, shardSize: 8 });
    } catch (e) {
      error = e;
    } finally {
      disk.failAfter = -1;
    }
    expect(error).toBeInstanceOf(ResourceError);
    expect((error as Error).message).toMatch(
      /^the disk is full \(ENOSPC\) while writing the atlas \(5 files written so far\) \(.*atlas\.tmp-\d+\/.+\)\. Free some space and build again; the previous atlas, if any, is untouched\.$/,
    );
    expectIntact(before);
    expect(readdirSync(join(work, "atlases")).sort()).toEqual([".atlas-cache", "atlas"]);
  });

  it("full disks and exhausted memory are told apart from bugs (the CLI prints their message without a stack)", async () => {
    const { asResourceError } = await import("../../precompute/resources.ts");
    const e = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    expect(asResourceError(e, "writing the atlas")?.message).toBe(
      "the disk is full (ENOSPC) while writing the atlas. Free some space and build again; the previous atlas, if any, is untouched.",
    );
    // Out of memory is told apart from a bug: a huge length is memory, a negative one is not.
    expect(asResourceError(new RangeError("Array buffer allocation failed"), "laying out")?.message).toMatch(/^out of memory while laying out \(Array buffer allocation failed\)\. .*--max-old-space-size/);
    expect(asResourceError(new RangeError("Invalid typed array length: 17179869184"), "x")).toBeInstanceOf(ResourceError);
    expect(asResourceError(new RangeError("Invalid typed array length: -1"), "x")).toBeNull();
    expect(asResourceError(new TypeError("x is undefined"), "x")).toBeNull();
  });
});

describe("the memory estimate", () => {
  const usage = { rss: 150 * 2 ** 20, heapUsed: 50 * 2 ** 20 };
  const fits = { available: 16 * 2 ** 30, total: 24 * 2 ** 30, heapLimit: 4 * 2 ** 30 };

  it("grows with the dictionary: two copies of the rows, the index, the graph and the layout", () => {
    const small = estimateMemory({ n: 4096, d: 100, k: 15, m: 16, labelChars: 0, usage });
    const big = estimateMemory({ n: 1_000_000, d: 2304, k: 15, m: 16, labelChars: 0, usage });
    expect(small.total).toBeGreaterThan(usage.rss);
    // 1M × 2304 float32 rows are 9.2 GB; the unit copy and the index's copy need twice that.
    expect(big.external).toBeGreaterThan(2 * 1_000_000 * 2304 * 4);
    expect(big.total).toBeLessThan(4 * 1_000_000 * 2304 * 4);
    // The typed layout engine is linear in the edges: ~1.5 × 16 edges of ~40 bytes a point.
    expect(Object.fromEntries(big.parts).layout).toBeLessThan(2 ** 30);
  });

  it("says nothing when the build fits, and gives advice when it does not", () => {
    const est = estimateMemory({ n: 16384, d: 768, k: 15, m: 16, labelChars: 500_000, usage });
    expect(describeEstimate(est, fits).warning).toBeNull();
    expect(describeEstimate(est, { ...fits, available: 100 * 2 ** 20 }).warning).toMatch(
      /^this build may run out of memory: it needs about [\d.]+ MB more than the 150\.0 MB it holds now, and only 100\.0 MB of memory is available; close other programs/,
    );
    // What it already holds is not counted twice: a peak above "available" that grows less than it fits.
    const growth = est.total - est.resident;
    expect(describeEstimate(est, { ...fits, available: growth + 2 ** 20 }).warning).toBeNull();
    expect(describeEstimate(est, { ...fits, available: growth - 2 ** 20 }).warning).toMatch(/may run out of memory/);
    const heavy = { ...est, heap: 3.9 * 2 ** 30 };
    expect(describeEstimate(heavy, fits).warning).toMatch(/JS heap part \(3\.90 GB\) is near or above Node's heap limit \(4\.00 GB\); raise it with NODE_OPTIONS=--max-old-space-size=6144/);
  });

  it("reads the machine's limits", () => {
    const l = memoryLimits();
    expect(l.available).toBeGreaterThan(0);
    expect(l.available).toBeLessThanOrEqual(l.total);
    expect(l.heapLimit).toBeGreaterThan(0);
  });
});

describe("a build killed between the two renames of the swap", () => {
  it("is repaired by the next writer, which puts the previous atlas back", () => {
    const before = remember();
    // A pid that no longer runs: a process that has exited.
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    const pid = Number(dead.stdout);
    // The state a kill leaves: <out> moved aside, the new atlas complete in its temporary folder.
    renameSync(out, `${out}.old-${pid}`);
    mkdirSync(`${out}.tmp-${pid}`);
    writeFileSync(join(`${out}.tmp-${pid}`, "manifest.json"), "{}");
    expect(existsSync(out)).toBe(false);
    const writer = new AtlasWriter(out);
    expect(writer.recovered).toEqual([
      `restored the previous atlas from atlas.old-${pid} (a build was killed while swapping it)`,
      `removed atlas.tmp-${pid}, left by a build that did not finish`,
    ]);
    writer.abort();
    expectIntact(before);
    expect(readdirSync(join(work, "atlases")).sort()).toEqual([".atlas-cache", "atlas"]);
  });
});

describe("two builds of one atlas at once", () => {
  it("the second is refused while the first's process runs, and takes over once it has died", () => {
    // The test runner's parent process is alive and is not this one.
    writeFileSync(`${out}.lock`, `${process.ppid}\n`);
    expect(() => new AtlasWriter(out)).toThrow(new ResourceError(`another build (process ${process.ppid}) is writing ${out}; wait for it to finish, or delete ${out}.lock if no build is running`));
    const dead = Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout);
    writeFileSync(`${out}.lock`, `${dead}\n`);
    const writer = new AtlasWriter(out);
    expect(readFileSync(`${out}.lock`, "utf8")).toBe(`${process.pid}\n`);
    expect(() => new AtlasWriter(out)).toThrow(/is already being written by this process/);
    writer.abort();
    expect(existsSync(`${out}.lock`)).toBe(false);
  });
});
