// The AVX-512 path (x86-64 with AVX-512F + FMA + F16C; every AVX-512 CPU has the last two): one
// register of 16 floats and the operations on it that xsimd 8 lacks or gets wrong. Everything is
// in pocket::avx512, so a file built with AVX-512 flags and one built without never define the
// same inline function differently (arch/README in src/kernels/README.md).
#pragma once

#if !defined(__AVX512F__) || !defined(__FMA__) || !defined(__F16C__)
#error "kernels/arch/x86_avx512/simd.h needs AVX-512F, FMA and F16C (-march=x86-64-v4 or native)"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <xsimd/xsimd.hpp>

#include "kernels/fp16.h"

// GCC < 13 implements _mm512_castps512_ps256 with an "undefined" operand and then warns that it
// is uninitialised where the cast is inlined (GCC bug 105593): not a defect of this code.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace pocket::avx512 {

// xsimd's best architecture for the flags of this file: avx512bw on every AVX-512 CPU since
// Skylake-X and Zen 4, the type `make` (-march=native) has always used there.
using arch = xsimd::default_arch;
static_assert(std::is_base_of_v<xsimd::avx512f, arch>);
using vfloat = xsimd::batch<float, arch>;
inline constexpr int kFloatLanes = 16;
static_assert(vfloat::size == kFloatLanes);
inline constexpr const char* kName = "avx512";

// a·b + c with one rounding. xsimd 8.1 has no AVX-512 fma: its generic fallback is a multiply
// and an add (two roundings, half the throughput), so this calls the instruction directly.
inline vfloat fmadd(vfloat a, vfloat b, vfloat c) { return _mm512_fmadd_ps(a, b, c); }

// Σ lanes. xsimd 9 renamed hadd to reduce_add (and later releases dropped hadd).
inline float reduce_sum(vfloat v) {
#if XSIMD_VERSION_MAJOR >= 9
  return xsimd::reduce_add(v);
#else
  return xsimd::hadd(v);
#endif
}

// max over the lanes of v
inline float hmax(vfloat v) {
  alignas(64) float lanes[kFloatLanes];
  v.store_aligned(lanes);
  float m = lanes[0];
  for (int i = 1; i < kFloatLanes; ++i) m = std::max(m, lanes[i]);
  return m;
}

// Lane r of the result = Σ lanes of rows[r], r < 16. xsimd 8.1's avx512 haddp returns lanes 2-5
// and 10-13 permuted, so each row is first folded to 256 bits (lo + hi) and the (correct) AVX
// haddp does the rest.
inline vfloat sum_each_row(const vfloat* rows) {
  using half = xsimd::batch<float, xsimd::avx2>;
  half lo[8], hi[8];
  auto fold = [](__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v),
                         _mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, 0xEE)));
  };
  for (int r = 0; r < 8; ++r) {
    lo[r] = fold(rows[r]);
    hi[r] = fold(rows[8 + r]);
  }
  const __m256 a = xsimd::haddp(lo), b = xsimd::haddp(hi);
  return _mm512_shuffle_f32x4(_mm512_zextps256_ps512(a), _mm512_zextps256_ps512(b), 0x44);
}

// Loads 16 fp16 values from `p` (unaligned) and widens them.
inline vfloat load_f16(const fp16* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Narrows 16 floats with round-to-nearest-even and stores them to `p` (unaligned).
inline void store_f16(fp16* p, vfloat v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                      _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// Lane l of the result is +c if bit l of `bits` is set, else -c  (i.e. c·z on 16 lanes).
inline vfloat signed_lanes(std::uint32_t bits, float c) {
  return _mm512_mask_blend_ps(static_cast<__mmask16>(bits), _mm512_set1_ps(-c), _mm512_set1_ps(c));
}

#if defined(__AVX512DQ__)
// The SR stream (zrng.h) 16 elements at a time: out[k..k+16) = sr_bits(sr_key, index..index+16)
// for each of `blocks` blocks, index even. AVX-512DQ multiplies 64-bit lanes, so mix64 runs on 8
// words per step (~3x the scalar rate); state of word j is sr_key + kGamma·(j + 1).
inline void fill_sr_bits_x16(std::uint64_t sr_key, std::uint64_t gamma, std::uint64_t index,
                             std::size_t blocks, std::uint32_t* out) {
  using vword = xsimd::batch<std::uint64_t, arch>;
  static_assert(vword::size == 8);
  const vword lane{0ull, 1ull, 2ull, 3ull, 4ull, 5ull, 6ull, 7ull};
  vword state = vword(sr_key + gamma * ((index >> 1) + 1)) + vword(gamma) * lane;
  const vword step(gamma * 8);
  for (std::size_t b = 0; b < blocks; ++b, out += 16, state += step) {
    vword x = (state ^ (state >> 30)) * vword(0xBF58476D1CE4E5B9ull);
    x = (x ^ (x >> 27)) * vword(0x94D049BB133111EBull);
    x = x ^ (x >> 31);
    // little-endian: the low half of word j (element 2j) lands first, as sr_bits orders them
    x.store_unaligned(reinterpret_cast<std::uint64_t*>(out));
  }
}
#endif

// The operations the ISA-independent micro-kernel (kernels/gemm_ukernel_dot.h) is written against.
struct Isa {
  using vfloat = avx512::vfloat;
  static constexpr int kLanes = kFloatLanes;
  static constexpr const char* kName = avx512::kName;
  static vfloat fmadd(vfloat a, vfloat b, vfloat c) { return avx512::fmadd(a, b, c); }
  static vfloat sum_each_row(const vfloat* rows) { return avx512::sum_each_row(rows); }
};

}  // namespace pocket::avx512
