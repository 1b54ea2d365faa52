// Tests of src/io/convert*: F32/BF16 -> F16 bits, sharded input -> one file, the other files
// copied, pytorch weights skipped with a warning, and the errors (overflow, OUT_DIR == IN_DIR).
#include "io/convert.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/safetensors.h"
#include "kernels/fp16.h"
#include "test_util.h"

using namespace pocket;
namespace fs = std::filesystem;

namespace {

using test::TempDir;

std::set<std::string> names_in(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir))
    out.insert(entry.path().filename().string());
  return out;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A tensor to write: its spec and its bytes.
struct Input {
  TensorSpec spec;
  std::vector<std::uint8_t> bytes;
};

template <class T>
Input make_input(const std::string& name, Dtype dtype, std::vector<std::int64_t> shape,
                 const std::vector<T>& values) {
  Input input{{name, dtype, std::move(shape)},
              std::vector<std::uint8_t>(values.size() * sizeof(T))};
  std::memcpy(input.bytes.data(), values.data(), input.bytes.size());
  return input;
}

void write_inputs(const std::string& path, const std::vector<Input>& inputs) {
  std::vector<TensorSpec> specs;
  for (const Input& input : inputs) specs.push_back(input.spec);
  write_safetensors(path, specs, {{"format", "pt"}},
                    [&](std::size_t i, std::uint8_t* dst, std::size_t nbytes) {
                      REQUIRE(nbytes == inputs[i].bytes.size());
                      if (nbytes > 0) std::memcpy(dst, inputs[i].bytes.data(), nbytes);
                    });
}

std::vector<fp16> f16_values(const TensorView& tensor) {
  std::vector<fp16> out(tensor.nbytes / 2);
  std::memcpy(out.data(), tensor.data, tensor.nbytes);
  return out;
}

// Values that probe the rounding: ties between fp16 neighbours, subnormals, the top of the range
// (65519 still rounds down to 65504), signed zeros, inf and NaN (kept as they are).
std::vector<float> edge_floats() {
  std::vector<float> values = {0.0f,
                               -0.0f,
                               1.0f,
                               -2.5f,
                               65504.0f,
                               65519.0f,
                               -65519.0f,
                               1e-8f,
                               -3e-6f,
                               6.1e-5f,
                               1.0f + 1.0f / 2048,
                               1.0f + 3.0f / 2048,
                               0.1f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::quiet_NaN()};
  return values;
}

}  // namespace

TEST_SUITE("safetensors convert") {
  TEST_CASE("convert: F32 and BF16 tensors become F16 rounded to nearest even; others copied") {
    TempDir in, out_parent;
    const std::string out_dir = out_parent.file("converted");  // created by convert

    // F32: the edge values, then enough random ones for several conversion tasks.
    std::vector<float> f32 = edge_floats();
    const std::vector<float> random = test::random_floats(150001, 7, -300.0f, 300.0f);
    f32.insert(f32.end(), random.begin(), random.end());
    // BF16: every 16-bit pattern whose fp32 widening is finite and within the fp16 range, or not
    // finite (inf/NaN pass through).
    std::vector<std::uint16_t> bf16;
    for (std::uint32_t bits = 0; bits < 65536; ++bits) {
      const float wide = f32_from_bits(bits << 16);
      if (!std::isfinite(wide) || std::fabs(wide) < 65520.0f)
        bf16.push_back(static_cast<std::uint16_t>(bits));
    }
    const std::vector<fp16> f16 = test::random_f16(33, 3);
    const std::vector<std::int64_t> ids = {1, -2, 1LL << 40};
    const std::vector<std::uint8_t> mask = {1, 0, 1};

    write_inputs(
        in.file("model.safetensors"),
        {make_input("f32", Dtype::kF32, {static_cast<std::int64_t>(f32.size())}, f32),
         make_input("bf16", Dtype::kBF16, {static_cast<std::int64_t>(bf16.size())}, bf16),
         make_input("mask", Dtype::kU8, {3}, mask), make_input("f16", Dtype::kF16, {3, 11}, f16),
         make_input("ids", Dtype::kI64, {3}, ids)});

    std::size_t progress_calls = 0;
    ConvertOptions options;
    options.threads = 3;
    options.progress = [&](std::size_t done, std::size_t total, std::uint64_t, std::uint64_t) {
      ++progress_calls;
      CHECK(done <= total);
    };
    const ConvertReport report = convert_checkpoint(in.path(), out_dir, options);
    CHECK(report.output == out_dir + "/model.safetensors");
    CHECK(report.tensors == 5);
    CHECK(report.converted == 2);
    CHECK(progress_calls == 5);
    CHECK(names_in(out_dir) == std::set<std::string>{"model.safetensors"});

    const SafetensorsFile file(report.output);
    CHECK(file.metadata().at("format") == "pt");
    for (const TensorView& tensor : file.tensors()) {
      const auto offset = static_cast<std::size_t>(tensor.data - file.mapping().data());
      if (tensor.nbytes % 64 == 0) CHECK(offset % 64 == 0);
      CHECK(offset % dtype_size(tensor.dtype) == 0);
    }

    const TensorView* out_f32 = file.find("f32");
    REQUIRE(out_f32 != nullptr);
    CHECK(out_f32->dtype == Dtype::kF16);
    CHECK(out_f32->shape == std::vector<std::int64_t>{static_cast<std::int64_t>(f32.size())});
    const std::vector<fp16> got_f32 = f16_values(*out_f32);
    for (std::size_t i = 0; i < f32.size(); ++i) {
      INFO("f32[" << i << "] = " << f32[i]);
      REQUIRE(got_f32[i] == f32_to_f16_scalar(f32[i]));
    }
    CHECK(got_f32[4] == 0x7BFF);   // 65504
    CHECK(got_f32[5] == 0x7BFF);   // 65519 rounds down to 65504
    CHECK(got_f32[10] == 0x3C00);  // 1 + 2^-11: a tie, to even (1.0)
    CHECK(got_f32[11] == 0x3C02);  // 1 + 3 * 2^-11: a tie, to even (1 + 2^-9)

    const TensorView* out_bf16 = file.find("bf16");
    REQUIRE(out_bf16 != nullptr);
    CHECK(out_bf16->dtype == Dtype::kF16);
    const std::vector<fp16> got_bf16 = f16_values(*out_bf16);
    for (std::size_t i = 0; i < bf16.size(); ++i) {
      INFO("bf16 bits " << bf16[i]);
      REQUIRE(got_bf16[i] ==
              f32_to_f16_scalar(f32_from_bits(static_cast<std::uint32_t>(bf16[i]) << 16)));
    }

    const TensorView* out_f16 = file.find("f16");
    REQUIRE(out_f16 != nullptr);
    CHECK(out_f16->shape == std::vector<std::int64_t>{3, 11});
    CHECK(f16_values(*out_f16) == f16);
    const TensorView* out_ids = file.find("ids");
    REQUIRE(out_ids != nullptr);
    CHECK(out_ids->dtype == Dtype::kI64);
    CHECK(std::memcmp(out_ids->data, ids.data(), 24) == 0);
    const TensorView* out_mask = file.find("mask");
    REQUIRE(out_mask != nullptr);
    CHECK(out_mask->dtype == Dtype::kU8);
    CHECK(std::memcmp(out_mask->data, mask.data(), 3) == 0);
  }

  TEST_CASE("convert: a sharded input becomes one file; other files copied, pytorch weights not") {
    TempDir in, out;
    const std::vector<float> a = test::random_floats(100, 1);
    const std::vector<float> b = test::random_floats(7, 2);
    const std::vector<std::uint16_t> c = {0x3F80, 0xC000, 0x0000};  // BF16 1, -2, 0
    write_inputs(in.file("model-00001-of-00002.safetensors"),
                 {make_input("a", Dtype::kF32, {10, 10}, a), make_input("b", Dtype::kF32, {7}, b)});
    write_inputs(in.file("model-00002-of-00002.safetensors"),
                 {make_input("c", Dtype::kBF16, {3}, c)});
    write_text(in.file("model.safetensors.index.json"),
               R"({"metadata": {"total_size": 434}, "weight_map": {
                 "a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                 "c": "model-00002-of-00002.safetensors"}})");
    const std::string config = R"({"model_type": "opt", "hidden_size": 16})";
    write_text(in.file("config.json"), config);
    write_text(in.file("tokenizer.json"), "{\"model\": {}}");
    write_text(in.file("merges.txt"), "");
    write_text(in.file("pytorch_model.bin"), "not read");
    write_text(in.file(".gitattributes"), "*.bin filter=lfs");
    fs::create_directory(in.file(".cache"));

    std::vector<std::string> warnings;
    ConvertOptions options;
    options.threads = 2;
    options.warn = [&](const std::string& line) { warnings.push_back(line); };
    const ConvertReport report = convert_checkpoint(in.path(), out.path(), options);

    CHECK(names_in(out.path()) == std::set<std::string>{"model.safetensors", "config.json",
                                                      "tokenizer.json", "merges.txt"});
    CHECK(report.copied == std::vector<std::string>{"config.json", "merges.txt", "tokenizer.json"});
    CHECK(read_text(out.file("config.json")) == config);
    CHECK(read_text(out.file("merges.txt")).empty());
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find(in.file("pytorch_model.bin")) != std::string::npos);
    CHECK(warnings[0].find("not read") != std::string::npos);
    CHECK(warnings[0].find('\n') == std::string::npos);

    const Checkpoint converted(out.path());
    CHECK(converted.files().size() == 1);
    CHECK(converted.all().size() == 3);
    const std::vector<fp16> got_a = f16_values(converted.require("a", Dtype::kF16, {10, 10}));
    for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(got_a[i] == f32_to_f16_scalar(a[i]));
    const std::vector<fp16> got_b = f16_values(converted.require("b", Dtype::kF16, {7}));
    for (std::size_t i = 0; i < b.size(); ++i) REQUIRE(got_b[i] == f32_to_f16_scalar(b[i]));
    CHECK(f16_values(converted.require("c", Dtype::kF16, {3})) ==
          std::vector<fp16>{0x3C00, 0xC000, 0});
  }

  TEST_CASE("convert: a value beyond the fp16 range is an error naming the tensor and the value") {
    TempDir in, out;
    std::vector<float> values(100000, 0.5f);
    values[70001] = -70000.0f;
    values[90000] = 1e6f;  // a later one: the first is reported
    write_inputs(in.file("model.safetensors"),
                 {make_input("ok", Dtype::kF32, {4}, std::vector<float>{1, 2, 3, 4}),
                  make_input("model.layers.0.big", Dtype::kF32, {100000}, values)});
    write_text(in.file("config.json"), "{}");
    std::string message;
    try {
      ConvertOptions options;
      options.threads = 4;
      convert_checkpoint(in.path(), out.path(), options);
    } catch (const pocket::Error& e) {
      message = e.what();
    }
    INFO(message);
    CHECK(message.find(in.file("model.safetensors") + ": tensor 'model.layers.0.big'") !=
          std::string::npos);
    CHECK(message.find("value -70000 at element 70001") != std::string::npos);
    CHECK(message.find("beyond the fp16 range") != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
    CHECK(names_in(out.path()).empty());  // no model.safetensors, no temp file
  }

  TEST_CASE("convert: refuses OUT_DIR == IN_DIR, and an input that is no checkpoint") {
    TempDir in;
    write_inputs(in.file("model.safetensors"),
                 {make_input("w", Dtype::kF32, {2}, std::vector<float>{1, 2})});
    for (const std::string& out :
         {in.path(), in.path() + "/.", in.path() + "/../" + fs::path(in.path()).filename().string()}) {
      std::string message;
      try {
        convert_checkpoint(in.path(), out);
      } catch (const pocket::Error& e) {
        message = e.what();
      }
      INFO(message);
      CHECK(message.find("is the input directory") != std::string::npos);
    }
    TempDir empty, out;
    std::string message;
    try {
      convert_checkpoint(empty.path(), out.path());
    } catch (const pocket::Error& e) {
      message = e.what();
    }
    CHECK(message.find("no model.safetensors") != std::string::npos);
    CHECK(names_in(out.path()).empty());
  }

}  // TEST_SUITE
