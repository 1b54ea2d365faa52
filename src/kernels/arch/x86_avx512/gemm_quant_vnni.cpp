// The AVX-512 VNNI integer GEMM micro-kernel (gemm_quant_avx512.h): vpdpbusd, 64 unsigned×signed
// byte products summed into 16 int32 lanes per instruction. The Makefile and CMakeLists.txt build
// this file (alone) with -mavx512vnni on x86, so that a binary for any AVX-512 target has it;
// gemm_quant_kernels() uses it only where cpuid reports avx512vnni (Ice Lake, Zen 4 and later).
// Q8_0's int8 W becomes unsigned as w + 128 (xor 0x80), which adds 128·Σx, taken off up front.
#include "kernels/gemm_quant.h"

#if !defined(POCKET_FORCE_SCALAR) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#include "kernels/arch/x86_avx512/gemm_quant_avx512.h"
#include "kernels/arch/x86_avx512/gemm_quant_rows_avx512.h"

namespace pocket::avx512 {

namespace {

struct DotVnni {
  static constexpr int q8_offset = -128;
  template <WeightFormat F>
  static __m512i prepare_w(__m512i w) {
    if constexpr (F == WeightFormat::kQ8_0) return _mm512_xor_si512(w, _mm512_set1_epi8(-128));
    return w;
  }
  template <WeightFormat F>
  static __m512i dot(__m512i acc, __m512i w, __m512i x) {
    return _mm512_dpbusd_epi32(acc, w, x);
  }
};

constexpr GemmQuantKernel kVnni{"avx512vnni",
                                "avx512",
                                "avx512vnni",
                                kQuantMr,
                                kQuantNr,
                                &ukernel_quant_any<DotVnni>,
                                &pack_quant_panel,
                                &rows_quant_any<DotVnni>,
                                kRowsFormats,
                              &quantize_activations_avx512};

}  // namespace

const GemmQuantKernel* gemm_quant_vnni() { return &kVnni; }

}  // namespace pocket::avx512
#else
namespace pocket::avx512 {
const GemmQuantKernel* gemm_quant_vnni() { return nullptr; }
}  // namespace pocket::avx512
#endif
