// The AVX-512 integer GEMM micro-kernels (gemm_quant_avx512.h): the AVX-512BW variant, for
// AVX-512 CPUs without VNNI (Skylake-X), and this kernel set's list of variants, VNNI's first
// (gemm_quant_vnni.cpp; gemm_quant_kernels() takes it only where cpuid reports avx512vnni).
// vpmaddubsw's int16 pairs cannot saturate: unsigned W ≤ 63 against |x| ≤ 127, and for Q8_0
// |w| ≤ 128 against x with w's sign (llama.cpp's sign trick; AVX-512 has no vpsignb, so a
// masked subtraction).
#include "kernels/gemm_quant.h"

#if !defined(POCKET_FORCE_SCALAR) && defined(__AVX512F__) && defined(__AVX512BW__)
#include <vector>

#include "kernels/arch/x86_avx512/gemm_quant_avx512.h"
#include "kernels/arch/x86_avx512/gemm_quant_rows_avx512.h"

namespace pocket::avx512 {

const GemmQuantKernel* gemm_quant_vnni();

namespace {

struct DotBw {
  static constexpr int q8_offset = 0;
  template <WeightFormat F>
  static __m512i prepare_w(__m512i w) {
    return w;
  }
  template <WeightFormat F>
  static __m512i dot(__m512i acc, __m512i w, __m512i x) {
    __m512i pairs;
    if constexpr (F == WeightFormat::kQ8_0) {
      const __m512i x_signed =
          _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
      pairs = _mm512_maddubs_epi16(_mm512_abs_epi8(w), x_signed);
    } else {
      pairs = _mm512_maddubs_epi16(w, x);
    }
    return _mm512_add_epi32(acc, _mm512_madd_epi16(pairs, _mm512_set1_epi16(1)));
  }
};

constexpr GemmQuantKernel kBw{"avx512bw",
                              "avx512",
                              "",
                              kQuantMr,
                              kQuantNr,
                              &ukernel_quant_any<DotBw>,
                              &pack_quant_panel,
                              &rows_quant_any<DotBw>,
                              kRowsFormats,
                              &quantize_activations_avx512};

}  // namespace

std::span<const GemmQuantKernel> gemm_quant_variants() {
  static const std::vector<GemmQuantKernel> variants = [] {
    std::vector<GemmQuantKernel> v;
    if (const GemmQuantKernel* vnni = gemm_quant_vnni()) v.push_back(*vnni);
    v.push_back(kBw);
    return v;
  }();
  return variants;
}

}  // namespace pocket::avx512
#else
namespace pocket::avx512 {
std::span<const GemmQuantKernel> gemm_quant_variants() { return {}; }
}  // namespace pocket::avx512
#endif
