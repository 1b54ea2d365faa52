// pocket's GGUF reader and block decoders against tests/golden/make_gguf_blocks.py, an independent
// Python writer and decoder of GGUF v3 and ggml's block formats (it shares no code with
// src/io/gguf.cpp or src/kernels/quant_blocks.cpp). tests/golden/gguf_blocks/ holds
//   blocks.gguf    one tensor each of Q8_0, Q4_0, Q4_K, Q6_K, F16, BF16, random block contents
//   expected.f32   the fp32 bits the script decodes (exact arithmetic, one fp32 rounding per step
//                  of ggml's dequantize_row_*), concatenated in tensor order
//   manifest.json  name, type, ne, offset per tensor; sha256 of both files
// Decoding must be bit-identical (signed zeros included). The integer GEMM reference is checked
// on the same tensors against double arithmetic over the script's values.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "kernels/gemm.h"
#include "kernels/gemm_quant.h"
#include "kernels/quant_blocks.h"
#include "model/gguf_source.h"
#include "model/params.h"
#include "sha256.h"
#include "test_util.h"

using namespace pocket;

namespace {

std::string blocks_dir() {
  if (std::filesystem::is_directory("tests/golden/gguf_blocks")) return "tests/golden/gguf_blocks";
  if (const char* env = std::getenv("POCKET_GOLDEN_DIR")) return std::string(env) + "/gguf_blocks";
  return "";
}

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Golden {
  std::string dir;
  nlohmann::json manifest;
  std::vector<std::uint32_t> expected;  // fp32 bits

  explicit Golden(std::string d) : dir(std::move(d)) {
    std::ifstream in(dir + "/manifest.json");
    REQUIRE_MESSAGE(in.good(), "cannot read " << dir << "/manifest.json");
    manifest = nlohmann::json::parse(in);
    const std::vector<std::uint8_t> bytes = read_bytes(dir + "/expected.f32");
    REQUIRE(bytes.size() % 4 == 0);
    expected.resize(bytes.size() / 4);
    std::memcpy(expected.data(), bytes.data(), bytes.size());
    CHECK(test::sha256_hex(bytes.data(), bytes.size()) ==
          manifest["expected_f32_sha256"].get<std::string>());
    const std::vector<std::uint8_t> gguf = read_bytes(dir + "/blocks.gguf");
    CHECK(test::sha256_hex(gguf.data(), gguf.size()) ==
          manifest["blocks_gguf_sha256"].get<std::string>());
  }
};

WeightFormat format_of(GgmlType t) {
  switch (t) {
    case GgmlType::kF32: return WeightFormat::kF32;
    case GgmlType::kF16: return WeightFormat::kF16;
    case GgmlType::kQ8_0: return WeightFormat::kQ8_0;
    case GgmlType::kQ4_0: return WeightFormat::kQ4_0;
    case GgmlType::kQ4_K: return WeightFormat::kQ4_K;
    case GgmlType::kQ6_K: return WeightFormat::kQ6_K;
    default: FAIL("no WeightFormat for " << ggml_type_name(t)); return WeightFormat::kF32;
  }
}

std::uint32_t bits_of(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

std::string hex_of(std::uint32_t b) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(b));
  return buf;
}

float float_of(std::uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

}  // namespace

TEST_CASE("gguf golden blocks: pocket decodes make_gguf_blocks.py's tensors bit for bit") {
  const std::string dir = blocks_dir();
  if (dir.empty()) {
    MESSAGE("skipped: tests/golden/gguf_blocks not found (run from the repository root)");
    return;
  }
  const Golden golden(dir);
  const GgufFile file(dir + "/blocks.gguf");
  CHECK(file.version() == 3);
  CHECK(file.alignment() == 32);
  const auto& want = golden.manifest["tensors"];
  REQUIRE(file.tensors().size() == want.size());
  REQUIRE(want.size() == 6);

  const GgufSource source(file, Arch::kLlama);
  std::size_t checked = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const GgufTensor& t = file.tensors()[i];
    const auto& w = want[i];
    INFO("tensor " << t.name << " (" << ggml_type_name(t.type) << ")");
    CHECK(t.name == w["name"].get<std::string>());
    CHECK(std::string(ggml_type_name(t.type)) == w["type"].get<std::string>());
    REQUIRE(t.dims == w["ne"].get<std::vector<std::int64_t>>());
    const std::int64_t cols = t.dims[0], rows = t.dims[1];
    const std::size_t offset = w["offset"].get<std::size_t>();
    REQUIRE(offset + static_cast<std::size_t>(rows * cols) <= golden.expected.size());

    std::vector<float> got(static_cast<std::size_t>(rows * cols));
    if (t.type == GgmlType::kBF16) {
      // BF16 is read through GgufSource, which converts it to F32 (no kernel reads BF16).
      const WeightView v =
          source.tensor("model.embed_tokens.weight", {rows, cols}, ParamKind::kEmbedding);
      REQUIRE(v.format == WeightFormat::kF32);
      for (std::int64_t r = 0; r < rows; ++r) {
        std::memcpy(got.data() + r * cols, static_cast<const float*>(v.data) + r * v.stride,
                    static_cast<std::size_t>(cols) * sizeof(float));
      }
    } else {
      const WeightFormat f = format_of(t.type);
      REQUIRE(t.nbytes == static_cast<std::size_t>(weight_bytes(f, rows * cols)));
      for (std::int64_t r = 0; r < rows; ++r) {
        dequantize_row(f, t.data + weight_bytes(f, r * cols), got.data() + r * cols, cols);
      }
    }
    std::size_t mismatches = 0;
    for (std::size_t k = 0; k < got.size(); ++k) {
      const std::uint32_t e = golden.expected[offset + k];
      if (bits_of(got[k]) != e) {
        if (mismatches < 5) {
          MESSAGE("element " << k << ": pocket " << got[k] << " (" << hex_of(bits_of(got[k]))
                             << "), reference " << float_of(e) << " (" << hex_of(e) << ")");
        }
        ++mismatches;
      }
    }
    CHECK(mismatches == 0);
    checked += got.size();
  }
  CHECK(checked == golden.expected.size());
}

TEST_CASE("gguf golden blocks: gemm_quant_ref on them is within the Q8 activation rounding") {
  // Y = X · Wᵀ with W the golden block tensors read in place, X random. The reference is double
  // arithmetic over the script's decoded W. Bound (as gemm_quant_test.cpp states for generated
  // blocks): quantizing X per 32 moves each x by at most amax_b/254, so an output moves by at most
  // Σ_b amax_b/254 · Σ_{k∈b} |w_k|; plus fp32 rounding of the per-block terms and their sum,
  // 1e-6 · Σ |w·x|. The integer dot products themselves are exact.
  const std::string dir = blocks_dir();
  if (dir.empty()) {
    MESSAGE("skipped: tests/golden/gguf_blocks not found (run from the repository root)");
    return;
  }
  const Golden golden(dir);
  const GgufFile file(dir + "/blocks.gguf");
  const auto& want = golden.manifest["tensors"];
  int formats = 0;
  for (std::size_t i = 0; i < file.tensors().size(); ++i) {
    const GgufTensor& t = file.tensors()[i];
    if (t.type == GgmlType::kF16 || t.type == GgmlType::kBF16) continue;
    const WeightFormat f = format_of(t.type);
    const std::int64_t K = t.dims[0], N = t.dims[1], M = 3;
    const WeightView w{f, t.data, nullptr, N, K, K};
    const std::uint32_t* wbits = golden.expected.data() + want[i]["offset"].get<std::size_t>();
    const std::vector<float> x =
        test::random_floats(static_cast<std::size_t>(M * K), 100 + static_cast<std::uint32_t>(i));
    std::vector<float> y(static_cast<std::size_t>(M * N), 0.0f);
    gemm_quant_ref(M, w, {x.data(), y.data(), nullptr}, K, N, false);
    double worst = 0;  // the largest |error| / bound seen
    for (std::int64_t m = 0; m < M; ++m) {
      for (std::int64_t n = 0; n < N; ++n) {
        double exact = 0, bound = 0, magnitude = 0;
        for (std::int64_t b = 0; b < K / 32; ++b) {
          double amax = 0, wabs = 0;
          for (int l = 0; l < 32; ++l) {
            const std::int64_t k = 32 * b + l;
            const double wk = float_of(wbits[n * K + k]), xk = x[m * K + k];
            amax = std::max(amax, std::fabs(xk));
            wabs += std::fabs(wk);
            exact += wk * xk;
            magnitude += std::fabs(wk * xk);
          }
          bound += amax / 254.0 * wabs;
        }
        bound = bound * 1.001 + 1e-6 * magnitude + 1e-30;
        const double err = std::fabs(y[m * N + n] - exact);
        worst = std::max(worst, err / bound);
        INFO(std::string(weight_format_name(f)) << " m=" << m << " n=" << n << " y=" << y[m * N + n]
                                   << " exact=" << exact << " bound=" << bound);
        CHECK(err <= bound);
      }
    }
    MESSAGE(std::string(weight_format_name(f)) << ": max |gemm_quant_ref - exact| / bound = " << worst);
    ++formats;
  }
  CHECK(formats == 4);
}
