/**
 * Writes an atlas folder so that a reader never sees a half-written one:
 * - every file goes into a temporary sibling folder `<out>.tmp-<pid>` first;
 * - file names carry a content hash, so a cached URL never serves stale bytes;
 * - `manifest.json` is written last, and only then is the folder swapped into place.
 * A build that dies before `commit()` leaves the previous atlas untouched (the temporary folder
 * is removed by `abort()`, or by the next build if the process was killed).
 *
 * The swap is two renames (`<out>` → `<out>.old-<pid>`, then the temporary folder → `<out>`),
 * because rename(2) cannot replace a non-empty directory. Between them `<out>` is absent for a
 * few microseconds: a site build scanning at that instant skips the atlas, and never sees a mix
 * of old and new files. A build killed inside that window leaves the previous atlas in
 * `<out>.old-<pid>`; the next build of the same atlas renames it back before doing anything else.
 *
 * A fully atomic swap would make `<out>` a symlink to versioned folders and replace the link
 * with one rename. It is not done: every consumer would have to follow the link (the site's
 * copy step, rsync and `cp -r` to a host, zip uploads), a symlink cannot replace an existing
 * real folder in one step either, and Windows needs privileges for symlinks. The window above
 * cannot expose a partial atlas, only a missing one, and the recovery closes it.
 *
 * Durability against power loss (fsync of every file and folder) is not attempted: after a
 * crash of the machine, rebuild. Process crashes and SIGKILL are covered.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { FORMAT_VERSION, manifestSchema, parseWithFriendlyErrors, type AtlasFile, type AtlasFileList, type Manifest } from "../../contract/atlas.ts";
import { asResourceError, ResourceError } from "../resources.ts";

const TMP_MARK = ".tmp-";
const OLD_MARK = ".old-";
const LOCK_SUFFIX = ".lock";
/** Locks this process holds, since a pid check cannot tell two writers of one process apart. */
const heldHere = new Set<string>();

export function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * JSON with keys in insertion order and no whitespace. Records are built field by field in a
 * fixed order, so this is deterministic without a key-sorting pass over megabytes of data.
 */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === "number" && !Number.isFinite(v)) {
      throw new Error(`refusing to write a non-finite number (${v}) into JSON`);
    }
    return v;
  });
}

/** Whether a process id belongs to a running process (EPERM: it runs, as another user). */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid in a leftover's name (`demo.tmp-1234` → 1234), or null. */
function leftoverPid(entry: string, base: string): number | null {
  for (const mark of [TMP_MARK, OLD_MARK]) {
    if (entry.startsWith(base + mark)) {
      const pid = Number(entry.slice(base.length + mark.length));
      return Number.isSafeInteger(pid) ? pid : null;
    }
  }
  return null;
}

export class AtlasWriter {
  readonly outDir: string;
  readonly tmpDir: string;
  private readonly lockPath: string;
  private readonly files: AtlasFile[] = [];
  private done = false;
  /** What recovery did when the writer was opened, for the build log. */
  readonly recovered: string[] = [];
  /** Name of the entry file written last (`manifest.json`; `splits.json` for a splits pair folder). */
  private readonly entry: string;

  constructor(outDir: string, entry = "manifest.json") {
    this.entry = entry;
    this.outDir = resolve(outDir);
    const parent = dirname(this.outDir);
    const base = basename(this.outDir);
    try {
      mkdirSync(parent, { recursive: true });
    } catch (e) {
      throw asResourceError(e, `creating ${parent}`) ?? e;
    }
    this.lockPath = `${this.outDir}${LOCK_SUFFIX}`;
    this.tmpDir = `${this.outDir}${TMP_MARK}${process.pid}`;
    this.lock();
    try {
      this.recover(parent, base);
      rmSync(this.tmpDir, { recursive: true, force: true });
      mkdirSync(this.tmpDir, { recursive: true });
    } catch (e) {
      this.unlock();
      throw asResourceError(e, `preparing ${this.outDir}`) ?? e;
    }
  }

  /**
   * One build per atlas folder at a time: a second one would delete the first's temporary
   * folder. The lock names its pid, so a lock left by a killed build is taken over.
   */
  private lock(): void {
    if (heldHere.has(this.lockPath)) throw new Error(`${this.outDir} is already being written by this process`);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockPath, "wx");
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        heldHere.add(this.lockPath);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw asResourceError(e, `creating ${this.lockPath}`) ?? e;
      }
      let holder = NaN;
      try {
        holder = Number(readFileSync(this.lockPath, "utf8").trim());
      } catch {
        /* removed meanwhile: try again */
      }
      if (holder !== process.pid && processAlive(holder)) {
        throw new ResourceError(
          `another build (process ${holder}) is writing ${this.outDir}; wait for it to finish, or delete ${this.lockPath} if no build is running`,
        );
      }
      rmSync(this.lockPath, { force: true });
    }
    throw new ResourceError(`could not take the lock ${this.lockPath}; delete it if no build is running`);
  }

  private unlock(): void {
    heldHere.delete(this.lockPath);
    rmSync(this.lockPath, { force: true });
  }

  /**
   * Undo what killed builds left: an atlas moved aside by a commit that never finished is put
   * back, and temporary folders of processes that no longer run are deleted.
   */
  private recover(parent: string, base: string): void {
    const leftovers = readdirSync(parent)
      .map((entry) => ({ entry, pid: leftoverPid(entry, base) }))
      .filter((l): l is { entry: string; pid: number } => l.pid !== null && (l.pid === process.pid || !processAlive(l.pid)));
    if (!existsSync(this.outDir)) {
      const moved = leftovers
        .filter((l) => l.entry.startsWith(base + OLD_MARK) && existsSync(join(parent, l.entry, this.entry)))
        .sort((a, b) => statSync(join(parent, b.entry)).mtimeMs - statSync(join(parent, a.entry)).mtimeMs)[0];
      if (moved) {
        renameSync(join(parent, moved.entry), this.outDir);
        this.recovered.push(`restored the previous atlas from ${moved.entry} (a build was killed while swapping it)`);
      }
    }
    for (const l of leftovers) {
      const p = join(parent, l.entry);
      if (!existsSync(p)) continue;
      rmSync(p, { recursive: true, force: true });
      this.recovered.push(`removed ${l.entry}, left by a build that did not finish`);
    }
  }

  private write(abs: string, bytes: Uint8Array | string): void {
    try {
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, bytes);
    } catch (e) {
      throw asResourceError(e, `writing the atlas (${this.files.length} files written so far)`) ?? e;
    }
  }

  /**
   * Add a file under `dir` ("" for the atlas folder itself) named `<stem>.<hash12>.<ext>`; returns
   * its path relative to the atlas.
   * The hash is of the content, so identical input gives identical names.
   */
  add(dir: string, stem: string, ext: string, content: Uint8Array | string): string {
    if (this.done) throw new Error("atlas already committed or aborted");
    const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    const hash = sha256(bytes);
    const rel = `${dir ? `${dir}/` : ""}${stem}.${hash.slice(0, 12)}.${ext}`;
    this.write(join(this.tmpDir, rel), bytes);
    this.files.push({ path: rel, bytes: bytes.byteLength, sha256: hash });
    return rel;
  }

  /** Total bytes written so far (excluding the manifest). */
  get bytesWritten(): number {
    return this.files.reduce((a, f) => a + f.bytes, 0);
  }

  get fileCount(): number {
    return this.files.length;
  }

  /**
   * Validate the manifest against the contract, write it last, then swap the folder into place.
   * Returns the manifest as written.
   */
  commit(manifest: Omit<Manifest, "files" | "formatVersion">): Manifest {
    const listed = this.sortedFiles();
    const list: AtlasFileList = { formatVersion: FORMAT_VERSION, files: listed };
    const count = listed.length;
    const bytes = this.bytesWritten;
    const path = this.add("", "files", "json", stableJson(list));
    const full = parseWithFriendlyErrors(manifestSchema, { formatVersion: FORMAT_VERSION, ...manifest, files: { path, count, bytes } }, "manifest.json (about to be written)");
    this.commitEntry(JSON.stringify(full, null, 1) + "\n");
    return full;
  }

  /** Every file added so far, sorted by path (what an entry file lists). */
  sortedFiles(): AtlasFile[] {
    return [...this.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** Write the entry file (already validated by the caller) last, then swap the folder into place. */
  commitEntry(text: string): void {
    if (this.done) throw new Error("atlas already committed or aborted");
    this.write(join(this.tmpDir, this.entry), text);
    const old = `${this.outDir}${OLD_MARK}${process.pid}`;
    const hadOld = existsSync(this.outDir);
    if (hadOld) renameSync(this.outDir, old);
    try {
      renameSync(this.tmpDir, this.outDir);
    } catch (e) {
      if (hadOld) renameSync(old, this.outDir);
      throw asResourceError(e, `moving the new atlas into place`) ?? e;
    }
    this.done = true;
    // From here the new atlas is live; failing to delete the old copy only leaves litter that
    // the next build removes.
    if (hadOld) rmSync(old, { recursive: true, force: true });
    this.unlock();
  }

  /** Remove the temporary folder; the previous atlas, if any, is left as it was. */
  abort(): void {
    if (!this.done) {
      rmSync(this.tmpDir, { recursive: true, force: true });
      this.unlock();
    }
    this.done = true;
  }
}
