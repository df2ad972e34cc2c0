// Native int8 kernels for the neighbour search: the same two functions as the WebAssembly module
// in ../int8.ts (`tile` and `row`), over the same shared memory, giving the same bits; and the
// quantising of ../int8.ts `quantiseRow`, with its bytes.
//
// Why native: the int8 block kernel is most of the time of the search's block phases. At 1M ×
// 2,304 (docs/scale.md) the sibling blocks went from 568 to 328 s with this file, on a host running
// ~1.5x slower that hour; at 131,072 × 2,304 the kNN stage from 84.8 to 46.9 s. The kernel alone,
// on the 2-core build machine (Xeon, AVX-512BW without VNNI), one thread, 1,024 × 2,048 rows of
// d = 2,304 in 64 × 128-row blocks: WebAssembly SIMD (128-bit, i32x4.dot_i16x8_s) 5.7–5.8 M dots/s; this file's
// AVX-512BW path 18.0 M dots/s and its AVX2 path 11.8–13.1 M dots/s. WebAssembly has no wider
// vectors, so the gap cannot be closed from JS.
//
// Why the bits match: every product of two int8 values and every sum of d of them fits an int32
// exactly (127² · 2,304 < 2^31), so the sum does not depend on the order or the vector width. The
// scaling is then float32(sum) · (scale_a · scale_b), two IEEE float32 products in that order,
// as in the WebAssembly kernel; binding.gyp turns off contraction into fused multiply-adds.
//
// The instruction set is chosen at run time (AVX-512BW, then AVX2, then plain C++), so one build
// runs on any x86-64 machine and the plain path on any other.
#include <node_api.h>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <string>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FA_X86 1
#endif

namespace {

using Pair = int32_t (*)(const int8_t*, const int8_t*, uint32_t);

int32_t dot_plain(const int8_t* a, const int8_t* b, uint32_t stride) {
  int32_t s = 0;
  for (uint32_t t = 0; t < stride; t++) s += int32_t(a[t]) * int32_t(b[t]);
  return s;
}

struct Memory {
  uint8_t* base;
  size_t length;
};

inline float scaled(int32_t sum, float sa, float sb) {
  const float s = sa * sb;
  return float(sum) * s;
}

// Generic tile: each pair on its own.
void tile_plain(const Memory& m, const int32_t* a, uint32_t na, const int32_t* b, uint32_t nb, uint32_t stride, float* out, const float* scales) {
  const int8_t* rows = reinterpret_cast<const int8_t*>(m.base);
  for (uint32_t i = 0; i < na; i++)
    for (uint32_t j = 0; j < nb; j++)
      out[size_t(i) * nb + j] = scaled(dot_plain(rows + size_t(a[i]) * stride, rows + size_t(b[j]) * stride, stride), scales[a[i]], scales[b[j]]);
}

void row_plain(const Memory& m, uint32_t q, const int32_t* ids, uint32_t count, uint32_t stride, float* out, const float* scales) {
  const int8_t* rows = reinterpret_cast<const int8_t*>(m.base);
  for (uint32_t c = 0; c < count; c++)
    out[c] = scaled(dot_plain(rows + size_t(q) * stride, rows + size_t(ids[c]) * stride, stride), scales[q], scales[ids[c]]);
}

#ifdef FA_X86

#define FA_AVX512 __attribute__((target("avx512bw,avx512f")))
#define FA_AVX2 __attribute__((target("avx2")))

// 32 values, widened to 16 bits.
FA_AVX512 inline __m512i widen32(const int8_t* p) {
  return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
// 16 values widened, the upper half zero (a stride's last 16 when it is not a multiple of 32).
FA_AVX512 inline __m512i widen16(const int8_t* p) {
  return _mm512_cvtepi8_epi16(_mm256_zextsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

FA_AVX512 inline void step4x4(const int8_t* const* A, const int8_t* const* B, uint32_t o, bool half, __m512i (&acc)[4][4]) {
  __m512i bw[4];
  for (int v = 0; v < 4; v++) bw[v] = half ? widen16(B[v] + o) : widen32(B[v] + o);
  for (int u = 0; u < 4; u++) {
    const __m512i aw = half ? widen16(A[u] + o) : widen32(A[u] + o);
    for (int v = 0; v < 4; v++) acc[u][v] = _mm512_add_epi32(acc[u][v], _mm512_madd_epi16(aw, bw[v]));
  }
}

// 4 × 4 pairs at once: each widened vector of a row feeds four multiply-adds. 32 values a step,
// then one step of 16 (strides are multiples of 16) with the upper half zero.
FA_AVX512 void tile_avx512(const Memory& m, const int32_t* a, uint32_t na, const int32_t* b, uint32_t nb, uint32_t stride, float* out, const float* scales) {
  const int8_t* rows = reinterpret_cast<const int8_t*>(m.base);
  const uint32_t wide = stride & ~31u;
  uint32_t i = 0;
  for (; i + 4 <= na; i += 4) {
    const int8_t* A[4];
    for (int u = 0; u < 4; u++) A[u] = rows + size_t(a[i + u]) * stride;
    uint32_t j = 0;
    for (; j + 4 <= nb; j += 4) {
      const int8_t* B[4];
      for (int v = 0; v < 4; v++) B[v] = rows + size_t(b[j + v]) * stride;
      __m512i acc[4][4];
      for (int u = 0; u < 4; u++) for (int v = 0; v < 4; v++) acc[u][v] = _mm512_setzero_si512();
      for (uint32_t o = 0; o < wide; o += 32) step4x4(A, B, o, false, acc);
      if (wide < stride) step4x4(A, B, wide, true, acc);
      for (int u = 0; u < 4; u++)
        for (int v = 0; v < 4; v++)
          out[size_t(i + u) * nb + j + v] = scaled(_mm512_reduce_add_epi32(acc[u][v]), scales[a[i + u]], scales[b[j + v]]);
    }
    for (; j < nb; j++)
      for (int u = 0; u < 4; u++)
        out[size_t(i + u) * nb + j] = scaled(dot_plain(A[u], rows + size_t(b[j]) * stride, stride), scales[a[i + u]], scales[b[j]]);
  }
  if (i < na) tile_plain(m, a + i, na - i, b, nb, stride, out + size_t(i) * nb, scales);
}

FA_AVX512 void row_avx512(const Memory& m, uint32_t q, const int32_t* ids, uint32_t count, uint32_t stride, float* out, const float* scales) {
  const int8_t* rows = reinterpret_cast<const int8_t*>(m.base);
  const int8_t* Q = rows + size_t(q) * stride;
  const uint32_t wide = stride & ~31u;
  for (uint32_t c = 0; c < count; c++) {
    const int8_t* R = rows + size_t(ids[c]) * stride;
    __m512i acc = _mm512_setzero_si512();
    for (uint32_t o = 0; o < wide; o += 32) {
      const __m512i x = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(Q + o)));
      const __m512i y = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(R + o)));
      acc = _mm512_add_epi32(acc, _mm512_madd_epi16(x, y));
    }
    int32_t sum = _mm512_reduce_add_epi32(acc);
    if (wide < stride) sum += dot_plain(Q + wide, R + wide, stride - wide);
    out[c] = scaled(sum, scales[q], scales[ids[c]]);
  }
}

FA_AVX2 inline int32_t hsum256(__m256i x) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// 4 × 2 pairs at once, 16 values a step.
FA_AVX2 inline __m256i widen16x(const int8_t* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

FA_AVX2 void tile_avx2(const Memory& m, const int32_t* a, uint32_t na, const int32_t* b, uint32_t nb, uint32_t stride, float* out, const float* scales) {
  const int8_t* rows = reinterpret_cast<const int8_t*>(m.base);
  uint32_t i = 0;
  for (; i + 4 <= na; i += 4) {
    const int8_t* A[4];
    for (int u = 0; u < 4; u++) A[u] = rows + size_t(a[i + u]) * stride;
    uint32_t j = 0;
    for (; j + 2 <= nb; j += 2) {
      const int8_t* B0 = rows + size_t(b[j]) * stride;
      const int8_t* B1 = rows + size_t(b[j + 1]) * stride;
      __m256i acc[4][2];
      for (int u = 0; u < 4; u++) acc[u][0] = acc[u][1] = _mm256_setzero_si256();
      for (uint32_t o = 0; o < stride; o += 16) {
        const __m256i b0 = widen16x(B0 + o), b1 = widen16x(B1 + o);
        for (int u = 0; u < 4; u++) {
          const __m256i aw = widen16x(A[u] + o);
          acc[u][0] = _mm256_add_epi32(acc[u][0], _mm256_madd_epi16(aw, b0));
          acc[u][1] = _mm256_add_epi32(acc[u][1], _mm256_madd_epi16(aw, b1));
        }
      }
      for (int u = 0; u < 4; u++)
        for (int v = 0; v < 2; v++)
          out[size_t(i + u) * nb + j + v] = scaled(hsum256(acc[u][v]), scales[a[i + u]], scales[b[j + v]]);
    }
    for (; j < nb; j++)
      for (int u = 0; u < 4; u++)
        out[size_t(i + u) * nb + j] = scaled(dot_plain(A[u], rows + size_t(b[j]) * stride, stride), scales[a[i + u]], scales[b[j]]);
  }
  if (i < na) tile_plain(m, a + i, na - i, b, nb, stride, out + size_t(i) * nb, scales);
}

FA_AVX2 void row_avx2(const Memory& m, uint32_t q, const int32_t* ids, uint32_t count, uint32_t stride, float* out, const float* scales) {
  const int8_t* rows = reinterpret_cast<const int8_t*>(m.base);
  const int8_t* Q = rows + size_t(q) * stride;
  for (uint32_t c = 0; c < count; c++) {
    const int8_t* R = rows + size_t(ids[c]) * stride;
    __m256i acc = _mm256_setzero_si256();
    for (uint32_t o = 0; o < stride; o += 16) {
      const __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(Q + o)));
      const __m256i y = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(R + o)));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
    }
    out[c] = scaled(hsum256(acc), scales[q], scales[ids[c]]);
  }
}
#endif

using TileFn = void (*)(const Memory&, const int32_t*, uint32_t, const int32_t*, uint32_t, uint32_t, float*, const float*);
using RowFn = void (*)(const Memory&, uint32_t, const int32_t*, uint32_t, uint32_t, float*, const float*);

struct Isa {
  const char* name;
  TileFn tile;
  RowFn row;
};

// Every path this machine can run, fastest first; the first is the default.
int supported(Isa* out) {
  int count = 0;
#ifdef FA_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512f")) out[count++] = {"avx512bw", tile_avx512, row_avx512};
  if (__builtin_cpu_supports("avx2")) out[count++] = {"avx2", tile_avx2, row_avx2};
#endif
  out[count++] = {"plain", tile_plain, row_plain};
  return count;
}

bool fail(napi_env env, const char* message) {
  napi_throw_range_error(env, nullptr, message);
  return false;
}

bool u32(napi_env env, napi_value v, uint32_t* out) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) return fail(env, "int8 kernel: expected a non-negative integer");
  return true;
}

bool memoryOf(napi_env env, napi_value v, Memory* m) {
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_uint8_array)
    return fail(env, "int8 kernel: expected a Uint8Array over the rows' memory");
  m->base = static_cast<uint8_t*>(data);
  m->length = length;
  return true;
}

bool inside(const Memory& m, size_t at, size_t bytes) { return at <= m.length && bytes <= m.length - at; }

// Every id must name a whole row and a scale inside the memory: a bad id is a bug in the caller,
// and reading outside the memory would crash the process instead of throwing.
bool checkIds(napi_env env, const Memory& m, const int32_t* ids, uint32_t count, uint32_t stride, uint32_t scales) {
  for (uint32_t c = 0; c < count; c++) {
    const int32_t id = ids[c];
    if (id < 0 || !inside(m, size_t(id) * stride, stride) || !inside(m, scales + size_t(id) * 4, 4))
      return fail(env, "int8 kernel: a row id is outside the memory");
  }
  return true;
}

// The arguments tile and row share: the rows' memory, then `count` unsigned integers; and the
// kernel path the function was registered with.
bool kernelArgs(napi_env env, napi_callback_info info, const char* name, size_t count, Memory* m, uint32_t* v, const Isa** isa) {
  napi_value argv[8];
  size_t argc = 8;
  void* data;
  napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
  *isa = static_cast<const Isa*>(data);
  if (argc != count + 1) {
    napi_throw_range_error(env, nullptr, (std::string("int8 kernel: ") + name + " takes " + std::to_string(count + 1) + " arguments").c_str());
    return false;
  }
  if (!memoryOf(env, argv[0], m)) return false;
  for (size_t t = 0; t < count; t++) if (!u32(env, argv[t + 1], &v[t])) return false;
  return true;
}

// tile(memory, aIds, na, bIds, nb, stride, out, scales): byte offsets into memory, as the
// WebAssembly `tile`; writes out[i · nb + j] for every pair.
napi_value Tile(napi_env env, napi_callback_info info) {
  Memory m;
  uint32_t v[7];
  const Isa* isa;
  if (!kernelArgs(env, info, "tile", 7, &m, v, &isa)) return nullptr;
  const uint32_t aAt = v[0], na = v[1], bAt = v[2], nb = v[3], stride = v[4], outAt = v[5], scalesAt = v[6];
  if (stride == 0 || stride % 16 || (aAt | bAt | outAt | scalesAt) % 4 || !inside(m, aAt, size_t(na) * 4) || !inside(m, bAt, size_t(nb) * 4) || !inside(m, outAt, size_t(na) * nb * 4))
    return (fail(env, "int8 kernel: tile arguments are outside the memory or misaligned"), nullptr);
  const int32_t* a = reinterpret_cast<const int32_t*>(m.base + aAt);
  const int32_t* b = reinterpret_cast<const int32_t*>(m.base + bAt);
  if (!checkIds(env, m, a, na, stride, scalesAt) || !checkIds(env, m, b, nb, stride, scalesAt)) return nullptr;
  isa->tile(m, a, na, b, nb, stride, reinterpret_cast<float*>(m.base + outAt), reinterpret_cast<const float*>(m.base + scalesAt));
  return nullptr;
}

// row(memory, q, ids, count, stride, out, scales): row q against each of ids, as the WebAssembly `row`.
napi_value Row(napi_env env, napi_callback_info info) {
  Memory m;
  uint32_t v[6];
  const Isa* isa;
  if (!kernelArgs(env, info, "row", 6, &m, v, &isa)) return nullptr;
  const uint32_t q = v[0], idsAt = v[1], count = v[2], stride = v[3], outAt = v[4], scalesAt = v[5];
  if (stride == 0 || stride % 16 || (idsAt | outAt | scalesAt) % 4 || !inside(m, idsAt, size_t(count) * 4) || !inside(m, outAt, size_t(count) * 4))
    return (fail(env, "int8 kernel: row arguments are outside the memory or misaligned"), nullptr);
  const int32_t qid = int32_t(q);
  const int32_t* ids = reinterpret_cast<const int32_t*>(m.base + idsAt);
  if (!checkIds(env, m, &qid, 1, stride, scalesAt) || !checkIds(env, m, ids, count, stride, scalesAt)) return nullptr;
  isa->row(m, q, ids, count, stride, reinterpret_cast<float*>(m.base + outAt), reinterpret_cast<const float*>(m.base + scalesAt));
  return nullptr;
}

// quantise(rows: Float32Array, d, from, to, alive: Uint8Array, memory, stride, scalesAt): rows
// [from, to) that are alive, as int8.ts `quantiseRow` does, bit for bit: scale = max |v| / 127 in
// float64 stored as float32, q = round(v · (127 / max)) with ties away from zero, all-zero rows
// zero with scale 0. At 1M × 2,304 the JS loop takes ~60 s on the main thread; this takes seconds.
napi_value Quantise(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 8) return (fail(env, "int8 kernel: quantise takes 8 arguments"), nullptr);
  napi_typedarray_type type;
  size_t srcLength, aliveLength;
  void* srcData;
  void* aliveData;
  if (napi_get_typedarray_info(env, argv[0], &type, &srcLength, &srcData, nullptr, nullptr) != napi_ok || type != napi_float32_array)
    return (fail(env, "int8 kernel: quantise expects a Float32Array of rows"), nullptr);
  if (napi_get_typedarray_info(env, argv[4], &type, &aliveLength, &aliveData, nullptr, nullptr) != napi_ok || type != napi_uint8_array)
    return (fail(env, "int8 kernel: quantise expects a Uint8Array of alive flags"), nullptr);
  Memory m;
  if (!memoryOf(env, argv[5], &m)) return nullptr;
  uint32_t d, from, to, stride, scalesAt;
  if (!u32(env, argv[1], &d) || !u32(env, argv[2], &from) || !u32(env, argv[3], &to) || !u32(env, argv[6], &stride) || !u32(env, argv[7], &scalesAt)) return nullptr;
  if (d == 0 || stride < d || stride % 16 || scalesAt % 4 || from > to || to > aliveLength || size_t(to) * d > srcLength ||
      !inside(m, size_t(from) * stride, size_t(to - from) * stride) || !inside(m, scalesAt + size_t(from) * 4, size_t(to - from) * 4))
    return (fail(env, "int8 kernel: quantise arguments are outside the rows or the memory"), nullptr);
  const float* src = static_cast<const float*>(srcData);
  const uint8_t* alive = static_cast<const uint8_t*>(aliveData);
  float* scales = reinterpret_cast<float*>(m.base + scalesAt);
  for (size_t r = from; r < to; r++) {
    if (!alive[r]) continue;
    const float* v = src + r * d;
    int8_t* q = reinterpret_cast<int8_t*>(m.base + r * stride);
    double max = 0;
    for (uint32_t j = 0; j < d; j++) {
      const double a = std::fabs(double(v[j]));
      if (a > max) max = a;
    }
    if (!(max > 0)) {
      std::memset(q, 0, stride);
      scales[r] = 0;
      continue;
    }
    const double inv = 127 / max;
    for (uint32_t j = 0; j < d; j++) {
      // Math.round's ties (up, so away from zero on |x|) from a truncation and an exact fraction
      // (|x| ≤ 127): std::round is a libm call on baseline x86-64 and made this slower than JS.
      const double x = double(v[j]) * inv;
      const double a = x < 0 ? -x : x;
      const int32_t t = a < 128 ? int32_t(a) : 0;  // false for NaN too
      const int32_t r = t + (a - t >= 0.5 ? 1 : 0);
      q[j] = int8_t(x < 0 ? -r : r);
    }
    scales[r] = float(max / 127);
  }
  return nullptr;
}

// Static, so the functions' data outlives every environment (main thread and workers) that loads it.
Isa paths[3];
const int pathCount = supported(paths);

}  // namespace

// exports: tile, row and isa (the fastest path), and paths: { [isa]: { tile, row } } for every
// path this machine runs, so tests can check each against the WebAssembly kernel.
NAPI_MODULE_INIT() {
  napi_value all;
  napi_create_object(env, &all);
  for (int p = pathCount - 1; p >= 0; p--) {
    napi_value tile, row, name, path;
    void* data = &paths[p];
    napi_create_function(env, "tile", NAPI_AUTO_LENGTH, Tile, data, &tile);
    napi_create_function(env, "row", NAPI_AUTO_LENGTH, Row, data, &row);
    napi_create_string_utf8(env, paths[p].name, NAPI_AUTO_LENGTH, &name);
    napi_create_object(env, &path);
    napi_set_named_property(env, path, "tile", tile);
    napi_set_named_property(env, path, "row", row);
    napi_set_named_property(env, all, paths[p].name, path);
    if (p == 0) {
      napi_set_named_property(env, exports, "tile", tile);
      napi_set_named_property(env, exports, "row", row);
      napi_set_named_property(env, exports, "isa", name);
    }
  }
  napi_set_named_property(env, exports, "paths", all);
  napi_value quantise;
  napi_create_function(env, "quantise", NAPI_AUTO_LENGTH, Quantise, nullptr, &quantise);
  napi_set_named_property(env, exports, "quantise", quantise);
  return exports;
}
