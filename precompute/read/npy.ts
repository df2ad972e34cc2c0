/**
 * NumPy `.npy` arrays (spec: numpy/lib/format.py): the magic `\x93NUMPY`, a major and minor
 * version byte, the header length (u16 LE in v1.0, u32 LE in v2.0 and v3.0), then a Python dict
 * literal `{'descr': '<f4', 'fortran_order': False, 'shape': (12, 24576), }` padded with spaces
 * and a newline to a 64-byte boundary, then the raw array bytes.
 *
 * Parsed by hand: the header is a tiny subset of Python literal syntax, and the npm parsers read
 * the whole file into memory, where here only the header is read and the data is read on demand
 * (in chunks, by `readTensorF32`).
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import { InputError, readTensorF32, type SafetensorsDtype } from "./safetensors.ts";

export const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/** Headers above this are refused: real ones are under 200 bytes, and numpy itself refuses > 10,000 by default. */
const MAX_HEADER_BYTES = 1024 * 1024;

export interface NpyHeader {
  /** Format version, e.g. "1.0". */
  version: string;
  /** The dtype as numpy wrote it, e.g. `<f4`. */
  descr: string;
  /** The same dtype in safetensors terms when it is a little-endian float we can decode; null otherwise (integers, big-endian, structured). */
  dtype: SafetensorsDtype | null;
  /** Why `dtype` is null, for error messages. */
  unsupported: string | null;
  itemBytes: number;
  fortranOrder: boolean;
  /** Shape as declared. */
  shape: number[];
  /**
   * Shape of the bytes read in C order: `shape` itself, or reversed for a Fortran-order array
   * (whose bytes are the C-order bytes of its transpose).
   */
  storedShape: number[];
  /** Offset of the data from the start of the npy bytes. */
  dataOffset: number;
  /** Bytes the data must have: product(shape) × itemBytes. */
  dataBytes: number;
}

const FLOATS: Record<string, SafetensorsDtype> = { f2: "F16", f4: "F32", f8: "F64" };

/** Bytes needed before `parseNpyHeader` can say how long the header is. */
export const NPY_PREAMBLE_BYTES = 12;

/** Total length of magic + version + length field + header, from the first bytes; throws on a bad magic. */
export function npyHeaderEnd(start: Uint8Array, where: string): number {
  if (start.length < 10 || !NPY_MAGIC.equals(start.subarray(0, 6))) {
    const got = Buffer.from(start.subarray(0, 6));
    throw new InputError(`${where}: not a .npy array: expected the magic bytes \\x93NUMPY at byte 0, found ${JSON.stringify(got.toString("latin1"))}`);
  }
  const major = start[6]!;
  if (major === 1) return 10 + (start[8]! | (start[9]! << 8));
  if (major === 2 || major === 3) {
    if (start.length < 12) throw new InputError(`${where}: .npy header ends early (${start.length} bytes)`);
    const len = Buffer.from(start.subarray(8, 12)).readUInt32LE(0);
    if (len > MAX_HEADER_BYTES) throw new InputError(`${where}: .npy header length ${len} at byte 8 is absurd (limit ${MAX_HEADER_BYTES}); the file is corrupt`);
    return 12 + len;
  }
  throw new InputError(`${where}: .npy format version ${major}.${start[7]} is not one this tool reads (1.0, 2.0, 3.0)`);
}

/** Parse an npy header from bytes holding at least `npyHeaderEnd(bytes)` bytes. */
export function parseNpyHeader(bytes: Uint8Array, where: string): NpyHeader {
  const end = npyHeaderEnd(bytes, where);
  if (bytes.length < end) throw new InputError(`${where}: .npy header runs to byte ${end}, past the end of the data (${bytes.length} bytes; truncated?)`);
  const major = bytes[6]!;
  const start = major === 1 ? 10 : 12;
  const text = Buffer.from(bytes.subarray(start, end)).toString(major === 3 ? "utf8" : "latin1");
  let dict: unknown;
  try {
    dict = parsePyLiteral(text);
  } catch (e) {
    throw new InputError(`${where}: .npy header ${JSON.stringify(text.trim())} is not a Python dict literal: ${(e as Error).message}`);
  }
  if (!(dict instanceof Map)) throw new InputError(`${where}: .npy header is not a dict: ${JSON.stringify(text.trim())}`);
  const descr = dict.get("descr");
  const fortran = dict.get("fortran_order");
  const shape = dict.get("shape");
  if (typeof fortran !== "boolean") throw new InputError(`${where}: .npy header has no boolean 'fortran_order'`);
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)) {
    throw new InputError(`${where}: .npy header 'shape' is not a tuple of non-negative integers: ${JSON.stringify(text.trim())}`);
  }
  const dims = shape as number[];
  let dtype: SafetensorsDtype | null = null;
  let unsupported: string | null = null;
  let itemBytes = 0;
  const descrText = typeof descr === "string" ? descr : JSON.stringify(descr);
  const m = typeof descr === "string" ? /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr) : null;
  if (!m) {
    unsupported = `dtype ${descrText} is a structured or unknown type`;
  } else {
    const [, order, kind, size] = m as unknown as [string, string, string, string];
    itemBytes = Number(size);
    const code = `${kind}${size}`;
    if (order === ">" && itemBytes > 1) unsupported = `dtype ${descr} is big-endian; re-save it little-endian (arr.astype('<f4'))`;
    else if (FLOATS[code]) dtype = FLOATS[code]!;
    else unsupported = `dtype ${descr} is not a float type (float16, float32 or float64)`;
  }
  const count = dims.reduce((a, d) => a * d, 1);
  return {
    version: `${major}.${bytes[7]}`,
    descr: descrText,
    dtype,
    unsupported,
    itemBytes,
    fortranOrder: fortran,
    shape: dims,
    storedShape: fortran ? [...dims].reverse() : dims,
    dataOffset: end,
    dataBytes: count * itemBytes,
  };
}

/** The dtype to show for an array: safetensors-style for floats, numpy's descr otherwise. */
export function shownDtype(h: NpyHeader): string {
  return h.dtype ?? h.descr;
}

/**
 * A Python literal subset: dicts, tuples, lists, strings, integers (with an optional py2 `L`),
 * True/False/None. Dicts come back as Maps, tuples and lists as arrays.
 */
export function parsePyLiteral(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const out = new Map<unknown, unknown>();
      for (;;) {
        ws();
        if (text[i] === "}") {
          i++;
          return out;
        }
        const k = value();
        ws();
        if (text[i] !== ":") throw new Error(`expected ':' at character ${i}`);
        i++;
        out.set(k, value());
        ws();
        if (text[i] === ",") i++;
        else if (text[i] !== "}") throw new Error(`expected ',' or '}' at character ${i}`);
      }
    }
    if (c === "(" || c === "[") {
      const close = c === "(" ? ")" : "]";
      i++;
      const out: unknown[] = [];
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          return out;
        }
        out.push(value());
        ws();
        if (text[i] === ",") i++;
        else if (text[i] !== close) throw new Error(`expected ',' or '${close}' at character ${i}`);
      }
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated string at character ${i}`);
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    const m = /^(-?\d+)L?|^(True|False|None)/.exec(text.slice(i));
    if (!m) throw new Error(`unexpected ${JSON.stringify(text.slice(i, i + 10))} at character ${i}`);
    i += m[0].length;
    if (m[2] === "True") return true;
    if (m[2] === "False") return false;
    if (m[2] === "None") return null;
    return Number(m[1]);
  };
  const v = value();
  ws();
  if (i !== text.length) throw new Error(`unexpected ${JSON.stringify(text.slice(i, i + 10))} at character ${i}`);
  return v;
}

/** A standalone .npy file: its header and where its data starts in the file. */
export interface NpyFile {
  path: string;
  fileBytes: number;
  header: NpyHeader;
}

/** Read and check the header of a .npy file (not its data). */
export function readNpyHeader(path: string): NpyFile {
  const name = basename(path);
  const fd = openSync(path, "r");
  try {
    const fileBytes = fstatSync(fd).size;
    const pre = Buffer.alloc(Math.min(fileBytes, NPY_PREAMBLE_BYTES));
    readSync(fd, pre, 0, pre.length, 0);
    if (fileBytes < 10) {
      if (pre.length >= 6 && NPY_MAGIC.equals(pre.subarray(0, 6))) throw new InputError(`${name}: file is ${fileBytes} bytes, too short for a .npy header`);
      npyHeaderEnd(pre, name);
    }
    const end = npyHeaderEnd(pre, name);
    if (end > fileBytes) throw new InputError(`${name}: .npy header runs to byte ${end}, past the end of the ${fileBytes}-byte file (truncated?)`);
    const buf = Buffer.alloc(end);
    readSync(fd, buf, 0, end, 0);
    const header = parseNpyHeader(buf, name);
    const held = fileBytes - header.dataOffset;
    if (held !== header.dataBytes) {
      throw new InputError(
        `${name}: header declares shape (${header.shape.join(", ")}) of ${header.descr}, which needs ${header.dataBytes} bytes, ` +
          `but the file holds ${held} bytes after its ${header.dataOffset}-byte header${held < header.dataBytes ? " (truncated?)" : ""}`,
      );
    }
    return { path, fileBytes, header };
  } finally {
    closeSync(fd);
  }
}

/** The float data of a .npy file as Float32Array, in stored (C) order of `header.storedShape`. */
export function readNpyF32(file: NpyFile, what = "array"): Float32Array {
  const h = file.header;
  if (h.dtype === null) throw new InputError(`${basename(file.path)}: ${h.unsupported ?? `dtype ${h.descr} is not a float type`}`);
  const begin = h.dataOffset;
  return readTensorF32(
    { path: file.path, fileBytes: file.fileBytes, metadata: {}, tensors: new Map([[what, { name: what, dtype: h.dtype, shape: h.storedShape, begin, end: begin + h.dataBytes }]]) },
    what,
  );
}
