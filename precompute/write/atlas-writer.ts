/**
 * Writes an atlas folder so that a reader never sees a half-written one:
 * - every file goes into a temporary sibling folder first;
 * - file names carry a content hash, so a cached URL never serves stale bytes;
 * - `manifest.json` is written last, and only then is the folder swapped into place.
 * A build that dies before `commit()` leaves the previous atlas untouched (the temporary folder
 * is removed by `abort()`, or by the next build if the process was killed).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { FORMAT_VERSION, manifestSchema, parseWithFriendlyErrors, type AtlasFile, type Manifest } from "../../contract/atlas.ts";

const TMP_MARK = ".tmp-";
const OLD_MARK = ".old-";

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

export class AtlasWriter {
  readonly outDir: string;
  readonly tmpDir: string;
  private readonly files: AtlasFile[] = [];
  private done = false;

  constructor(outDir: string) {
    this.outDir = resolve(outDir);
    const parent = dirname(this.outDir);
    mkdirSync(parent, { recursive: true });
    // Leftovers of killed builds of this atlas: safe to delete, the live folder never depends on them.
    for (const entry of readdirSync(parent)) {
      if (entry.startsWith(basename(this.outDir) + TMP_MARK) || entry.startsWith(basename(this.outDir) + OLD_MARK)) {
        rmSync(join(parent, entry), { recursive: true, force: true });
      }
    }
    this.tmpDir = `${this.outDir}${TMP_MARK}${process.pid}`;
    mkdirSync(this.tmpDir, { recursive: true });
  }

  /**
   * Add a file under `dir` named `<stem>.<hash12>.<ext>`; returns its path relative to the atlas.
   * The hash is of the content, so identical input gives identical names.
   */
  add(dir: string, stem: string, ext: string, content: Uint8Array | string): string {
    const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    const hash = sha256(bytes);
    const rel = `${dir}/${stem}.${hash.slice(0, 12)}.${ext}`;
    const abs = join(this.tmpDir, rel);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, bytes);
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
    if (this.done) throw new Error("atlas already committed");
    const files = [...this.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const full = parseWithFriendlyErrors(manifestSchema, { formatVersion: FORMAT_VERSION, ...manifest, files }, "manifest.json (about to be written)");
    writeFileSync(join(this.tmpDir, "manifest.json"), JSON.stringify(full, null, 1) + "\n");
    // Two renames, because rename(2) cannot replace a non-empty directory. Between them the
    // atlas path is briefly absent, never half-written; the old copy is deleted only afterwards.
    const old = `${this.outDir}${OLD_MARK}${process.pid}`;
    const hadOld = existsSync(this.outDir);
    if (hadOld) renameSync(this.outDir, old);
    try {
      renameSync(this.tmpDir, this.outDir);
    } catch (e) {
      if (hadOld) renameSync(old, this.outDir);
      throw e;
    }
    if (hadOld) rmSync(old, { recursive: true, force: true });
    this.done = true;
    return full;
  }

  /** Remove the temporary folder; the previous atlas, if any, is left as it was. */
  abort(): void {
    if (!this.done) rmSync(this.tmpDir, { recursive: true, force: true });
    this.done = true;
  }
}
