import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dictionaryInfoSchema } from "../../contract/atlas.ts";
import { parseNpyHeader, parsePyLiteral, readNpyF32, readNpyHeader } from "../../precompute/read/npy.ts";
import { crc32, readNpzArrayF32, readNpzIndex } from "../../precompute/read/npz.ts";
import { readNpyDictionary } from "../../precompute/read/plain-matrix.ts";
import { InputError } from "../../precompute/read/safetensors.ts";
import { encodeNpy, encodeNpz, transposed, writeZip } from "./helpers/npy-files.ts";
import { cleanTemp, floats, tempDir, write } from "./helpers/read-files.ts";

afterAll(cleanTemp);

const D_IN = 6;
const D_SAE = 10;
const decoder = floats(D_SAE * D_IN, 3);

function file(name: string, content: Buffer): string {
  return write(join(tempDir(), name), content);
}

describe("npy header", () => {
  it("parses v1, v2 and v3 headers as numpy writes them, 64-byte aligned", () => {
    for (const version of [1, 2, 3] as const) {
      const bytes = encodeNpy(decoder, [D_SAE, D_IN], { version });
      const h = parseNpyHeader(bytes, "x.npy");
      expect(h).toMatchObject({ version: `${version}.0`, descr: "<f4", dtype: "F32", fortranOrder: false, shape: [D_SAE, D_IN], storedShape: [D_SAE, D_IN] });
      expect(h.dataOffset % 64).toBe(0);
      expect(h.dataOffset + h.dataBytes).toBe(bytes.length);
    }
  });

  it("reads Python literals: 1-D and 0-D shapes, py2 long suffixes, nested tuples", () => {
    expect(parsePyLiteral("{'descr': '<f8', 'fortran_order': True, 'shape': (5,), }")).toEqual(
      new Map<unknown, unknown>([["descr", "<f8"], ["fortran_order", true], ["shape", [5]]]),
    );
    expect(parsePyLiteral("{'shape': (3L, 4L), 'x': None}")).toEqual(new Map<unknown, unknown>([["shape", [3, 4]], ["x", null]]));
    expect(parsePyLiteral("()")).toEqual([]);
    expect(() => parsePyLiteral("{'a': 1} extra")).toThrow(/unexpected/);
  });

  it("maps float dtypes and refuses big-endian and integer data with a reason", () => {
    expect(parseNpyHeader(encodeNpy([1], [1], { descr: "<f2" }), "a.npy").dtype).toBe("F16");
    expect(parseNpyHeader(encodeNpy([1], [1], { descr: "<f8" }), "a.npy").dtype).toBe("F64");
    const be = parseNpyHeader(encodeNpy([1], [1], { descr: ">f4" }), "a.npy");
    expect(be.dtype).toBeNull();
    expect(be.unsupported).toMatch(/big-endian/);
    expect(parseNpyHeader(encodeNpy([1], [1], { descr: "|u1" }), "a.npy").unsupported).toMatch(/\|u1 is not a float type/);
    expect(() => readNpyDictionary(file("be.npy", encodeNpy(decoder, [D_SAE, D_IN], { descr: ">f4" })))).toThrow(/be\.npy: dtype >f4 is big-endian/);
  });

  it("rejects a bad magic, naming the file", () => {
    const p = file("bad.npy", Buffer.concat([Buffer.from("NUMPY!"), encodeNpy(decoder, [D_SAE, D_IN]).subarray(6)]));
    expect(() => readNpyHeader(p)).toThrow(InputError);
    expect(() => readNpyHeader(p)).toThrow(/^bad\.npy: not a \.npy array: expected the magic bytes \\x93NUMPY at byte 0/);
    expect(() => readNpyDictionary(p)).toThrow(/bad\.npy: not a \.npy array/);
  });

  it("rejects a data section that does not match the shape, both ways", () => {
    const full = encodeNpy(decoder, [D_SAE, D_IN]);
    const short = file("short.npy", full.subarray(0, full.length - 8));
    expect(() => readNpyHeader(short)).toThrow(/short\.npy: header declares shape \(10, 6\) of <f4, which needs 240 bytes, but the file holds 232 bytes after its 128-byte header \(truncated\?\)/);
    const long = file("long.npy", Buffer.concat([full, Buffer.alloc(4)]));
    expect(() => readNpyHeader(long)).toThrow(/long\.npy: .*needs 240 bytes, but the file holds 244/);
  });
});

describe("npy dictionaries", () => {
  it("reads a [d_sae, d_in] float32 matrix; the smaller side is d_model when unsaid", () => {
    const p = file("dec.npy", encodeNpy(decoder, [D_SAE, D_IN]));
    const dict = readNpyDictionary(p);
    expect(dict.info).toMatchObject({ format: "npy", dIn: D_IN, dSae: D_SAE, dtype: "F32", model: null, hookName: null });
    expect(dict.info.rawConfig).toMatchObject({ file: "dec.npy", d_model_from: "smaller dimension", rows_are_features: true, shape: [D_SAE, D_IN] });
    expect(dictionaryInfoSchema.parse(dict.info)).toEqual(dict.info);
    expect(Array.from(dict.decoder)).toEqual(Array.from(decoder));
    expect(dict.inputs.map((i) => [i.role, i.name])).toEqual([["weights", "dec.npy"]]);
  });

  it("transposes a [d_in, d_sae] matrix, float64 and float16 included", () => {
    const t = transposed(decoder, D_SAE, D_IN);
    expect(Array.from(readNpyDictionary(file("t.npy", encodeNpy(t, [D_IN, D_SAE]))).decoder)).toEqual(Array.from(decoder));
    const f8 = readNpyDictionary(file("t8.npy", encodeNpy(t, [D_IN, D_SAE], { descr: "<f8" })));
    expect(f8.info.dtype).toBe("F64");
    expect(Array.from(f8.decoder)).toEqual(Array.from(decoder));
    const f2 = readNpyDictionary(file("t2.npy", encodeNpy(t, [D_IN, D_SAE], { descr: "<f2" })));
    expect(f2.info.dtype).toBe("F16");
    for (let i = 0; i < decoder.length; i++) expect(Math.abs(f2.decoder[i]! - decoder[i]!)).toBeLessThan(1e-3);
  });

  it("reads Fortran-order arrays as numpy would", () => {
    // A Fortran-order (10, 6) array is stored as the C-order bytes of its (6, 10) transpose.
    const p = file("f.npy", encodeNpy(transposed(decoder, D_SAE, D_IN), [D_SAE, D_IN], { fortranOrder: true }));
    expect(readNpyHeader(p).header.storedShape).toEqual([D_IN, D_SAE]);
    const dict = readNpyDictionary(p);
    expect(dict.info).toMatchObject({ dIn: D_IN, dSae: D_SAE });
    expect(Array.from(dict.decoder)).toEqual(Array.from(decoder));
  });

  it("lets --d-model settle the orientation, including an undercomplete dictionary", () => {
    // 4 features in a 6-wide model: the smaller side is not d_model here.
    const under = floats(4 * 6, 9);
    const p = file("under.npy", encodeNpy(under, [4, 6]));
    expect(readNpyDictionary(p).info).toMatchObject({ dIn: 4, dSae: 6 });
    const right = readNpyDictionary(p, { dModel: 6 });
    expect(right.info).toMatchObject({ dIn: 6, dSae: 4 });
    expect(right.info.rawConfig).toMatchObject({ d_model_from: "--d-model" });
    expect(Array.from(right.decoder)).toEqual(Array.from(under));
    expect(() => readNpyDictionary(p, { dModel: 5 })).toThrow(/under\.npy has shape \(4, 6\), but neither side is d_model = 5 \(from --d-model\)/);
  });

  it("asks for --d-model when a matrix is square", () => {
    const p = file("sq.npy", encodeNpy(floats(36, 2), [6, 6]));
    expect(() => readNpyDictionary(p)).toThrow(/sq\.npy is square \(6, 6\), so which side is d_model cannot be told; pass --d-model <n>/);
    const warnings: string[] = [];
    expect(readNpyDictionary(p, { dModel: 6, warn: (m) => warnings.push(m) }).info).toMatchObject({ dIn: 6, dSae: 6 });
    expect(warnings).toHaveLength(1);
  });

  it("refuses a 1-D array", () => {
    expect(() => readNpyDictionary(file("v.npy", encodeNpy([1, 2, 3], [3])))).toThrow(/v\.npy has shape \(3\); a decoder must be a 2-D matrix/);
  });
});

describe("npz", () => {
  const arrays = {
    W_dec: { data: transposed(decoder, D_SAE, D_IN), shape: [D_IN, D_SAE] },
    b_dec: { data: new Float32Array(D_IN), shape: [D_IN] },
  };

  it("reads stored and deflated archives alike, array headers without data", () => {
    for (const method of [0, 8] as const) {
      const p = file(`m${method}.npz`, encodeNpz(arrays, { method }));
      const npz = readNpzIndex(p);
      expect([...npz.arrays.keys()]).toEqual(["W_dec", "b_dec"]);
      expect(npz.arrays.get("W_dec")!.entry.method).toBe(method);
      expect(npz.arrays.get("W_dec")!.header.shape).toEqual([D_IN, D_SAE]);
      expect(Array.from(readNpzArrayF32(npz, "W_dec"))).toEqual(Array.from(arrays.W_dec.data));
    }
  });

  it("uses b_dec's length to orient W_dec even when it is the larger side", () => {
    // 6 features over a 10-wide model: without the bias, the smaller side would be taken as d_model.
    const dict = readNpyDictionary(file("p.npz", encodeNpz({ W_dec: { data: decoder, shape: [D_SAE, D_IN] }, b_dec: { data: new Float32Array(D_SAE), shape: [D_SAE] } })));
    expect(dict.info).toMatchObject({ format: "npy", dIn: D_SAE, dSae: D_IN });
    expect(dict.info.rawConfig).toMatchObject({ array: "W_dec", d_model_from: "bias", rows_are_features: false });
    expect(Array.from(dict.decoder)).toEqual(Array.from(transposed(decoder, D_SAE, D_IN)));
  });

  it("takes the only 2-D array of an npz with other names, and says which arrays it saw otherwise", () => {
    const one = readNpyDictionary(file("one.npz", encodeNpz({ dirs: { data: decoder, shape: [D_SAE, D_IN] }, scale: { data: [1], shape: [] } }, { method: 8 })));
    expect(one.info.rawConfig).toMatchObject({ array: "dirs" });
    expect(Array.from(one.decoder)).toEqual(Array.from(decoder));
    const two = file("two.npz", encodeNpz({ a: { data: decoder, shape: [D_SAE, D_IN] }, b: { data: decoder, shape: [D_IN, D_SAE] } }));
    expect(() => readNpyDictionary(two)).toThrow(/two\.npz: cannot tell which array is the decoder: .*It holds: a \(10, 6\), b \(6, 10\)/);
  });

  it("reads zip64 central directories and end records", () => {
    const p = file("z64.npz", encodeNpz(arrays, { zip64Central: true, method: 8 }));
    expect(Array.from(readNpyDictionary(p).decoder)).toEqual(Array.from(decoder));
  });

  it("computes zip's CRC-32", () => {
    expect(crc32(Buffer.from("123456789"))).toBe(0xcbf43926);
  });

  it("fails on a truncated archive, naming the file", () => {
    const full = encodeNpz(arrays, { method: 8 });
    for (const cut of [full.length - 10, Math.floor(full.length / 2), 30]) {
      const p = file("cut.npz", full.subarray(0, cut));
      expect(() => readNpzIndex(p)).toThrow(InputError);
      expect(() => readNpzIndex(p)).toThrow(/^cut\.npz: starts like a zip but has no end-of-central-directory record; the file is truncated/);
    }
    expect(() => readNpzIndex(file("no.npz", Buffer.from("definitely not a zip archive, just text")))).toThrow(/no\.npz: is not a zip archive/);
  });

  it("fails when an entry's data runs into the central directory (bytes lost mid-file)", () => {
    // Drop the last 16 bytes of the last entry's data and move the end record's directory offset
    // to match: the directory is intact, the data it describes is not.
    const full = encodeNpz(arrays);
    const cdStart = full.readUInt32LE(full.length - 22 + 16);
    const end = Buffer.from(full.subarray(full.length - 22));
    end.writeUInt32LE(cdStart - 16, 16);
    const p = file("hole.npz", Buffer.concat([full.subarray(0, cdStart - 16), full.subarray(cdStart, full.length - 22), end]));
    expect(() => readNpzIndex(p)).toThrow(/^hole\.npz: entry "b_dec\.npy" needs bytes \[\d+, \d+\), which run into the central directory at byte \d+; the file is corrupt or truncated/);
  });

  it("refuses a declared shape larger than its entry before allocating it", () => {
    // A header claiming (100000, 100000) float32 — 40 GB — in front of 240 bytes of data.
    const npy = encodeNpy(decoder, [D_SAE, D_IN]);
    const body = Buffer.concat([encodeNpy([], [100000, 100000]), npy.subarray(128)]);
    const p = file("huge.npz", writeZip([{ name: "W_dec.npy", data: body }]));
    expect(() => readNpzIndex(p)).toThrow(/huge\.npz: entry "W_dec\.npy" declares shape \(100000, 100000\) of <f4, which needs 40000000000 bytes, but the entry holds 240 bytes after its header/);
  });

  it("detects a corrupt deflated entry by its CRC", () => {
    const good = encodeNpz(arrays, { method: 8 });
    const p = file("crc.npz", Buffer.from(good));
    const npz = readNpzIndex(p);
    // Flip the CRC in the central directory entry of W_dec.
    const cdStart = good.readUInt32LE(good.length - 22 + 16);
    const bad = Buffer.from(good);
    bad.writeUInt32LE((bad.readUInt32LE(cdStart + 16) ^ 1) >>> 0, cdStart + 16);
    const q = file("crc.npz", bad);
    expect(Array.from(readNpzArrayF32(npz, "W_dec"))).toEqual(Array.from(arrays.W_dec.data));
    expect(() => readNpzArrayF32(readNpzIndex(q), "W_dec")).toThrow(/crc\.npz: entry "W_dec\.npy" fails its CRC-32 check/);
  });

  it("reads a standalone npy file's data in chunks as stored", () => {
    const p = file("plain.npy", encodeNpy(decoder, [D_SAE, D_IN]));
    expect(Array.from(readNpyF32(readNpyHeader(p)))).toEqual(Array.from(decoder));
  });
});
