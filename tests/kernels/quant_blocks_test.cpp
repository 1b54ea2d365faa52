#include "kernels/quant_blocks.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "test_util.h"

using namespace pocket;

namespace {

template <typename Block>
std::vector<float> decode(const Block& block, WeightFormat format) {
  std::vector<float> out(weight_block_size(format));
  dequantize_row(format, &block, out.data(), static_cast<std::int64_t>(out.size()));
  return out;
}

std::vector<float> gaussian(std::size_t n, std::uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Q6_K's layout, written out independently of the decoder: value e of a block (half h = e / 128,
// quarter c = e % 128 / 32, l = e % 32) keeps its low 4 bits in ql[64h + l + 32·(c % 2)] (low
// nibble for c < 2, high for c ≥ 2) and its high 2 bits in bits 2c, 2c + 1 of qh[32h + l].
void set_q6(BlockQ6_K& block, int e, int q) {
  const int h = e / 128, c = e % 128 / 32, l = e % 32;
  std::uint8_t& low = block.ql[64 * h + l + 32 * (c % 2)];
  const int shift = c < 2 ? 0 : 4;
  low = static_cast<std::uint8_t>((low & ~(0x0F << shift)) | ((q & 0x0F) << shift));
  std::uint8_t& high = block.qh[32 * h + l];
  high = static_cast<std::uint8_t>((high & ~(3 << (2 * c))) | ((q >> 4) << (2 * c)));
}

}  // namespace

TEST_CASE("quant F16/F32 rows: dequantize_row converts / copies, quantize_row rounds to fp16") {
  const std::vector<fp16> h = {0x3C00, 0xC000, 0x3555, 0x0001};  // 1, -2, 0.33325195, 2^-24
  std::vector<float> out(4);
  dequantize_row(WeightFormat::kF16, h.data(), out.data(), 4);
  CHECK(out == std::vector<float>{1.0f, -2.0f, 0.333251953125f, 0x1p-24f});
  std::vector<fp16> back(4);
  quantize_row(WeightFormat::kF16, out.data(), back.data(), 4);
  CHECK(back == h);
  const std::vector<float> f = {1.5f, -0.0f, 3e-39f, 7.0f};
  dequantize_row(WeightFormat::kF32, f.data(), out.data(), 4);
  CHECK(std::memcmp(out.data(), f.data(), 16) == 0);
}

TEST_CASE("quant Q8_0 block by hand: x = d * q") {
  BlockQ8_0 block;
  block.d = 0x3800;                                                                 // 0.5
  for (int j = 0; j < 32; ++j) block.qs[j] = static_cast<std::int8_t>(3 * j - 50);  // -50 .. 43
  block.qs[0] = -127;
  block.qs[31] = 127;
  const std::vector<float> y = decode(block, WeightFormat::kQ8_0);
  CHECK(y[0] == -63.5f);  // 0.5 * -127
  CHECK(y[1] == -23.5f);  // 0.5 * (3 - 50)
  CHECK(y[17] == 0.5f);   // 0.5 * (51 - 50)
  CHECK(y[30] == 20.0f);  // 0.5 * (90 - 50)
  CHECK(y[31] == 63.5f);  // 0.5 * 127
  for (int j = 1; j < 31; ++j) CHECK(y[j] == 0.5f * static_cast<float>(3 * j - 50));
}

TEST_CASE("quant Q4_0 block by hand: x = d * (q - 8), byte j = q[j] | q[j + 16] << 4") {
  BlockQ4_0 block;
  block.d = 0xB400;  // -0.25
  for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<std::uint8_t>(j | ((15 - j) << 4));
  const std::vector<float> y = decode(block, WeightFormat::kQ4_0);
  CHECK(y[0] == 2.0f);   // q 0:   -0.25 * -8
  CHECK(y[8] == -0.0f);  // q 8:   -0.25 * 0 (= -0)
  CHECK(std::signbit(y[8]));
  CHECK(y[15] == -1.75f);  // q 15:  -0.25 * 7
  CHECK(y[16] == -1.75f);  // byte 0's high nibble, q 15
  CHECK(y[31] == 2.0f);    // byte 15's high nibble, q 0
  for (int j = 0; j < 16; ++j) {
    CHECK(y[j] == -0.25f * static_cast<float>(j - 8));
    CHECK(y[j + 16] == -0.25f * static_cast<float>(7 - j));
  }
}

TEST_CASE("quant Q4_K block by hand: the 6-bit scales and mins of all 8 sub-blocks, up to 63") {
  // sc = {1, 2, 63, 32, 17, 48, 5, 60}, m = {3, 63, 0, 40, 33, 62, 7, 16}, packed by hand:
  //   bytes 0-3:  sc[s] | (sc[s + 4] >> 4) << 6:  1|1<<6, 2|3<<6, 63|0<<6, 32|3<<6
  //   bytes 4-7:  m[s]  | (m[s + 4] >> 4) << 6:   3|2<<6, 63|3<<6, 0|0<<6, 40|1<<6
  //   bytes 8-11: (sc[s + 4] & 15) | (m[s + 4] & 15) << 4:  1|1<<4, 0|14<<4, 5|7<<4, 12|0<<4
  const std::uint8_t packed[12] = {0x41, 0xC2, 0x3F, 0xE0, 0x83, 0xFF,
                                   0x00, 0x68, 0x11, 0xE0, 0x75, 0x0C};
  const int sc[8] = {1, 2, 63, 32, 17, 48, 5, 60}, m[8] = {3, 63, 0, 40, 33, 62, 7, 16};
  for (int s = 0; s < 8; ++s) {
    std::uint8_t got_sc, got_m;
    q4_k_scale_min(s, packed, &got_sc, &got_m);
    CHECK(got_sc == sc[s]);
    CHECK(got_m == m[s]);
  }

  BlockQ4_K block;
  block.d = 0x3800;     // 0.5
  block.dmin = 0x3400;  // 0.25
  std::memcpy(block.scales, packed, 12);
  // Byte 32p + l: low nibble = value 64p + l (sub-block 2p), high = value 64p + 32 + l (2p + 1).
  for (int b = 0; b < 128; ++b) {
    block.qs[b] = static_cast<std::uint8_t>((b & 15) | ((15 - (b & 15)) << 4));
  }
  const std::vector<float> y = decode(block, WeightFormat::kQ4_K);
  CHECK(y[0] == -0.75f);    // s 0, q 0:   0.5*1*0 - 0.25*3
  CHECK(y[35] == -3.75f);   // s 1, q 12 (byte 3 high): 0.5*2*12 - 0.25*63
  CHECK(y[79] == 472.5f);   // s 2, q 15 (byte 47 low):  0.5*63*15 - 0
  CHECK(y[96] == 230.0f);   // s 3, q 15 (byte 32 high): 0.5*32*15 - 0.25*40
  CHECK(y[130] == 8.75f);   // s 4, q 2 (byte 66 low):   0.5*17*2 - 0.25*33
  CHECK(y[191] == -15.5f);  // s 5, q 0 (byte 95 high):  0.5*48*0 - 0.25*62
  CHECK(y[200] == 18.25f);  // s 6, q 8 (byte 104 low):  0.5*5*8 - 0.25*7
  CHECK(y[255] == -4.0f);   // s 7, q 0 (byte 127 high): 0.5*60*0 - 0.25*16
  for (int e = 0; e < 256; ++e) {
    const int s = e / 32, b = 32 * (s / 2) + e % 32;
    const int q = s % 2 == 0 ? (b & 15) : 15 - (b & 15);
    CHECK(y[e] == 0.5f * static_cast<float>(sc[s] * q) - 0.25f * static_cast<float>(m[s]));
  }
}

TEST_CASE("quant Q4_K rounds as llama.cpp: d1 = d*sc, m1 = dmin*m, then d1*q - m1, in fp32") {
  BlockQ4_K block{};
  block.d = 0x3555;      // 0.333251953125
  block.dmin = 0x2E66;   // 0.0999755859375
  block.scales[0] = 61;  // sc[0] = 61
  block.scales[4] = 59;  // m[0]  = 59
  for (int b = 0; b < 32; ++b) block.qs[b] = static_cast<std::uint8_t>(b % 16);
  const std::vector<float> y = decode(block, WeightFormat::kQ4_K);
  const float d1 = 0.333251953125f * 61.0f, m1 = 0.0999755859375f * 59.0f;
  for (int l = 0; l < 32; ++l) CHECK(y[l] == d1 * static_cast<float>(l % 16) - m1);
  // Sub-blocks 1-7 have sc = m = 0: exact zeros.
  for (int e = 32; e < 256; ++e) CHECK(y[e] == 0.0f);
}

TEST_CASE("quant Q6_K: ql/qh layout at every position, x = (d * scales[e / 16]) * (q - 32)") {
  // Base block: every q = 32 (ql nibbles 0, qh fields 0b10), i.e. every value 0.
  BlockQ6_K base;
  std::memset(base.ql, 0, sizeof(base.ql));
  std::memset(base.qh, 0xAA, sizeof(base.qh));
  for (int s = 0; s < 16; ++s) base.scales[s] = static_cast<std::int8_t>(s % 2 ? -(s + 1) : s + 1);
  base.d = 0x3800;  // 0.5
  CHECK(decode(base, WeightFormat::kQ6_K) == std::vector<float>(256, 0.0f));
  // Spot check by hand: value 200 (h 1, c 2, l 8) is ql[64 + 8] high nibble, qh[32 + 8] bits 4-5.
  {
    BlockQ6_K block = base;
    block.ql[72] = 0x70;                             // low 4 bits 7
    block.qh[40] = static_cast<std::uint8_t>(0x9A);  // bits 4-5 = 01: q = 16 + 7 = 23
    const std::vector<float> y = decode(block, WeightFormat::kQ6_K);
    CHECK(y[200] == 0.5f * 13.0f * -9.0f);  // scales[12] = 13, q - 32 = -9
    for (int e = 0; e < 256; ++e) {
      if (e != 200) CHECK(y[e] == 0.0f);
    }
  }
  // Every position, with q patterns that set each of the 6 bits somewhere.
  for (int q : {0, 21, 42, 63}) {
    for (int e = 0; e < 256; ++e) {
      BlockQ6_K block = base;
      set_q6(block, e, q);
      const std::vector<float> y = decode(block, WeightFormat::kQ6_K);
      const int sc = e / 16 % 2 ? -(e / 16 + 1) : e / 16 + 1;
      REQUIRE(y[e] == 0.5f * static_cast<float>(sc) * static_cast<float>(q - 32));
      for (int f = 0; f < 256; ++f) {
        if (f != e) REQUIRE(y[f] == 0.0f);
      }
    }
  }
}

TEST_CASE("quant rows of several blocks decode block by block") {
  const std::vector<float> x = gaussian(3 * 256, 7);
  for (WeightFormat f : {WeightFormat::kQ8_0, WeightFormat::kQ4_0, WeightFormat::kQ4_K}) {
    std::vector<std::uint8_t> row(weight_bytes(f, 768));
    quantize_row(f, x.data(), row.data(), 768);
    std::vector<float> whole(768), parts(768);
    dequantize_row(f, row.data(), whole.data(), 768);
    const std::int64_t bs = weight_block_size(f);
    for (std::int64_t b = 0; b < 768 / bs; ++b) {
      dequantize_row(f, row.data() + b * weight_block_bytes(f), parts.data() + b * bs, bs);
    }
    CHECK(whole == parts);
    // And each block's encoding is its own: quantizing block by block gives the same bytes.
    std::vector<std::uint8_t> by_block(row.size());
    for (std::int64_t b = 0; b < 768 / bs; ++b) {
      quantize_row(f, x.data() + b * bs, by_block.data() + b * weight_block_bytes(f), bs);
    }
    CHECK(by_block == row);
  }
}

// Q8_0: d = amax/127 in fp32, q = round(x/d) with |x/d - q| ≤ 1/2, decoded with d16 = fp16(d):
//   |x - q·d16| ≤ |x - q·d| + |q|·|d - d16| ≤ d/2 + 127·|d - d16|   (+ the fp32 roundings of x/d
// and q·d16, a few ulps of amax). |d - d16| ≤ 2^-11·d, so the bound is about 0.56·d.
TEST_CASE("quant Q8_0 round trip: |x - x'| <= d/2 + 127|d - d16| per element") {
  const std::vector<float> x = gaussian(64 * 32, 11, 0.3f);
  std::vector<BlockQ8_0> blocks(64);
  quantize_row(WeightFormat::kQ8_0, x.data(), blocks.data(), 64 * 32);
  std::vector<float> y(x.size());
  dequantize_row(WeightFormat::kQ8_0, blocks.data(), y.data(), 64 * 32);
  for (int b = 0; b < 64; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
    const double d = amax / 127.0f, d16 = f16_to_f32_scalar(blocks[b].d);
    const double bound = d / 2 + 127 * std::fabs(d - d16) + 4e-7 * amax;
    for (int j = 0; j < 32; ++j) REQUIRE(std::fabs(x[32 * b + j] - y[32 * b + j]) <= bound);
  }
}

// Q4_0: d = m/-8 (m the value of largest magnitude), x/d ∈ [-8, 8], q - 8 = x/d rounded half up,
// except that x/d > 7.5 (only x near -m) clamps to 7. Decoded with d16 = fp16(d), |q - 8| ≤ 8:
//   |x - (q-8)·d16| ≤ |d|/2 + 8·|d - d16|   unclamped,
//                   ≤ |d|   + 8·|d - d16|   clamped (x/d ∈ (7.5, 8]: |x/d - 7| ≤ 1).
TEST_CASE("quant Q4_0 round trip: |x - x'| <= |d|/2 + 8|d - d16| (|d| where clamped)") {
  std::vector<float> x = gaussian(64 * 32, 12, 0.3f);
  x[5] = 2.0f;  // a block holding both extremes, +m and -m (6.7 sigma): -m clamps from 16 to 15
  x[9] = -2.0f;
  std::vector<BlockQ4_0> blocks(64);
  quantize_row(WeightFormat::kQ4_0, x.data(), blocks.data(), 64 * 32);
  std::vector<float> y(x.size());
  dequantize_row(WeightFormat::kQ4_0, blocks.data(), y.data(), 64 * 32);
  int clamped = 0;
  for (int b = 0; b < 64; ++b) {
    float amax = 0, m = 0;
    for (int j = 0; j < 32; ++j) {
      if (amax < std::fabs(x[32 * b + j])) amax = std::fabs(x[32 * b + j]), m = x[32 * b + j];
    }
    const double d = m / -8.0f, d16 = f16_to_f32_scalar(blocks[b].d);
    for (int j = 0; j < 32; ++j) {
      const bool clamp = x[32 * b + j] / d > 7.5;
      clamped += clamp;
      const double bound =
          (clamp ? std::fabs(d) : std::fabs(d) / 2) + 8 * std::fabs(d - d16) + 4e-7 * amax;
      REQUIRE(std::fabs(x[32 * b + j] - y[32 * b + j]) <= bound);
    }
  }
  CHECK(y[9] == 7.0f * f16_to_f32_scalar(blocks[0].d));  // -m decoded as 7·d, not 8·d
  CHECK(clamped >= 1);
}

// A block whose largest |q| is 127 (Q8_0) or that holds a q = 0 (Q4_0, the value -8·d16) gives
// back d = d16 exactly when its values are requantized (127·d16 and -8·d16 are exact in fp32),
// and then every q·d16/d16 rounds back to q.
TEST_CASE("quant Q8_0 and Q4_0: quantize(dequantize(block)) == block") {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    // d16: a random normal fp16 of either sign, exponent range kept away from overflow.
    const fp16 d16 = static_cast<fp16>((rng() & 0x8000u) | (0x0400u + rng() % 0x4000u));
    BlockQ8_0 q8;
    q8.d = d16 & 0x7FFF;  // the encoder's d = amax/127 is never negative
    for (auto& q : q8.qs) q = static_cast<std::int8_t>(static_cast<int>(rng() % 255) - 127);
    q8.qs[rng() % 32] = rng() % 2 ? 127 : -127;
    std::vector<float> y = decode(q8, WeightFormat::kQ8_0);
    BlockQ8_0 q8_back;
    quantize_row(WeightFormat::kQ8_0, y.data(), &q8_back, 32);
    REQUIRE(std::memcmp(&q8, &q8_back, sizeof(q8)) == 0);

    BlockQ4_0 q4;
    q4.d = d16;
    for (auto& b : q4.qs) b = static_cast<std::uint8_t>(rng());
    const int zero_at = rng() % 32;  // q = 0 somewhere
    q4.qs[zero_at % 16] &= zero_at < 16 ? 0xF0 : 0x0F;
    y = decode(q4, WeightFormat::kQ4_0);
    BlockQ4_0 q4_back;
    quantize_row(WeightFormat::kQ4_0, y.data(), &q4_back, 32);
    REQUIRE(std::memcmp(&q4, &q4_back, sizeof(q4)) == 0);
  }
}

// Q4_K on Gaussian rows (σ = 1): 4 bits plus a fitted (scale, min) per 32 values. Measured over
// 64 rows of 4096 (seed 21): rms error 0.0712·σ, max 0.248·σ over the 262144 values (about half
// a step d·sc of the widest sub-blocks). The bounds leave 12 % and 40 % of margin.
TEST_CASE("quant Q4_K round trip on Gaussian rows: rms < 0.08 sigma, max < 0.35 sigma") {
  constexpr int kRows = 64, kCols = 4096;
  const std::vector<float> x = gaussian(static_cast<std::size_t>(kRows) * kCols, 21);
  std::vector<std::uint8_t> q(weight_bytes(WeightFormat::kQ4_K, kRows * kCols));
  quantize_row(WeightFormat::kQ4_K, x.data(), q.data(), kRows * kCols);
  std::vector<float> y(x.size());
  dequantize_row(WeightFormat::kQ4_K, q.data(), y.data(), kRows * kCols);
  double sum2 = 0, max_err = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double e = std::fabs(static_cast<double>(x[i]) - y[i]);
    sum2 += e * e;
    max_err = std::max(max_err, e);
  }
  const double rms = std::sqrt(sum2 / static_cast<double>(x.size()));
  MESSAGE("Q4_K Gaussian round trip: rms " << rms << ", max " << max_err);
  CHECK(rms < 0.08);
  CHECK(max_err < 0.35);
  // A constant sub-block and an all-zero block survive too (the fit's degenerate branches).
  std::vector<float> flat(256, 0.0f);
  for (int l = 0; l < 32; ++l) flat[32 + l] = 0.75f;
  BlockQ4_K block;
  quantize_row(WeightFormat::kQ4_K, flat.data(), &block, 256);
  const std::vector<float> back = decode(block, WeightFormat::kQ4_K);
  for (int e = 0; e < 256; ++e) CHECK(std::fabs(back[e] - flat[e]) <= 0.75f / 63);
}
