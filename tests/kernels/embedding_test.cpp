#include "kernels/embedding.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/gemm.h"
#include "kernels/quant_blocks.h"
#include "kernels/simd.h"
#include "kernels/zrng.h"
#include "test_util.h"

using namespace pocket;

namespace {

WeightView f16_table(const std::vector<fp16>& table, std::int64_t vocab, std::int64_t d) {
  return {WeightFormat::kF16, table.data(), nullptr, vocab, d, d};
}

}  // namespace

TEST_CASE("embedding_gather copies fp16 rows to fp32 (+ addend); " POCKET_SIMD_NAME " equals ref") {
  const int vocab = 97;
  for (int d : test::edge_sizes()) {
    for (int n : {1, 5, 300}) {
      for (bool with_addend : {false, true}) {
        INFO("d = " << d << ", n = " << n << ", addend = " << with_addend);
        const auto table = test::random_f16(vocab * d, d, 2.0f);
        std::vector<std::int32_t> ids(n);
        for (int i = 0; i < n; ++i) ids[i] = (i * 31 + 7) % vocab;
        ids[0] = vocab - 1;  // the last row too
        const auto addend = test::random_floats(n * d, n + d);
        const float* add = with_addend ? addend.data() : nullptr;
        std::vector<float> ref(n * d), fast(n * d);
        embedding_gather_ref(f16_table(table, vocab, d), ids.data(), n, add, ref.data());
        embedding_gather(f16_table(table, vocab, d), ids.data(), n, add, fast.data());
        for (int i = 0; i < n; ++i) {
          for (int j = 0; j < d; ++j) {
            const float e = f16_to_f32_scalar(table[ids[i] * d + j]);
            REQUIRE(ref[i * d + j] == (with_addend ? e + addend[i * d + j] : e));
          }
        }
        REQUIRE(fast == ref);
      }
    }
  }
}

namespace {

// The perturbation of one gather: z key, scale, flat index of the table's element 0.
struct ZArgs {
  std::uint64_t z_key;
  float scale;
  std::int64_t index_base;
};

// The perturbed gather written out from its definition (embedding.h), one element at a time.
float perturbed_by_definition(const std::vector<fp16>& table, int d, std::int32_t id, int j,
                              const float* addend, const ZArgs& p) {
  const std::uint64_t index = static_cast<std::uint64_t>(p.index_base) +
                              static_cast<std::uint64_t>(id) * d + static_cast<std::uint64_t>(j);
  const float sz = p.scale * z_sign(p.z_key, index);
  const float e = f16_to_f32_scalar(table[id * d + j]) + sz;
  return addend ? e + *addend : e;
}

}  // namespace

TEST_CASE("embedding_gather_perturbed adds scale*z of the table row; " POCKET_SIMD_NAME
          " equals ref") {
  const int vocab = 41;
  const std::uint64_t key = z_key(77, fnv1a64("model.decoder.embed_tokens.weight"));
  for (int d : test::edge_sizes()) {
    for (int n : {1, 6, 300}) {
      for (std::int64_t index_base : {std::int64_t{0}, std::int64_t{5}, std::int64_t{1} << 33}) {
        for (float scale : {1e-2f, -0.375f}) {
          for (bool with_addend : {false, true}) {
            INFO("d = " << d << ", n = " << n << ", index_base = " << index_base
                        << ", scale = " << scale << ", addend = " << with_addend);
            const auto table = test::random_f16(vocab * d, 3 * d + 1, 2.0f);
            std::vector<std::int32_t> ids(n);
            for (int i = 0; i < n; ++i) ids[i] = (i * 17 + 3) % vocab;
            ids[0] = vocab - 1;  // the last row too
            const auto addend = test::random_floats(n * d, n + 2 * d);
            const float* add = with_addend ? addend.data() : nullptr;
            const ZArgs p{key, scale, index_base};
            std::vector<float> ref(n * d), fast(n * d);
            embedding_gather_perturbed_ref(f16_table(table, vocab, d), ids.data(), n, add,
                                           ref.data(), p.z_key, p.scale, p.index_base);
            embedding_gather_perturbed(f16_table(table, vocab, d), ids.data(), n, add, fast.data(),
                                       p.z_key, p.scale, p.index_base);
            for (int i = 0; i < n; ++i) {
              for (int j = 0; j < d; ++j) {
                const float* a = with_addend ? &addend[i * d + j] : nullptr;
                REQUIRE(ref[i * d + j] == perturbed_by_definition(table, d, ids[i], j, a, p));
              }
            }
            REQUIRE(std::memcmp(fast.data(), ref.data(), sizeof(float) * n * d) == 0);
          }
        }
      }
    }
  }
}

TEST_CASE("embedding_gather_perturbed: row r takes z[r*d + j] and the z values are zrng's") {
  const int vocab = 5, d = 70;  // a row crosses a 64-bit z word
  const std::uint64_t key = z_key(3, fnv1a64("model.embed_tokens.weight"));
  std::vector<fp16> table(vocab * d, f32_to_f16_scalar(0.0f));
  const std::vector<std::int32_t> ids = {4, 0, 4, 2};
  const int n = static_cast<int>(ids.size());
  const float scale = 0.5f;
  std::vector<float> out(n * d);
  embedding_gather_perturbed(f16_table(table, vocab, d), ids.data(), n, nullptr, out.data(), key,
                             scale, 0);
  int plus = 0;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) {
      // 0 + scale*z: the output is the z value itself, scaled
      REQUIRE(out[i * d + j] == scale * z_sign(key, static_cast<std::uint64_t>(ids[i] * d + j)));
      plus += out[i * d + j] > 0;
    }
  }
  CHECK(plus > n * d / 4);  // both signs occur
  CHECK(plus < 3 * n * d / 4);
  // the same token at two positions reads the same z
  REQUIRE(std::memcmp(out.data(), out.data() + 2 * d, sizeof(float) * d) == 0);
}

TEST_CASE("embedding_gather_perturbed with scale 0 is embedding_gather, bit for bit") {
  const int vocab = 13;
  for (int d : {1, 17, 64, 129}) {
    for (bool with_addend : {false, true}) {
      INFO("d = " << d << ", addend = " << with_addend);
      auto table = test::random_f16(vocab * d, d + 99, 1.0f);
      table[(vocab - 1) * d] = 0x8000;  // -0: an add of +0 would turn it into +0
      const std::vector<std::int32_t> ids = {vocab - 1, 0, 7, vocab - 1, 3};
      const int n = static_cast<int>(ids.size());
      const std::vector<float> addend(n * d, -0.0f);
      const float* add = with_addend ? addend.data() : nullptr;
      std::vector<float> plain(n * d), fast(n * d), ref(n * d);
      embedding_gather(f16_table(table, vocab, d), ids.data(), n, add, plain.data());
      const ZArgs p{z_key(1, 2), 0.0f, 11};
      embedding_gather_perturbed(f16_table(table, vocab, d), ids.data(), n, add, fast.data(),
                                 p.z_key, p.scale, p.index_base);
      embedding_gather_perturbed_ref(f16_table(table, vocab, d), ids.data(), n, add, ref.data(),
                                     p.z_key, p.scale, p.index_base);
      REQUIRE(std::memcmp(fast.data(), plain.data(), sizeof(float) * n * d) == 0);
      REQUIRE(std::memcmp(ref.data(), plain.data(), sizeof(float) * n * d) == 0);
      CHECK(std::signbit(plain[0]));
    }
  }
}

TEST_CASE("quant embedding tables (F32, Q8_0, Q4_K; stride > cols) gather dequantize_row's rows") {
  const std::int64_t vocab = 23;
  for (WeightFormat f : {WeightFormat::kF32, WeightFormat::kQ8_0, WeightFormat::kQ4_K}) {
    const std::int64_t bs = weight_block_size(f) == 1 ? 5 : weight_block_size(f);
    for (std::int64_t d : {bs, 3 * bs, 7 * bs}) {
      const std::int64_t stride = d + bs;
      const auto values = test::random_floats(vocab * stride, static_cast<std::uint32_t>(d), -2, 2);
      std::vector<std::uint8_t> table_bytes(weight_bytes(f, vocab * stride));
      quantize_row(f, values.data(), table_bytes.data(), vocab * stride);
      const WeightView table{f, table_bytes.data(), nullptr, vocab, d, stride};
      // Row r as dequantize_row decodes it: the expected gather.
      std::vector<float> rows(vocab * d);
      for (std::int64_t r = 0; r < vocab; ++r) {
        dequantize_row(f, table_bytes.data() + weight_bytes(f, r * stride), rows.data() + r * d, d);
      }
      const std::vector<std::int32_t> ids = {22, 0, 5, 22, 13, 1, 7};
      const std::int64_t n = static_cast<std::int64_t>(ids.size());
      const auto addend = test::random_floats(n * d, 4);
      const std::uint64_t key = z_key(8, fnv1a64("token_embd.weight"));
      for (bool with_addend : {false, true}) {
        for (float scale : {0.0f, 0.25f}) {
          INFO(weight_format_name(f)
               << " d=" << d << " addend=" << with_addend << " scale=" << scale);
          const float* add = with_addend ? addend.data() : nullptr;
          std::vector<float> ref(n * d), fast(n * d);
          embedding_gather_perturbed_ref(table, ids.data(), n, add, ref.data(), key, scale, 9);
          embedding_gather_perturbed(table, ids.data(), n, add, fast.data(), key, scale, 9);
          for (std::int64_t i = 0; i < n; ++i) {
            for (std::int64_t j = 0; j < d; ++j) {
              // z at the element's flat index in the table: index_base + row·stride + j.
              const float sz =
                  scale * z_sign(key, static_cast<std::uint64_t>(9 + ids[i] * stride + j));
              float e = rows[ids[i] * d + j];
              if (scale != 0.0f) e = e + sz;
              REQUIRE(ref[i * d + j] == (add ? e + add[i * d + j] : e));
            }
          }
          REQUIRE(std::memcmp(fast.data(), ref.data(), sizeof(float) * n * d) == 0);
          if (scale == 0.0f) {
            std::vector<float> plain(n * d);
            embedding_gather(table, ids.data(), n, add, plain.data());
            REQUIRE(std::memcmp(plain.data(), ref.data(), sizeof(float) * n * d) == 0);
          }
        }
      }
    }
  }
}
