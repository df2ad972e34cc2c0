/**
 * Hashes of input files, for the manifest's `inputs` list. Files are read in fixed-size chunks so
 * that a multi-gigabyte weights file is never held in memory just to be hashed.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import type { InputFile } from "../../contract/atlas.ts";

const CHUNK_BYTES = 4 * 1024 * 1024;

/** sha256 of a file's bytes (lowercase hex) and its size, read in chunks. */
export function hashFile(path: string): { sha256: string; bytes: number } {
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  const fd = openSync(path, "r");
  let bytes = 0;
  try {
    for (;;) {
      const got = readSync(fd, buf, 0, CHUNK_BYTES, bytes);
      if (got === 0) break;
      hash.update(buf.subarray(0, got));
      bytes += got;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: hash.digest("hex"), bytes };
}

/**
 * The manifest entry of one input file. `name` defaults to the base name; callers reading a
 * folder of same-named batch files pass a folder-relative name (`features/batch-0.jsonl.gz`)
 * so that entries stay distinct without recording machine-specific absolute paths.
 */
export function describeInput(role: InputFile["role"], path: string, name = basename(path)): InputFile {
  const { sha256, bytes } = hashFile(path);
  return { role, name, bytes, sha256 };
}
