// The fp32 GEMM over block-format weights (Q8_0, Q4_0, Q4_K, Q6_K): the packer decodes the blocks
// of each K block to fp32 and packs them as F16/F32 rows, + c·z for perturbed streams. gemm()
// takes this path for a block format whenever some stream is perturbed (unperturbed calls take
// the integer GEMM, gemm_quant_test.cpp), so each call here has a perturbed stream; a stream of
// scale 0 among them reads W itself through the same packer.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/quant_blocks.h"
#include "kernels/thread_pool.h"
#include "kernels/zrng.h"
#include "test_util.h"

using namespace pocket;

namespace {

const std::vector<const GemmKernel*> kernels() {
  std::vector<const GemmKernel*> all = {&gemm_kernel_scalar()};
  if (&gemm_kernel_native() != &gemm_kernel_scalar()) all.push_back(&gemm_kernel_native());
  return all;
}

// As gemm_test.cpp: a few ulps of the largest partial sum, growing as sqrt(K).
double tolerance(std::int64_t K) { return 2e-6 * (4.0 + std::sqrt(static_cast<double>(K))); }

// A [N, K] block-format matrix with row stride ldw = K + one block (stride > cols), its blocks
// from quantize_row of random data (Q6_K, which has no encoder: random ql/qh/scales, d ~ 0.002),
// and the same matrix dequantized to fp32 with the same stride.
struct QuantMatrix {
  WeightFormat format;
  std::int64_t N, K, ldw;
  std::vector<std::uint8_t> bytes;
  std::vector<float> decoded;

  QuantMatrix(WeightFormat f, std::int64_t n, std::int64_t k, std::uint32_t seed)
      : format(f), N(n), K(k), ldw(k + weight_block_size(f)) {
    bytes.resize(weight_bytes(f, N * ldw));
    if (f == WeightFormat::kQ6_K) {
      std::mt19937 rng(seed);
      std::uniform_real_distribution<float> d(0.001f, 0.003f);
      for (std::int64_t b = 0; b < N * ldw / 256; ++b) {
        BlockQ6_K block;
        for (auto& v : block.ql) v = static_cast<std::uint8_t>(rng());
        for (auto& v : block.qh) v = static_cast<std::uint8_t>(rng());
        for (auto& v : block.scales) v = static_cast<std::int8_t>(rng() % 128 - 64);
        block.d = f32_to_f16_scalar(d(rng));
        std::memcpy(bytes.data() + b * sizeof(block), &block, sizeof(block));
      }
    } else {
      const std::vector<float> x = test::random_floats(N * ldw, seed);
      quantize_row(f, x.data(), bytes.data(), N * ldw);
    }
    decoded.resize(N * ldw);
    dequantize_row(f, bytes.data(), decoded.data(), N * ldw);
  }
  // Rows [r0, r0 + rows) (all by default).
  WeightView view(std::int64_t r0 = 0, std::int64_t rows = -1) const {
    return {format,  bytes.data() + weight_bytes(format, r0 * ldw),
            nullptr, rows < 0 ? N - r0 : rows,
            K,       ldw};
  }
  WeightView f32_view(std::int64_t r0 = 0, std::int64_t rows = -1) const {
    return {
        WeightFormat::kF32, decoded.data() + r0 * ldw, nullptr, rows < 0 ? N - r0 : rows, K, ldw};
  }
};

constexpr WeightFormat kFormats[] = {WeightFormat::kQ8_0, WeightFormat::kQ4_0, WeightFormat::kQ4_K,
                                     WeightFormat::kQ6_K};

}  // namespace

TEST_CASE("quant gemm (packer path) equals gemm_ref and an F32 gemm over the decoded rows") {
  const std::uint64_t key = z_key(2, fnv1a64("blk.3.attn_q.weight"));
  for (WeightFormat f : kFormats) {
    const bool k_quant = weight_block_size(f) == 256;
    const std::vector<std::int64_t> ks = k_quant ? std::vector<std::int64_t>{256, 512, 768, 1280}
                                                 : std::vector<std::int64_t>{32, 96, 512, 1056};
    for (std::int64_t K : ks) {
      for (std::int64_t N : {7, 37}) {
        const QuantMatrix w(f, N, K, static_cast<std::uint32_t>(K + N));
        for (std::int64_t M : {1, 3, 17, 70}) {
          const std::int64_t ldx = K + 3, ldy = N + 2;
          const std::vector<float> x0 = test::random_floats(M * ldx, 7 + M);
          const std::vector<float> x1 = test::random_floats(M * ldx, 17 + M);
          const std::vector<float> bias = test::random_floats(N, 8);
          const std::vector<float> y0 = test::random_floats(M * ldy, 9);
          // Stream 0 reads W (scale 0), stream 1 reads W + c·z.
          WeightPerturbation z;
          z.streams = 2;
          z.key[0] = z.key[1] = key;
          z.scale[1] = 5e-3f;
          std::vector<float> want0 = y0, want1 = y0;
          gemm_ref(M, w.view(), {x0.data(), want0.data(), bias.data()}, ldx, ldy, true);
          gemm_ref(M, w.view(), {x1.data(), want1.data(), bias.data()}, ldx, ldy, true, key,
                   z.scale[1]);
          for (const GemmKernel* kernel : kernels()) {
            std::vector<float> got0 = y0, got1 = y0, f32_0 = y0, f32_1 = y0;
            const GemmStream s[2] = {{x0.data(), got0.data(), bias.data()},
                                     {x1.data(), got1.data(), bias.data()}};
            gemm(M, w.view(), 2, s, ldx, ldy, {true, kernel}, &z);
            const GemmStream s32[2] = {{x0.data(), f32_0.data(), bias.data()},
                                       {x1.data(), f32_1.data(), bias.data()}};
            gemm(M, w.f32_view(), 2, s32, ldx, ldy, {true, kernel}, &z);
            INFO(weight_format_name(f)
                 << " " << kernel->blocking.isa << " M=" << M << " N=" << N << " K=" << K);
            REQUIRE(test::max_rel_error(got0.data(), want0.data(), got0.size()) <= tolerance(K));
            REQUIRE(test::max_rel_error(got1.data(), want1.data(), got1.size()) <= tolerance(K));
            // The same fp32 panels, so the same bits as the GEMM over dequantize_row's values.
            REQUIRE(std::memcmp(got0.data(), f32_0.data(), got0.size() * 4) == 0);
            REQUIRE(std::memcmp(got1.data(), f32_1.data(), got1.size() * 4) == 0);
            for (std::int64_t m = 0; m < M; ++m) {  // Y's padding columns untouched
              for (std::int64_t n = N; n < ldy; ++n) {
                REQUIRE(got0[m * ldy + n] == y0[m * ldy + n]);
                REQUIRE(got1[m * ldy + n] == y0[m * ldy + n]);
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("quant gemm with a ± pair (S = 2) equals gemm_ref with the same z, on a row slice") {
  const std::uint64_t key = z_key(11, fnv1a64("blk.0.ffn_up.weight"));
  for (WeightFormat f : kFormats) {
    const std::int64_t K = weight_block_size(f) == 256 ? 768 : 544, N = 41, r0 = 3, rows = 31;
    const QuantMatrix w(f, N, K, 77);
    for (std::int64_t M : {1, 3, 17, 70}) {
      const std::int64_t ldx = K, ldy = rows + 1;
      const std::vector<float> xp = test::random_floats(M * ldx, 1),
                               xm = test::random_floats(M * ldx, 2);
      WeightPerturbation pair;
      pair.streams = 2;
      pair.key[0] = pair.key[1] = key;
      pair.scale[0] = 1e-2f;
      pair.scale[1] = -1e-2f;
      pair.index_base = r0 * w.ldw;  // the slice's element (0, 0) within the tensor
      std::vector<float> want_p(M * ldy), want_m(M * ldy);
      gemm_ref(M, w.view(r0, rows), {xp.data(), want_p.data(), nullptr}, ldx, ldy, false, key,
               1e-2f, pair.index_base);
      gemm_ref(M, w.view(r0, rows), {xm.data(), want_m.data(), nullptr}, ldx, ldy, false, key,
               -1e-2f, pair.index_base);
      for (const GemmKernel* kernel : kernels()) {
        std::vector<float> yp(M * ldy), ym(M * ldy), yp32(M * ldy), ym32(M * ldy);
        const GemmStream s[2] = {{xp.data(), yp.data(), nullptr}, {xm.data(), ym.data(), nullptr}};
        gemm(M, w.view(r0, rows), 2, s, ldx, ldy, {false, kernel}, &pair);
        const GemmStream s32[2] = {{xp.data(), yp32.data(), nullptr},
                                   {xm.data(), ym32.data(), nullptr}};
        gemm(M, w.f32_view(r0, rows), 2, s32, ldx, ldy, {false, kernel}, &pair);
        INFO(weight_format_name(f) << " " << kernel->blocking.isa << " M=" << M);
        REQUIRE(test::max_rel_error(yp.data(), want_p.data(), yp.size()) <= tolerance(K));
        REQUIRE(test::max_rel_error(ym.data(), want_m.data(), ym.size()) <= tolerance(K));
        REQUIRE(std::memcmp(yp.data(), yp32.data(), yp.size() * 4) == 0);
        REQUIRE(std::memcmp(ym.data(), ym32.data(), ym.size() * 4) == 0);
      }
    }
  }
}

TEST_CASE("quant gemm (packer path) is bit-identical for 1 and 2 threads, ± pair and {0, c}") {
  const std::uint64_t key = z_key(4, fnv1a64("w"));
  for (WeightFormat f : kFormats) {
    const QuantMatrix w(f, 90, 1024, 5);
    for (std::int64_t M : {1, 17, 70}) {
      const std::vector<float> xp = test::random_floats(M * w.K, 3);
      const std::vector<float> xm = test::random_floats(M * w.K, 4);
      for (float first_scale : {1e-3f, 0.0f}) {
        WeightPerturbation pair;
        pair.streams = 2;
        pair.key[0] = pair.key[1] = key;
        pair.scale[0] = first_scale;
        pair.scale[1] = -1e-3f;
        std::vector<float> first[2];
        for (int threads = 1; threads <= 2; ++threads) {
          set_num_threads(threads);
          std::vector<float> yp(M * w.N), ym(M * w.N);
          const GemmStream s[2] = {{xp.data(), yp.data(), nullptr},
                                   {xm.data(), ym.data(), nullptr}};
          gemm(M, w.view(), 2, s, w.K, w.N, {}, &pair);
          if (threads == 1) {
            first[0] = yp, first[1] = ym;
          } else {
            INFO(weight_format_name(f) << " M=" << M << " scale0=" << first_scale);
            REQUIRE(std::memcmp(yp.data(), first[0].data(), yp.size() * 4) == 0);
            REQUIRE(std::memcmp(ym.data(), first[1].data(), ym.size() * 4) == 0);
          }
        }
      }
    }
  }
  set_num_threads(0);
}
