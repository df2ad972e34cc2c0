/**
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON describing each tensor
 * (dtype, shape, byte offsets relative to the end of the header), then the raw little-endian data.
 * Spec: huggingface/safetensors. We parse it by hand because it is 100 lines and the npm parsers
 * either pull in a tensor runtime or read the whole file into one buffer; here only the header is
 * read eagerly and each tensor is read on demand, so a 4 GB file never sits in memory twice.
 */
import { openSync, readSync, closeSync, fstatSync } from "node:fs";
import { basename } from "node:path";

export type SafetensorsDtype = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** Headers above this size are refused: real ones are a few KB, and a corrupt length could ask for gigabytes. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  path: string;
  fileBytes: number;
  metadata: Record<string, string>;
  tensors: Map<string, TensorInfo>;
}

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

function fail(path: string, msg: string): never {
  throw new InputError(`${basename(path)}: ${msg}`);
}

/** Read and validate the header of a safetensors file. Throws InputError naming the file and the problem. */
export function readSafetensorsHeader(path: string): SafetensorsFile {
  const fd = openSync(path, "r");
  try {
    const fileBytes = fstatSync(fd).size;
    if (fileBytes < 8) fail(path, `file is ${fileBytes} bytes, too short for a safetensors header (needs at least 8)`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER_BYTES)) fail(path, `header length ${n} at byte 0 is absurd (limit ${MAX_HEADER_BYTES}); the file is probably not safetensors or is corrupt`);
    const headerLen = Number(n);
    if (8 + headerLen > fileBytes) fail(path, `header length ${headerLen} runs past the end of the ${fileBytes}-byte file (truncated download?)`);
    const headerBuf = Buffer.alloc(headerLen);
    readSync(fd, headerBuf, 0, headerLen, 8);
    let header: unknown;
    try {
      header = JSON.parse(headerBuf.toString("utf8"));
    } catch (e) {
      fail(path, `header (bytes 8–${8 + headerLen}) is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof header !== "object" || header === null || Array.isArray(header)) fail(path, "header is not a JSON object");
    const dataStart = 8 + headerLen;
    const dataBytes = fileBytes - dataStart;
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === "__metadata__") {
        metadata = (raw ?? {}) as Record<string, string>;
        continue;
      }
      const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const dtype = t?.dtype as SafetensorsDtype;
      if (!(typeof dtype === "string" && dtype in DTYPE_BYTES)) fail(path, `tensor "${name}" has unsupported dtype ${JSON.stringify(t?.dtype)}`);
      if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(path, `tensor "${name}" has an invalid shape ${JSON.stringify(t.shape)}`);
      const off = t.data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[0] > off[1]) {
        fail(path, `tensor "${name}" has invalid data_offsets ${JSON.stringify(off)}`);
      }
      const [b, e] = off as [number, number];
      if (e > dataBytes) fail(path, `tensor "${name}" data_offsets [${b}, ${e}] run past the end of the data (${dataBytes} bytes; truncated file?)`);
      const shape = t.shape as number[];
      const expected = shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[dtype];
      if (expected !== e - b) fail(path, `tensor "${name}" is ${dtype} of shape [${shape.join(", ")}], which needs ${expected} bytes, but its data_offsets span ${e - b}`);
      tensors.set(name, { name, dtype, shape, begin: dataStart + b, end: dataStart + e });
    }
    const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      const cur = sorted[i]!;
      if (cur.begin < prev.end) fail(path, `tensors "${prev.name}" and "${cur.name}" overlap in the data section`);
    }
    return { path, fileBytes, metadata, tensors };
  } finally {
    closeSync(fd);
  }
}

/** Half-precision (IEEE 754 binary16) to float. */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 0x1f) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Float dtypes `readTensorF32` can decode. */
export const FLOAT_DTYPES: ReadonlySet<SafetensorsDtype> = new Set(["F64", "F32", "F16", "BF16"]);

/** Decode little-endian bytes of a float dtype to Float32Array. Copies, so alignment never matters. */
export function decodeFloats(bytes: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  const out = new Float32Array(bytes.byteLength / DTYPE_BYTES[dtype]);
  decodeFloatsInto(bytes, dtype, out, 0);
  return out;
}

function decodeFloatsInto(bytes: Uint8Array, dtype: SafetensorsDtype, out: Float32Array, at: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  switch (dtype) {
    case "F32":
      for (let i = 0; i < n; i++) out[at + i] = view.getFloat32(i * 4, true);
      break;
    case "F64":
      for (let i = 0; i < n; i++) out[at + i] = view.getFloat64(i * 8, true);
      break;
    case "F16":
      for (let i = 0; i < n; i++) out[at + i] = f16ToF32(view.getUint16(i * 2, true));
      break;
    case "BF16": {
      // bfloat16 is the top half of a float32: shift it back into place.
      const u32 = new Uint32Array(out.buffer, out.byteOffset + at * 4, n);
      for (let i = 0; i < n; i++) u32[i] = view.getUint16(i * 2, true) << 16;
      break;
    }
    default:
      throw new InputError(`dtype ${dtype} is not a float type`);
  }
}

/**
 * Float arrays at least this big are allocated on a SharedArrayBuffer. Why: a decoder whose rows
 * are too big for one WebAssembly memory (1M × 2,304 float32 is 9.7 GB) is normalised in place
 * and read by the neighbour search's worker threads straight from its buffer; a plain ArrayBuffer
 * cannot be shared, so the exact re-rank and every refinement round ran on the main thread alone
 * (233 s a round at 1M on one thread). Below this size the rows are copied into a WebAssembly
 * memory anyway, so a plain array is as good.
 */
export const SHARED_FROM_BYTES = 2 ** 30;

/** A zeroed Float32Array of `length`, on a SharedArrayBuffer from `sharedFrom` bytes up. */
export function allocateFloats(length: number, sharedFrom = SHARED_FROM_BYTES): Float32Array {
  return length * 4 >= sharedFrom ? new Float32Array(new SharedArrayBuffer(length * 4)) : new Float32Array(length);
}

/** Bytes read per step by readTensorF32: large enough to be fast, small enough not to double peak memory. */
const READ_CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * Read one tensor as Float32Array (row-major, as stored). The file is read in chunks decoded
 * straight into the result, so peak memory is the result plus one chunk, and tensors above
 * Buffer's size limit still read.
 */
export function readTensorF32(file: SafetensorsFile, name: string, sharedFrom = SHARED_FROM_BYTES): Float32Array {
  const info = file.tensors.get(name);
  if (!info) fail(file.path, `has no tensor "${name}" (it has: ${[...file.tensors.keys()].join(", ") || "none"})`);
  if (!FLOAT_DTYPES.has(info.dtype)) fail(file.path, `tensor "${name}" has dtype ${info.dtype}, which is not a float type (expected F32, F16, BF16 or F64)`);
  const width = DTYPE_BYTES[info.dtype];
  const total = info.end - info.begin;
  const out = allocateFloats(total / width, sharedFrom);
  const buf = Buffer.allocUnsafe(Math.max(8, Math.min(total, READ_CHUNK_BYTES)));
  const fd = openSync(file.path, "r");
  try {
    let done = 0;
    while (done < total) {
      const want = Math.min(buf.length, total - done);
      let got = 0;
      while (got < want) {
        const n = readSync(fd, buf, got, want - got, info.begin + done + got);
        if (n === 0) fail(file.path, `ended early while reading tensor "${name}" (at byte ${info.begin + done + got})`);
        got += n;
      }
      decodeFloatsInto(buf.subarray(0, want), info.dtype, out, done / width);
      done += want;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** float → bfloat16 bits, round to nearest even (as torch does). */
export function f32ToBf16(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  if ((u & 0x7f800000) === 0x7f800000 && u & 0x7fffff) return (u >>> 16) | 0x40; // keep NaN a NaN
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float → binary16 bits, round to nearest even. */
export function f32ToF16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export interface TensorToWrite {
  dtype: "F32" | "F16" | "BF16";
  shape: number[];
  data: Float32Array | number[];
}

/**
 * Encode tensors as a safetensors file. Used by the demo trainer and by tests that need files
 * written exactly as the Python libraries write them. Tensors are laid out in key order, as the
 * Rust implementation does, so the bytes are deterministic.
 */
export function encodeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Buffer {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const chunks: Buffer[] = [];
  for (const name of names) {
    const t = tensors[name]!;
    const n = t.shape.reduce((a, d) => a * d, 1);
    if (n !== t.data.length) throw new Error(`tensor ${name}: shape [${t.shape}] needs ${n} values, got ${t.data.length}`);
    const width = t.dtype === "F32" ? 4 : 2;
    const buf = Buffer.alloc(n * width);
    if (t.dtype === "F32" && t.data instanceof Float32Array && new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) {
      // Little-endian host: the bytes are already in file order.
      buf.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    } else for (let i = 0; i < n; i++) {
      const v = t.data[i]!;
      if (t.dtype === "F32") buf.writeFloatLE(v, i * 4);
      else buf.writeUInt16LE(t.dtype === "F16" ? f32ToF16(v) : f32ToBf16(v), i * 2);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + buf.length] };
    offset += buf.length;
    chunks.push(buf);
  }
  let json = JSON.stringify(header);
  // Pad with spaces to a multiple of 8 so the data section is aligned, as the reference writer does.
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += " ";
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json, "utf8"), ...chunks]);
}
