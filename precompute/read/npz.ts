/**
 * NumPy `.npz` archives: a zip of `<key>.npy` entries, stored (method 0, `np.savez`) or deflated
 * (method 8, `np.savez_compressed`). numpy writes them with Python's zipfile and
 * `force_zip64=True`, so local headers carry zip64 sizes even for small entries; archives over
 * 4 GB (Gemma Scope's 1m-wide `params.npz`) need the zip64 end records too.
 *
 * The zip directory is parsed here (about 150 lines, PKWARE APPNOTE 4.3) rather than with an
 * npm zip library: the ones that read the central directory without loading the file are
 * callback/stream-based, while readers here are synchronous and want to read a stored entry's
 * floats straight from the file in chunks (a 9 GB W_enc is never inflated or copied).
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import { constants as bufferConstants } from "node:buffer";
import { constants as zlibConstants, inflateRawSync } from "node:zlib";
import { npyHeaderEnd, NPY_PREAMBLE_BYTES, parseNpyHeader, type NpyHeader } from "./npy.ts";
import { decodeFloats, InputError, readTensorF32 } from "./safetensors.ts";

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** Absolute offset of the entry's (compressed) bytes, from its local header. */
  dataOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;

/** Deflate cannot expand data more than about 1032:1; a larger declared ratio is corrupt or hostile. */
const MAX_DEFLATE_RATIO = 1032;

function readAt(fd: number, offset: number, length: number, name: string, what: string): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, offset + got);
    if (n === 0) throw new InputError(`${name}: ends at byte ${offset + got} while reading ${what} (truncated?)`);
    got += n;
  }
  return buf;
}

function u64(buf: Buffer, at: number, name: string, what: string): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new InputError(`${name}: ${what} ${v} is absurd; the zip directory is corrupt`);
  return Number(v);
}

/**
 * Read the central directory of a zip file and each entry's local header offset. Every size and
 * offset is checked against the file size, so a truncated download fails here, naming the file.
 */
export function readZipDirectory(path: string): { fileBytes: number; entries: ZipEntry[] } {
  const name = basename(path);
  const fd = openSync(path, "r");
  try {
    const fileBytes = fstatSync(fd).size;
    if (fileBytes < 22) throw new InputError(`${name}: file is ${fileBytes} bytes, too short for a zip archive (an .npz is a zip)`);
    // The end record is 22 bytes plus a comment of at most 65,535 bytes, at the very end.
    const tailLen = Math.min(fileBytes, 22 + 0xffff);
    const tail = readAt(fd, fileBytes - tailLen, tailLen, name, "the zip end record");
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === SIG_EOCD && i + 22 + tail.readUInt16LE(i + 20) <= tailLen) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) {
      const isZip = readAt(fd, 0, 4, name, "the first bytes").readUInt32LE(0) === SIG_LOCAL;
      throw new InputError(
        isZip
          ? `${name}: starts like a zip but has no end-of-central-directory record; the file is truncated (incomplete download?)`
          : `${name}: is not a zip archive (no zip signature at byte 0 nor an end record at the end); an .npz is a zip of .npy files`,
      );
    }
    const eocdAbs = fileBytes - tailLen + eocd;
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (tail.readUInt16LE(eocd + 4) !== 0 || tail.readUInt16LE(eocd + 6) !== 0) throw new InputError(`${name}: is a multi-part (spanned) zip, which this tool does not read`);
    // Zip64: the 20-byte locator sits right before the end record and points at the zip64 end record.
    if (eocdAbs >= 20) {
      const loc = readAt(fd, eocdAbs - 20, 20, name, "the zip64 locator");
      if (loc.readUInt32LE(0) === SIG_EOCD64_LOCATOR) {
        const at = u64(loc, 8, name, "zip64 end record offset");
        if (at + 56 > fileBytes) throw new InputError(`${name}: zip64 end record offset ${at} is past the end of the ${fileBytes}-byte file (truncated?)`);
        const rec = readAt(fd, at, 56, name, "the zip64 end record");
        if (rec.readUInt32LE(0) !== SIG_EOCD64) throw new InputError(`${name}: no zip64 end record at byte ${at}; the zip directory is corrupt`);
        count = u64(rec, 32, name, "entry count");
        cdSize = u64(rec, 40, name, "central directory size");
        cdOffset = u64(rec, 48, name, "central directory offset");
      }
    }
    if (cdOffset + cdSize > fileBytes) {
      throw new InputError(`${name}: central directory [${cdOffset}, ${cdOffset + cdSize}) runs past the end of the ${fileBytes}-byte file (truncated?)`);
    }
    if (count > cdSize / 46) throw new InputError(`${name}: declares ${count} entries in a ${cdSize}-byte central directory; the zip is corrupt`);
    const cd = readAt(fd, cdOffset, cdSize, name, "the central directory");
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let n = 0; n < count; n++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== SIG_CENTRAL) throw new InputError(`${name}: central directory entry ${n} at byte ${cdOffset + p} is malformed`);
      const flags = cd.readUInt16LE(p + 8);
      const method = cd.readUInt16LE(p + 10);
      const crc32 = cd.readUInt32LE(p + 16);
      let compressedSize = cd.readUInt32LE(p + 20);
      let size = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let localHeaderOffset = cd.readUInt32LE(p + 42);
      if (p + 46 + nameLen + extraLen + commentLen > cd.length) throw new InputError(`${name}: central directory entry ${n} runs past the directory`);
      const entryName = cd.toString(flags & 0x800 ? "utf8" : "latin1", p + 46, p + 46 + nameLen);
      // The zip64 extra field holds, in this order, only the fields whose 32-bit slot is 0xFFFFFFFF.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = cd.readUInt16LE(e);
        const len = cd.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          const take = (what: string) => {
            if (q + 8 > e + 4 + len) throw new InputError(`${name}: entry "${entryName}" has a short zip64 extra field`);
            const v = u64(cd, q, name, `entry "${entryName}" ${what}`);
            q += 8;
            return v;
          };
          if (size === U32_MAX) size = take("size");
          if (compressedSize === U32_MAX) compressedSize = take("compressed size");
          if (localHeaderOffset === U32_MAX) localHeaderOffset = take("offset");
        }
        e += 4 + len;
      }
      entries.push({ name: entryName, method, flags, crc32, compressedSize, size, localHeaderOffset, dataOffset: -1 });
      p += 46 + nameLen + extraLen + commentLen;
    }
    for (const entry of entries) {
      if (entry.localHeaderOffset + 30 > fileBytes) throw new InputError(`${name}: entry "${entry.name}" starts at byte ${entry.localHeaderOffset}, past the end of the file (truncated?)`);
      const local = readAt(fd, entry.localHeaderOffset, 30, name, `the local header of "${entry.name}"`);
      if (local.readUInt32LE(0) !== SIG_LOCAL) throw new InputError(`${name}: no local header for entry "${entry.name}" at byte ${entry.localHeaderOffset}; the zip is corrupt`);
      // The local name and extra lengths may differ from the central ones (numpy's local zip64 extra).
      entry.dataOffset = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      if (entry.dataOffset + entry.compressedSize > cdOffset && entry.localHeaderOffset < cdOffset) {
        throw new InputError(
          `${name}: entry "${entry.name}" needs bytes [${entry.dataOffset}, ${entry.dataOffset + entry.compressedSize}), which run into the central directory at byte ${cdOffset}; the file is corrupt or truncated`,
        );
      }
      if (entry.dataOffset + entry.compressedSize > fileBytes) {
        throw new InputError(
          `${name}: entry "${entry.name}" needs bytes [${entry.dataOffset}, ${entry.dataOffset + entry.compressedSize}) but the file is ${fileBytes} bytes (truncated download?)`,
        );
      }
    }
    return { fileBytes, entries };
  } finally {
    closeSync(fd);
  }
}

function checkEntry(name: string, entry: ZipEntry): void {
  if (entry.flags & 0x1) throw new InputError(`${name}: entry "${entry.name}" is encrypted`);
  if (entry.method !== 0 && entry.method !== 8) {
    throw new InputError(`${name}: entry "${entry.name}" uses zip compression method ${entry.method}; only stored (0) and deflate (8), which numpy writes, are read`);
  }
  if (entry.method === 0 && entry.compressedSize !== entry.size) {
    throw new InputError(`${name}: stored entry "${entry.name}" declares ${entry.size} bytes but occupies ${entry.compressedSize}; the zip is corrupt`);
  }
  if (entry.method === 8 && entry.size > entry.compressedSize * MAX_DEFLATE_RATIO + 1024) {
    throw new InputError(`${name}: entry "${entry.name}" declares ${entry.size} bytes from ${entry.compressedSize} compressed, more than deflate can produce; the zip is corrupt`);
  }
}

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE), as zip stores it. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** Inflate a deflated entry, refusing sizes a Buffer cannot hold and checking length and CRC. */
function inflateEntry(path: string, entry: ZipEntry): Buffer {
  const name = basename(path);
  if (entry.size > bufferConstants.MAX_LENGTH) {
    throw new InputError(
      `${name}: entry "${entry.name}" inflates to ${entry.size} bytes, more than one buffer can hold (${bufferConstants.MAX_LENGTH}); re-save it with np.savez (uncompressed), which is read in place`,
    );
  }
  const fd = openSync(path, "r");
  let raw: Buffer;
  try {
    raw = readAt(fd, entry.dataOffset, entry.compressedSize, name, `entry "${entry.name}"`);
  } finally {
    closeSync(fd);
  }
  let out: Buffer;
  try {
    out = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
  } catch (e) {
    throw new InputError(`${name}: entry "${entry.name}" is not valid deflate data (${(e as Error).message}); the file is corrupt or truncated`);
  }
  if (out.length !== entry.size) throw new InputError(`${name}: entry "${entry.name}" inflated to ${out.length} bytes, but the zip directory says ${entry.size}`);
  if (crc32(out) !== entry.crc32) throw new InputError(`${name}: entry "${entry.name}" fails its CRC-32 check; the file is corrupt`);
  return out;
}

/** The first bytes of an entry's uncompressed content (enough for an npy header). */
function entryPrefix(path: string, entry: ZipEntry, want: number): Buffer {
  const name = basename(path);
  const fd = openSync(path, "r");
  try {
    if (entry.method === 0) return readAt(fd, entry.dataOffset, Math.min(want, entry.size), name, `entry "${entry.name}"`);
    // Inflate just a prefix of the compressed stream; a sync flush returns what it decodes without
    // complaining that the stream is unfinished.
    let take = Math.min(entry.compressedSize, 16 * 1024);
    for (;;) {
      const raw = readAt(fd, entry.dataOffset, take, name, `entry "${entry.name}"`);
      let out: Buffer;
      try {
        out = inflateRawSync(raw, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: Math.max(1, Math.min(entry.size, take * MAX_DEFLATE_RATIO + 1024)) });
      } catch (e) {
        throw new InputError(`${name}: entry "${entry.name}" is not valid deflate data (${(e as Error).message}); the file is corrupt`);
      }
      if (out.length >= want || take === entry.compressedSize) return out.subarray(0, Math.min(want, out.length));
      take = Math.min(entry.compressedSize, take * 16);
    }
  } finally {
    closeSync(fd);
  }
}

export interface NpzArray {
  /** Entry name without `.npy`. */
  key: string;
  entry: ZipEntry;
  header: NpyHeader;
}

export interface NpzFile {
  path: string;
  fileBytes: number;
  /** Arrays by key, in archive order. */
  arrays: Map<string, NpzArray>;
}

/**
 * Read an .npz's directory and every array's npy header (not the data). Each header's declared
 * size must equal the entry's size, so nothing is allocated from a shape the file cannot back.
 */
export function readNpzIndex(path: string): NpzFile {
  const name = basename(path);
  const { fileBytes, entries } = readZipDirectory(path);
  const arrays = new Map<string, NpzArray>();
  for (const entry of entries) {
    if (entry.name.endsWith("/")) continue;
    checkEntry(name, entry);
    const key = entry.name.replace(/\.npy$/, "");
    const where = `${name}: entry "${entry.name}"`;
    if (entry.size < 10) throw new InputError(`${where} is ${entry.size} bytes, too short for a .npy array`);
    const pre = entryPrefix(path, entry, NPY_PREAMBLE_BYTES);
    const end = npyHeaderEnd(pre, where);
    if (end > entry.size) throw new InputError(`${where}: .npy header runs to byte ${end}, past the entry's ${entry.size} bytes`);
    const header = parseNpyHeader(entryPrefix(path, entry, end), where);
    const held = entry.size - header.dataOffset;
    if (held !== header.dataBytes) {
      throw new InputError(
        `${where} declares shape (${header.shape.join(", ")}) of ${header.descr}, which needs ${header.dataBytes} bytes, ` +
          `but the entry holds ${held} bytes after its header`,
      );
    }
    if (arrays.has(key)) throw new InputError(`${name}: holds two entries named "${entry.name}"`);
    arrays.set(key, { key, entry, header });
  }
  return { path, fileBytes, arrays };
}

/**
 * One array's floats, in stored (C) order of `header.storedShape`. A stored entry is read in
 * place, in chunks; a deflated one is inflated whole (its CRC checked) and decoded.
 */
export function readNpzArrayF32(npz: NpzFile, key: string): Float32Array {
  const name = basename(npz.path);
  const arr = npz.arrays.get(key);
  if (!arr) throw new InputError(`${name}: has no array "${key}" (it has: ${[...npz.arrays.keys()].join(", ") || "none"})`);
  const h = arr.header;
  if (h.dtype === null) throw new InputError(`${name}: array "${key}": ${h.unsupported ?? `dtype ${h.descr} is not a float type`}`);
  if (arr.entry.method === 0) {
    const begin = arr.entry.dataOffset + h.dataOffset;
    const tensors = new Map([[key, { name: key, dtype: h.dtype, shape: h.storedShape, begin, end: begin + h.dataBytes }]]);
    return readTensorF32({ path: npz.path, fileBytes: npz.fileBytes, metadata: {}, tensors }, key);
  }
  const bytes = inflateEntry(npz.path, arr.entry);
  return decodeFloats(bytes.subarray(h.dataOffset, h.dataOffset + h.dataBytes), h.dtype);
}
