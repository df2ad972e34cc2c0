/**
 * .npy and .npz files written the way numpy writes them, for the reader tests. Written from the
 * format description (numpy/lib/format.py, PKWARE APPNOTE) independently of the readers, so a
 * misreading of the format in one does not hide in the other.
 */
import { crc32 as zlibCrc32, deflateRawSync } from "node:zlib";

export type NpyDescr = "<f4" | "<f2" | "<f8" | ">f4" | "|u1" | "<i8";

/** Python's repr of a shape tuple: `()`, `(5,)`, `(3, 4)`. */
function shapeRepr(shape: number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(", ")})`;
}

/**
 * An .npy file. `data` is in the order it is written (C order of `shape`, or of its reverse when
 * `fortranOrder`). Header as numpy ≥ 1.23 writes it: sorted keys, growth padding, spaces and a
 * newline up to a 64-byte boundary.
 */
export function encodeNpy(
  data: ArrayLike<number>,
  shape: number[],
  opts: { descr?: NpyDescr; version?: 1 | 2 | 3; fortranOrder?: boolean } = {},
): Buffer {
  const descr = opts.descr ?? "<f4";
  const version = opts.version ?? 1;
  let header = `{'descr': '${descr}', 'fortran_order': ${opts.fortranOrder ? "True" : "False"}, 'shape': ${shapeRepr(shape)}, }`;
  if (shape.length > 0) header += " ".repeat(21 - String(shape[opts.fortranOrder ? shape.length - 1 : 0]).length);
  const lenBytes = version === 1 ? 2 : 4;
  const hlen = header.length + 1;
  const pad = 64 - ((8 + lenBytes + hlen) % 64);
  const full = header + " ".repeat(pad) + "\n";
  const pre = Buffer.alloc(8 + lenBytes);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(pre);
  if (version === 1) pre.writeUInt16LE(full.length, 8);
  else pre.writeUInt32LE(full.length, 8);
  const n = data.length;
  const size = descr.endsWith("8") ? 8 : descr.endsWith("2") ? 2 : descr.endsWith("1") ? 1 : 4;
  const body = Buffer.alloc(n * size);
  for (let i = 0; i < n; i++) {
    const v = data[i]!;
    if (descr === "<f4") body.writeFloatLE(v, i * 4);
    else if (descr === ">f4") body.writeFloatBE(v, i * 4);
    else if (descr === "<f8") body.writeDoubleLE(v, i * 8);
    else if (descr === "<f2") body.writeUInt16LE(toHalf(v), i * 2);
    else if (descr === "|u1") body.writeUInt8(v, i);
    else body.writeBigInt64LE(BigInt(Math.round(v)), i * 8);
  }
  return Buffer.concat([pre, Buffer.from(full, version === 3 ? "utf8" : "latin1"), body]);
}

/** float → IEEE half, round to nearest (the test values are well inside the normal range). */
function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  if (x === 0) return sign;
  const mant = u & 0x7fffff;
  let h = sign | (exp << 10) | (mant >>> 13);
  if ((mant & 0x1fff) > 0x1000 || ((mant & 0x1fff) === 0x1000 && h & 1)) h++;
  return h;
}

/** A [rows × cols] matrix transposed to [cols × rows]. */
export function transposed(m: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = m[i * cols + j]!;
  return out;
}

export interface ZipOptions {
  /** 0 stored (`np.savez`), 8 deflate (`np.savez_compressed`). */
  method?: 0 | 8;
  /**
   * Also put sizes and offsets in zip64 extra fields of the central directory and write the zip64
   * end records, as Python's zipfile does for archives over 4 GB.
   */
  zip64Central?: boolean;
}

/**
 * A zip as numpy's savez writes it through Python's zipfile with `force_zip64=True`: each local
 * header carries 0xFFFFFFFF sizes and a zip64 extra field with the real ones; the central
 * directory has plain 32-bit fields (unless `zip64Central`).
 */
export function writeZip(files: { name: string; data: Buffer }[], opts: ZipOptions = {}): Buffer {
  const method = opts.method ?? 0;
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  const dosTime = 0;
  const dosDate = (2024 - 1980) << 9 | (1 << 5) | 1;
  for (const f of files) {
    const name = Buffer.from(f.name, "utf8");
    const body = method === 8 ? deflateRawSync(f.data) : f.data;
    const crc = zlibCrc32(f.data);
    const localExtra = Buffer.alloc(20);
    localExtra.writeUInt16LE(1, 0);
    localExtra.writeUInt16LE(16, 2);
    localExtra.writeBigUInt64LE(BigInt(f.data.length), 4);
    localExtra.writeBigUInt64LE(BigInt(body.length), 12);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(45, 4);
    lh.writeUInt16LE(0, 6);
    lh.writeUInt16LE(method, 8);
    lh.writeUInt16LE(dosTime, 10);
    lh.writeUInt16LE(dosDate, 12);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(0xffffffff, 18);
    lh.writeUInt32LE(0xffffffff, 22);
    lh.writeUInt16LE(name.length, 26);
    lh.writeUInt16LE(localExtra.length, 28);
    locals.push(lh, name, localExtra, body);

    const cExtra = opts.zip64Central ? Buffer.alloc(4 + 24) : Buffer.alloc(0);
    if (opts.zip64Central) {
      cExtra.writeUInt16LE(1, 0);
      cExtra.writeUInt16LE(24, 2);
      cExtra.writeBigUInt64LE(BigInt(f.data.length), 4);
      cExtra.writeBigUInt64LE(BigInt(body.length), 12);
      cExtra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE((3 << 8) | 45, 4);
    ch.writeUInt16LE(45, 6);
    ch.writeUInt16LE(0, 8);
    ch.writeUInt16LE(method, 10);
    ch.writeUInt16LE(dosTime, 12);
    ch.writeUInt16LE(dosDate, 14);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(opts.zip64Central ? 0xffffffff : body.length, 20);
    ch.writeUInt32LE(opts.zip64Central ? 0xffffffff : f.data.length, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt16LE(cExtra.length, 30);
    ch.writeUInt16LE(0, 32);
    ch.writeUInt16LE(0, 34);
    ch.writeUInt16LE(0, 36);
    ch.writeUInt32LE((0o600 << 16) >>> 0, 38);
    ch.writeUInt32LE(opts.zip64Central ? 0xffffffff : offset, 42);
    centrals.push(ch, name, cExtra);
    offset += 30 + name.length + localExtra.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const tail: Buffer[] = [];
  if (opts.zip64Central) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(BigInt(files.length), 24);
    rec.writeBigUInt64LE(BigInt(files.length), 32);
    rec.writeBigUInt64LE(BigInt(cd.length), 40);
    rec.writeBigUInt64LE(BigInt(offset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(rec, loc);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(opts.zip64Central ? 0xffff : files.length, 8);
  end.writeUInt16LE(opts.zip64Central ? 0xffff : files.length, 10);
  end.writeUInt32LE(opts.zip64Central ? 0xffffffff : cd.length, 12);
  end.writeUInt32LE(opts.zip64Central ? 0xffffffff : offset, 16);
  return Buffer.concat([...locals, cd, ...tail, end]);
}

/** An .npz of float32 arrays, as `np.savez` (stored) or `np.savez_compressed` (deflate) writes it. */
export function encodeNpz(
  arrays: Record<string, { data: ArrayLike<number>; shape: number[]; descr?: NpyDescr; fortranOrder?: boolean }>,
  opts: ZipOptions = {},
): Buffer {
  return writeZip(
    Object.entries(arrays).map(([k, a]) => ({ name: `${k}.npy`, data: encodeNpy(a.data, a.shape, { ...(a.descr ? { descr: a.descr } : {}), ...(a.fortranOrder ? { fortranOrder: true } : {}) }) })),
    opts,
  );
}
