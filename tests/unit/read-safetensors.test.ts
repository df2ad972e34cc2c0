import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  encodeSafetensors, f16ToF32, f32ToBf16, f32ToF16, InputError, readSafetensorsHeader, readTensorF32,
} from "../../precompute/read/safetensors.ts";
import { cleanTemp, floats, rawSafetensors, tempDir } from "./helpers/read-files.ts";

afterAll(cleanTemp);

function writeTemp(name: string, bytes: Buffer): string {
  const p = join(tempDir(), name);
  writeFileSync(p, bytes);
  return p;
}

function readBack(dtype: "F32" | "F16" | "BF16", data: Float32Array, shape: number[]): Float32Array {
  const p = writeTemp("t.safetensors", encodeSafetensors({ x: { dtype, shape, data } }));
  const file = readSafetensorsHeader(p);
  expect(file.tensors.get("x")).toMatchObject({ dtype, shape });
  return readTensorF32(file, "x");
}

describe("safetensors round trip", () => {
  const data = floats(6 * 7, 3);
  data[0] = 0;
  data[1] = -2.5;
  data[2] = 1e-6;

  it("F32 is exact", () => {
    expect(Array.from(readBack("F32", data, [6, 7]))).toEqual(Array.from(data));
  });

  it("F16 is within half precision", () => {
    const got = readBack("F16", data, [6, 7]);
    for (let i = 0; i < data.length; i++) {
      // binary16 keeps 11 significant bits; below 2^-14 it is subnormal with a fixed step of 2^-24.
      expect(Math.abs(got[i]! - data[i]!)).toBeLessThanOrEqual(Math.max(Math.abs(data[i]!) * 2 ** -11, 2 ** -25));
    }
    expect(got[1]).toBe(-2.5);
  });

  it("BF16 is within bfloat16 precision", () => {
    const got = readBack("BF16", data, [6, 7]);
    for (let i = 0; i < data.length; i++) {
      expect(Math.abs(got[i]! - data[i]!)).toBeLessThanOrEqual(Math.abs(data[i]!) * 2 ** -8);
    }
    expect(got[1]).toBe(-2.5);
  });

  it("half-float codecs agree on special values", () => {
    expect(f16ToF32(f32ToF16(65504))).toBe(65504);
    expect(f16ToF32(f32ToF16(1e6))).toBe(Infinity);
    expect(f16ToF32(f32ToF16(-0.000061035156))).toBeCloseTo(-0.000061035156, 12);
    expect(Number.isNaN(f16ToF32(f32ToF16(NaN)))).toBe(true);
    const bf = new Float32Array(new Uint32Array([f32ToBf16(3.140625) << 16]).buffer)[0];
    expect(bf).toBe(3.140625);
  });

  it("reads a tensor larger than one read chunk (16 MB) without seams", () => {
    const big = floats(4_500_000, 9);
    const got = readBack("F32", big, [big.length]);
    expect(got.length).toBe(big.length);
    let mismatches = 0;
    for (let i = 0; i < big.length; i++) if (got[i] !== big[i]) mismatches++;
    expect(mismatches).toBe(0);
  });

  it("reads a tensor that is not 4-byte aligned in the file", () => {
    // A 2-byte tensor first pushes the next one to an odd-by-2 offset.
    const p = writeTemp("a.safetensors", encodeSafetensors({
      a: { dtype: "F16", shape: [1], data: [1] },
      b: { dtype: "F32", shape: [3], data: [0.25, -8, 3.5] },
    }));
    const file = readSafetensorsHeader(p);
    expect((file.tensors.get("b")!.begin) % 4).not.toBe(0);
    expect(Array.from(readTensorF32(file, "b"))).toEqual([0.25, -8, 3.5]);
  });

  it("puts tensors of SHARED_FROM_BYTES and up on a SharedArrayBuffer, so worker threads can read them", () => {
    const p = writeTemp("s.safetensors", encodeSafetensors({ b: { dtype: "F32", shape: [3], data: [0.25, -8, 3.5] } }));
    const file = readSafetensorsHeader(p);
    expect(readTensorF32(file, "b").buffer).not.toBeInstanceOf(SharedArrayBuffer);
    const shared = readTensorF32(file, "b", 12);
    expect(shared.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Array.from(shared)).toEqual([0.25, -8, 3.5]);
    expect(readTensorF32(file, "b", 13).buffer).not.toBeInstanceOf(SharedArrayBuffer);
  });
});

describe("safetensors errors name the file and the problem", () => {
  const f32 = (n: number) => Buffer.alloc(n * 4);

  function expectError(name: string, bytes: Buffer, pattern: RegExp, read?: string): void {
    const p = writeTemp(name, bytes);
    const run = () => {
      const f = readSafetensorsHeader(p);
      if (read) readTensorF32(f, read);
    };
    expect(run).toThrow(InputError);
    expect(run).toThrow(new RegExp(`^${name.replace(".", "\\.")}: `));
    expect(run).toThrow(pattern);
  }

  it("short file", () => expectError("short.safetensors", Buffer.from([1, 2, 3, 4, 5]), /5 bytes, too short/));

  it("oversized header length", () =>
    expectError("huge.safetensors", rawSafetensors({}, Buffer.alloc(0), 1n << 40n), /header length 1099511627776 at byte 0 is absurd/));

  it("header length past the end of the file", () =>
    expectError("trunc.safetensors", rawSafetensors({}, Buffer.alloc(0), 500n), /header length 500 runs past the end of the \d+-byte file/));

  it("non-JSON header", () => expectError("garbage.safetensors", rawSafetensors("{not json", f32(1)), /header \(bytes 8–17\) is not valid JSON/));

  it("header that is not an object", () => expectError("array.safetensors", rawSafetensors([1, 2], f32(1)), /header is not a JSON object/));

  it("offsets out of range", () =>
    expectError(
      "range.safetensors",
      rawSafetensors({ W_dec: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, f32(2)),
      /tensor "W_dec" data_offsets \[0, 16\] run past the end of the data \(8 bytes; truncated file\?\)/,
    ));

  it("overlapping offsets", () =>
    expectError(
      "overlap.safetensors",
      rawSafetensors({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, f32(3)),
      /tensors "a" and "b" overlap/,
    ));

  it("dtype and shape that do not match the byte length", () =>
    expectError(
      "len.safetensors",
      rawSafetensors({ W_dec: { dtype: "F32", shape: [2, 3], data_offsets: [0, 16] } }, f32(4)),
      /tensor "W_dec" is F32 of shape \[2, 3\], which needs 24 bytes, but its data_offsets span 16/,
    ));

  it("unsupported dtype", () =>
    expectError("dtype.safetensors", rawSafetensors({ x: { dtype: "F8_E4M3", shape: [1], data_offsets: [0, 1] } }, Buffer.alloc(1)), /unsupported dtype "F8_E4M3"/));

  it("invalid shape and offsets", () => {
    expectError("shape.safetensors", rawSafetensors({ x: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, f32(1)), /invalid shape \[-1\]/);
    expectError("offs.safetensors", rawSafetensors({ x: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, f32(1)), /invalid data_offsets \[4,0\]/);
  });

  it("missing tensor lists the tensors present", () =>
    expectError("miss.safetensors", encodeSafetensors({ W_enc: { dtype: "F32", shape: [1], data: [1] } }), /has no tensor "W_dec" \(it has: W_enc\)/, "W_dec"));

  it("integer tensor read as floats", () =>
    expectError("int.safetensors", rawSafetensors({ ids: { dtype: "I32", shape: [2], data_offsets: [0, 8] } }, f32(2)), /tensor "ids" has dtype I32, which is not a float type/, "ids"));
});
