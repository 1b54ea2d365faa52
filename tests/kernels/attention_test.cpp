#include "kernels/attention.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/simd.h"
#include "kernels/thread_pool.h"
#include "test_util.h"

using namespace pocket;

namespace {

// Packed inputs for one shape: q[B,T,H,hd], k,v[B,S,Hkv,hd], mask[B,S].
struct Inputs {
  AttentionShape shape;
  std::vector<float> q, k, v;
  std::vector<std::uint8_t> mask;

  Inputs(const AttentionShape& s, std::uint32_t seed) : shape(s) {
    q = test::random_floats(s.batch * s.q_len * s.n_heads * s.head_dim, seed, -2.0f, 2.0f);
    k = test::random_floats(s.batch * s.kv_len * s.n_heads_kv * s.head_dim, seed + 1, -2.0f, 2.0f);
    v = test::random_floats(k.size(), seed + 2);
    mask.assign(s.batch * s.kv_len, 1);
  }
  std::size_t out_size() const {
    return static_cast<std::size_t>(shape.batch * shape.q_len * shape.n_heads * shape.head_dim);
  }
  std::vector<float> run_ref(bool use_mask) const {
    std::vector<float> out(out_size());
    attention_ref(q.data(), k.data(), v.data(), use_mask ? mask.data() : nullptr, out.data(),
                  shape);
    return out;
  }
  std::vector<float> run_fast(bool use_mask) const {
    std::vector<float> out(out_size());
    attention(q.data(), k.data(), v.data(), use_mask ? mask.data() : nullptr, out.data(), shape);
    return out;
  }
};

// Textbook attention in double: the explicit [T,S] score matrix per (b, h), -inf where not
// visible, softmax over each row, times V. Rows with nothing visible are zero (as documented).
std::vector<float> naive_attention(const Inputs& in, bool use_mask) {
  const AttentionShape& s = in.shape;
  const int hd = s.head_dim, group = s.n_heads / s.n_heads_kv;
  const double ninf = -std::numeric_limits<double>::infinity();
  std::vector<float> out(in.out_size());
  std::vector<double> scores(s.q_len * s.kv_len);
  for (std::int64_t b = 0; b < s.batch; ++b) {
    for (int h = 0; h < s.n_heads; ++h) {
      const int g = h / group;
      for (std::int64_t t = 0; t < s.q_len; ++t) {
        for (std::int64_t j = 0; j < s.kv_len; ++j) {
          const bool visible = (!use_mask || in.mask[b * s.kv_len + j]) &&
                               (!s.causal || j <= t + s.kv_len - s.q_len);
          double dot = 0.0;
          for (int i = 0; i < hd; ++i) {
            dot += static_cast<double>(in.q[((b * s.q_len + t) * s.n_heads + h) * hd + i]) *
                   in.k[((b * s.kv_len + j) * s.n_heads_kv + g) * hd + i];
          }
          scores[t * s.kv_len + j] = visible ? dot / std::sqrt(static_cast<double>(hd)) : ninf;
        }
      }
      for (std::int64_t t = 0; t < s.q_len; ++t) {
        const double* row = scores.data() + t * s.kv_len;
        double max = ninf;
        for (std::int64_t j = 0; j < s.kv_len; ++j) max = std::max(max, row[j]);
        float* o = out.data() + ((b * s.q_len + t) * s.n_heads + h) * hd;
        if (max == ninf) continue;  // nothing visible: zeros
        double sum = 0.0;
        for (std::int64_t j = 0; j < s.kv_len; ++j) sum += std::exp(row[j] - max);
        for (int i = 0; i < hd; ++i) {
          double acc = 0.0;
          for (std::int64_t j = 0; j < s.kv_len; ++j) {
            if (row[j] == ninf) continue;
            acc += std::exp(row[j] - max) / sum *
                   in.v[((b * s.kv_len + j) * s.n_heads_kv + g) * hd + i];
          }
          o[i] = static_cast<float>(acc);
        }
      }
    }
  }
  return out;
}

AttentionShape make_shape(std::int64_t B, std::int64_t T, std::int64_t S, int H, int Hkv, int hd,
                          bool causal) {
  AttentionShape s;
  s.batch = B;
  s.q_len = T;
  s.kv_len = S;
  s.n_heads = H;
  s.n_heads_kv = Hkv;
  s.head_dim = hd;
  s.causal = causal;
  return s;
}

// Pads the tail of every sequence but the first, and a hole in the middle of the last.
void pad_some_keys(Inputs& in) {
  const auto& s = in.shape;
  for (std::int64_t b = 1; b < s.batch; ++b) {
    for (std::int64_t j = s.kv_len - b * s.kv_len / (s.batch + 1); j < s.kv_len; ++j) {
      in.mask[b * s.kv_len + j] = 0;
    }
  }
  if (s.kv_len > 4) in.mask[(s.batch - 1) * s.kv_len + 1] = 0;
}

constexpr double kRefTol = 1e-5;   // attention_ref vs double, relative to max |out|
constexpr double kFastTol = 1e-5;  // attention vs attention_ref

}  // namespace

TEST_CASE(
    "attention_ref matches a naive double-precision attention (causal, bidirectional, "
    "GQA, padding, S > T)") {
  struct Case {
    std::int64_t B, T, S;
    int H, Hkv, hd;
  };
  const Case cases[] = {{1, 1, 1, 1, 1, 1},    {1, 7, 7, 2, 1, 8},    {2, 5, 13, 4, 2, 16},
                        {3, 17, 17, 6, 3, 33}, {2, 1, 65, 8, 2, 64},  {1, 33, 40, 4, 4, 7},
                        {2, 9, 9, 12, 4, 64},  {1, 64, 129, 2, 1, 65}};
  for (const Case& c : cases) {
    for (bool causal : {true, false}) {
      for (bool use_mask : {false, true}) {
        INFO("B " << c.B << " T " << c.T << " S " << c.S << " H " << c.H << " Hkv " << c.Hkv
                  << " hd " << c.hd << " causal " << causal << " mask " << use_mask);
        Inputs in(make_shape(c.B, c.T, c.S, c.H, c.Hkv, c.hd, causal), c.hd * 100 + c.S);
        if (use_mask) pad_some_keys(in);
        const auto want = naive_attention(in, use_mask);
        const auto ref = in.run_ref(use_mask);
        CHECK(test::max_rel_error(ref.data(), want.data(), want.size()) < kRefTol);
      }
    }
  }
}

TEST_CASE("attention (" POCKET_SIMD_NAME ") matches attention_ref over edge sizes") {
  for (int hd : {1, 3, 8, 16, 17, 64, 65, 128}) {
    for (int S : test::edge_sizes()) {
      for (bool causal : {true, false}) {
        const std::int64_t T = causal ? (S + 1) / 2 : 3;
        INFO("hd " << hd << " S " << S << " T " << T << " causal " << causal);
        Inputs in(make_shape(2, T, S, 4, 2, hd, causal), hd + 7 * S);
        pad_some_keys(in);
        for (bool use_mask : {false, true}) {
          const auto ref = in.run_ref(use_mask);
          const auto fast = in.run_fast(use_mask);
          REQUIRE(test::max_rel_error(fast.data(), ref.data(), ref.size()) < kFastTol);
        }
      }
    }
  }
}

TEST_CASE("attention: grouped-query heads equal multi-head with duplicated kv heads") {
  const int H = 8, Hkv = 2, hd = 32;
  for (bool causal : {true, false}) {
    Inputs gqa(make_shape(2, 20, 24, H, Hkv, hd, causal), 5);
    pad_some_keys(gqa);
    Inputs mha(make_shape(2, 20, 24, H, H, hd, causal), 5);
    mha.q = gqa.q;
    mha.mask = gqa.mask;
    // kv head g serves query heads g*4 .. g*4+3: copy it into each of them.
    for (std::int64_t row = 0; row < 2 * 24; ++row) {
      for (int h = 0; h < H; ++h) {
        for (int i = 0; i < hd; ++i) {
          mha.k[(row * H + h) * hd + i] = gqa.k[(row * Hkv + h / (H / Hkv)) * hd + i];
          mha.v[(row * H + h) * hd + i] = gqa.v[(row * Hkv + h / (H / Hkv)) * hd + i];
        }
      }
    }
    CHECK(gqa.run_ref(true) == mha.run_ref(true));
    CHECK(gqa.run_fast(true) == mha.run_fast(true));
  }
}

TEST_CASE("attention: a query row that sees no key gives zeros, not NaN") {
  // Causal, and batch 1 has its first three keys padded: queries 0..2 of that batch see nothing.
  Inputs in(make_shape(2, 6, 6, 2, 1, 16, true), 21);
  for (int j = 0; j < 3; ++j) in.mask[6 + j] = 0;
  // Masked keys may hold garbage (an unfilled cache slot): it must not leak into any output.
  for (int i = 0; i < 16; ++i) {
    in.k[(6 + 1) * 16 + i] = std::numeric_limits<float>::quiet_NaN();
    in.v[(6 + 2) * 16 + i] = std::numeric_limits<float>::infinity();
  }
  for (const auto& out : {in.run_ref(true), in.run_fast(true)}) {
    for (float x : out) REQUIRE(std::isfinite(x));
    for (int t = 0; t < 3; ++t) {
      for (int i = 0; i < 2 * 16; ++i) REQUIRE(out[(6 + t) * 2 * 16 + i] == 0.0f);
    }
    // Query 3 of batch 1 sees only key 3: its output is exactly v[3].
    for (int h = 0; h < 2; ++h) {
      for (int i = 0; i < 16; ++i)
        REQUIRE(out[((6 + 3) * 2 + h) * 16 + i] == in.v[(6 + 3) * 16 + i]);
    }
    const auto want = naive_attention(in, true);
    CHECK(test::max_rel_error(out.data(), want.data(), want.size()) < kRefTol);
  }
  // Every key masked and bidirectional: all zeros.
  Inputs none(make_shape(1, 3, 5, 2, 2, 8, false), 22);
  none.mask.assign(5, 0);
  for (const auto& out : {none.run_ref(true), none.run_fast(true)}) {
    for (float x : out) REQUIRE(x == 0.0f);
  }
}

TEST_CASE("attention: one decode step over a KV cache equals the last row of the full prompt") {
  const int S = 100, H = 4, Hkv = 2, hd = 64;
  Inputs full(make_shape(1, S, S, H, Hkv, hd, true), 31);
  Inputs step(make_shape(1, 1, S, H, Hkv, hd, true), 31);
  step.k = full.k;
  step.v = full.v;
  step.q.assign(full.q.end() - H * hd, full.q.end());
  const auto full_ref = full.run_ref(false), full_fast = full.run_fast(false);
  const auto step_ref = step.run_ref(false), step_fast = step.run_fast(false);
  CHECK(std::vector<float>(full_ref.end() - H * hd, full_ref.end()) == step_ref);
  CHECK(std::vector<float>(full_fast.end() - H * hd, full_fast.end()) == step_fast);
}

TEST_CASE("attention: strided q/k/v (fused qkv, KV cache with spare slots) equal packed inputs") {
  const std::int64_t B = 2, T = 5, S = 9, S_max = 16;
  const int H = 4, Hkv = 2, hd = 16, C = H * hd, Ckv = Hkv * hd;
  Inputs packed(make_shape(B, T, S, H, Hkv, hd, true), 41);
  pad_some_keys(packed);
  // q rows inside a wider buffer (like a fused qkv projection); k and v in caches of S_max
  // slots per sequence whose unfilled slots hold NaN; out into rows with padding.
  const std::int64_t q_stride = 3 * C, out_stride = C + 3;
  std::vector<float> q(B * T * q_stride, 0.0f), out(B * T * out_stride, -7.0f);
  std::vector<float> k(B * S_max * Ckv, std::numeric_limits<float>::quiet_NaN()), v = k;
  for (std::int64_t r = 0; r < B * T; ++r) {
    for (int i = 0; i < C; ++i) q[r * q_stride + i] = packed.q[r * C + i];
  }
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t j = 0; j < S; ++j) {
      for (int i = 0; i < Ckv; ++i) {
        k[(b * S_max + j) * Ckv + i] = packed.k[(b * S + j) * Ckv + i];
        v[(b * S_max + j) * Ckv + i] = packed.v[(b * S + j) * Ckv + i];
      }
    }
  }
  AttentionShape strided = packed.shape;
  strided.q_stride = q_stride;
  strided.out_stride = out_stride;
  strided.kv_batch_stride = S_max * Ckv;
  for (bool fast : {false, true}) {
    const auto want = fast ? packed.run_fast(true) : packed.run_ref(true);
    if (fast) {
      attention(q.data(), k.data(), v.data(), packed.mask.data(), out.data(), strided);
    } else {
      attention_ref(q.data(), k.data(), v.data(), packed.mask.data(), out.data(), strided);
    }
    for (std::int64_t r = 0; r < B * T; ++r) {
      for (int i = 0; i < C; ++i) REQUIRE(out[r * out_stride + i] == want[r * C + i]);
      for (int i = C; i < out_stride; ++i) REQUIRE(out[r * out_stride + i] == -7.0f);
    }
  }
}

TEST_CASE("attention is bit-identical for 1, 2 and 3 threads") {
  Inputs in(make_shape(2, 70, 90, 12, 4, 64, true), 51);
  pad_some_keys(in);
  set_num_threads(1);
  const auto one = in.run_fast(true);
  set_num_threads(2);
  const auto two = in.run_fast(true);
  set_num_threads(3);
  const auto three = in.run_fast(true);
  set_num_threads(0);
  CHECK(one == two);
  CHECK(one == three);
  const auto ref = in.run_ref(true);
  CHECK(test::max_rel_error(one.data(), ref.data(), ref.size()) < kFastTol);
}
