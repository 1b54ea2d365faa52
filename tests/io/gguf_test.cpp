// Tests of src/io/gguf*: the two GGUF files llama.cpp's converter wrote for stories260K (against
// the same model's safetensors), a crafted file with every value and accepted tensor type, one
// crafted broken file per validation rule (each must fail with a one-line pocket::Error naming
// the file, the key or tensor at fault and the problem), and a sweep of truncated and
// byte-flipped files that must parse or fail with pocket::Error, never anything else.
#include "io/gguf.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/safetensors.h"
#include "kernels/fp16.h"
#include "test_util.h"

using namespace pocket;

namespace {

using test::TempDir;

using test::models_dir;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// ---- a GGUF builder: bytes assembled field by field ----

std::string le(std::uint64_t value, int bytes) {
  std::string out(bytes, '\0');
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<char>(value >> (8 * i));
  return out;
}
std::string u32(std::uint64_t value) { return le(value, 4); }
std::string u64(std::uint64_t value) { return le(value, 8); }
std::string f32(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return u32(bits);
}
std::string str(const std::string& text) { return u64(text.size()) + text; }

// Value type ids (GgufType) as the file stores them.
std::string type(GgufType t) { return u32(static_cast<std::uint32_t>(t)); }
std::string kv(const std::string& key, GgufType t, const std::string& value) {
  return str(key) + type(t) + value;
}
// An array's type-tagged payload: element type, count, the elements' bytes.
std::string array(GgufType element, std::uint64_t count, const std::string& elements) {
  return type(element) + u64(count) + elements;
}

std::string tensor_info(const std::string& name, const std::vector<std::uint64_t>& dims,
                        std::uint32_t ggml_type, std::uint64_t offset) {
  std::string out = str(name) + u32(dims.size());
  for (const std::uint64_t dim : dims) out += u64(dim);
  return out + u32(ggml_type) + u64(offset);
}

struct Gguf {
  std::string magic = "GGUF";
  std::uint32_t version = 3;
  std::vector<std::string> kvs;
  std::vector<std::string> tensors;
  std::uint64_t alignment = 32;  // the padding the builder writes (general.alignment is a kv)
  std::uint64_t data_size = 0;
  // Counts written in the header; the real ones when unset.
  std::int64_t tensor_count = -1;
  std::int64_t kv_count = -1;

  std::string bytes() const {
    std::string out = magic + u32(version);
    out += u64(tensor_count >= 0 ? tensor_count : tensors.size());
    out += u64(kv_count >= 0 ? kv_count : kvs.size());
    for (const std::string& entry : kvs) out += entry;
    for (const std::string& info : tensors) out += info;
    out.append((alignment - out.size() % alignment) % alignment, '\0');
    for (std::uint64_t i = 0; i < data_size; ++i) out += static_cast<char>(i * 7 + 3);
    return out;
  }
};

constexpr std::uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8, kQ4_K = 12, kQ6_K = 14,
                        kBF16 = 30;

// A well-formed file: every value type, each tensor type the loader must accept.
Gguf good_file() {
  Gguf g;
  g.kvs = {
      kv("general.architecture", GgufType::kString, str("llama")),
      kv("t.u8", GgufType::kUint8, le(200, 1)),
      kv("t.i8", GgufType::kInt8, le(0xFF, 1)),  // -1
      kv("t.u16", GgufType::kUint16, le(60000, 2)),
      kv("t.i16", GgufType::kInt16, le(0x8000, 2)),  // -32768
      kv("t.u32", GgufType::kUint32, u32(4000000000u)),
      kv("t.i32", GgufType::kInt32, u32(0xFFFFFFFEu)),  // -2
      kv("t.f32", GgufType::kFloat32, f32(0.5f)),
      kv("t.bool", GgufType::kBool, le(1, 1)),
      kv("t.u64", GgufType::kUint64, u64(1ull << 40)),
      kv("t.i64", GgufType::kInt64, u64(static_cast<std::uint64_t>(-5))),
      kv("t.f64", GgufType::kFloat64, u64(0x400921FB54442D18ull)),  // pi
      kv("t.tokens", GgufType::kArray,
         array(GgufType::kString, 3, str("a") + str("") + str("<s>"))),
      kv("t.scores", GgufType::kArray, array(GgufType::kFloat32, 2, f32(-1.5f) + f32(2.0f))),
      kv("t.types", GgufType::kArray, array(GgufType::kInt32, 2, u32(1) + u32(0xFFFFFFFFu))),
      kv("t.nested", GgufType::kArray,
         array(GgufType::kArray, 2,
               array(GgufType::kUint8, 2, le(7, 1) + le(9, 1)) + array(GgufType::kString, 0, ""))),
      kv("general.alignment", GgufType::kUint32, u32(64)),
  };
  g.alignment = 64;
  // Offsets are multiples of 64 with gaps (the data section need not be tiled).
  g.tensors = {
      tensor_info("w.f32", {4, 2}, kF32, 0),              // 32 bytes
      tensor_info("w.f16", {3}, kF16, 64),                // 6
      tensor_info("w.bf16", {2, 2}, kBF16, 128),          // 8
      tensor_info("w.q8_0", {64, 2}, kQ8_0, 192),         // 4 blocks x 34 = 136
      tensor_info("w.q4_0", {32}, kQ4_0, 384),            // 18
      tensor_info("w.q4_k", {256}, kQ4_K, 448),           // 144
      tensor_info("w.q6_k", {256, 1, 1, 2}, kQ6_K, 640),  // 2 x 210 = 420
  };
  g.data_size = 640 + 420;
  return g;
}

// One tensor "w": F32 [4] at offset 0, nothing else: the base of most broken files.
Gguf one_tensor(const std::string& info = tensor_info("w", {4}, kF32, 0)) {
  Gguf g;
  g.kvs = {kv("general.architecture", GgufType::kString, str("llama"))};
  g.tensors = {info};
  g.data_size = 32;
  return g;
}

// Runs `open`, which must throw pocket::Error with a one-line message containing every one of
// `parts`. Returns the message.
std::string expect_error(const std::function<void()>& open, const std::vector<std::string>& parts) {
  std::string message;
  try {
    open();
  } catch (const pocket::Error& e) {
    message = e.what();
  }
  INFO("message: " << message);
  REQUIRE_MESSAGE(!message.empty(), "no pocket::Error thrown");
  CHECK(message.find('\n') == std::string::npos);
  for (const std::string& part : parts) {
    CHECK_MESSAGE(message.find(part) != std::string::npos, "missing \"" << part << "\"");
  }
  return message;
}

// One broken file, written to a fresh directory: opening it must fail naming the file, `what`
// (e.g. "tensor 'w'" or "key 'k'"; may be empty) and `phrase`.
void expect_broken(const std::string& bytes, const std::string& what, const std::string& phrase) {
  TempDir dir;
  const std::string path = dir.file("broken.gguf");
  write_bytes(path, bytes);
  std::vector<std::string> parts = {path, phrase};
  if (!what.empty()) parts.push_back(what);
  expect_error([&] { GgufFile file(path); }, parts);
}

}  // namespace

TEST_SUITE("gguf") {
  TEST_CASE("gguf crafted file: every value type and the accepted tensor types") {
    TempDir dir;
    const std::string path = dir.file("good.gguf");
    const Gguf g = good_file();
    write_bytes(path, g.bytes());
    const GgufFile file(path);
    CHECK(file.path() == path);
    CHECK(file.version() == 3);
    CHECK(file.alignment() == 64);
    CHECK(file.data_offset() % 64 == 0);
    CHECK(file.metadata().size() == g.kvs.size());
    CHECK(file.metadata()[0].key == "general.architecture");

    CHECK(file.get_string("general.architecture") == "llama");
    CHECK(file.get_integer<std::uint8_t>("t.u8") == 200);
    CHECK(file.get_integer<int>("t.i8") == -1);
    CHECK(file.get_integer<std::uint16_t>("t.u16") == 60000);
    CHECK(file.get_integer<std::int16_t>("t.i16") == -32768);
    CHECK(file.get_integer<std::uint32_t>("t.u32") == 4000000000u);
    CHECK(file.get_integer<std::int64_t>("t.u32") == 4000000000);
    CHECK(file.get_integer<std::int32_t>("t.i32") == -2);
    CHECK(file.get_integer<std::uint64_t>("t.u64") == (1ull << 40));
    CHECK(file.get_integer<std::int64_t>("t.i64") == -5);
    CHECK(file.get_float("t.f32") == 0.5);
    CHECK(file.get_float("t.f64") == doctest::Approx(3.14159265358979));
    CHECK(file.get_bool("t.bool"));

    const GgufValue& tokens = file.get_array("t.tokens", GgufType::kString);
    REQUIRE(tokens.size() == 3);
    CHECK(tokens.string_element(0) == "a");
    CHECK(tokens.string_element(1).empty());
    CHECK(tokens.string_element(2) == "<s>");
    // Zero-copy: the strings point into the mapping.
    const auto* base = reinterpret_cast<const char*>(file.mapping().data());
    CHECK(tokens.string_element(2).data() > base);
    CHECK(tokens.string_element(2).data() < base + file.mapping().size());
    CHECK(file.get_array("t.scores", GgufType::kFloat32).to_vector<float>() ==
          std::vector<float>{-1.5f, 2.0f});
    const GgufValue& types = file.get_array("t.types", GgufType::kInt32);
    CHECK(types.element<std::int32_t>(0) == 1);
    CHECK(types.element<std::int32_t>(1) == -1);
    const GgufValue& nested = file.get_array("t.nested", GgufType::kArray);
    REQUIRE(nested.size() == 2);
    CHECK(nested.array_element(0).element_type() == GgufType::kUint8);
    CHECK(nested.array_element(0).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{7, 9});
    CHECK(nested.array_element(1).element_type() == GgufType::kString);
    CHECK(nested.array_element(1).size() == 0);
    CHECK(file.find("absent") == nullptr);

    struct Expected {
      const char* name;
      GgmlType type;
      std::vector<std::int64_t> dims;
      std::uint64_t offset;
      std::size_t nbytes;
    };
    const Expected expected[] = {
        {"w.f32", GgmlType::kF32, {4, 2}, 0, 32},
        {"w.f16", GgmlType::kF16, {3}, 64, 6},
        {"w.bf16", GgmlType::kBF16, {2, 2}, 128, 8},
        {"w.q8_0", GgmlType::kQ8_0, {64, 2}, 192, 136},
        {"w.q4_0", GgmlType::kQ4_0, {32}, 384, 18},
        {"w.q4_k", GgmlType::kQ4_K, {256}, 448, 144},
        {"w.q6_k", GgmlType::kQ6_K, {256, 1, 1, 2}, 640, 420},
    };
    REQUIRE(file.tensors().size() == std::size(expected));
    for (std::size_t i = 0; i < std::size(expected); ++i) {
      const GgufTensor& tensor = file.tensors()[i];
      INFO("tensor " << expected[i].name);
      CHECK(tensor.name == expected[i].name);
      CHECK(tensor.type == expected[i].type);
      CHECK(tensor.dims == expected[i].dims);
      CHECK(tensor.offset == expected[i].offset);
      CHECK(tensor.nbytes == expected[i].nbytes);
      CHECK(tensor.data == file.mapping().data() + file.data_offset() + tensor.offset);
      CHECK(file.find_tensor(expected[i].name) == &tensor);
      // The builder fills the data section with (i * 7 + 3): the pointer is at the right byte.
      CHECK(tensor.data[0] == static_cast<std::uint8_t>(tensor.offset * 7 + 3));
    }
    CHECK(file.find_tensor("absent") == nullptr);
    CHECK(std::string(ggml_type_name(GgmlType::kQ6_K)) == "Q6_K");
    CHECK(ggml_block_size(GgmlType::kQ4_K) == 256);
    CHECK(ggml_block_bytes(GgmlType::kQ4_K) == 144);
  }

  TEST_CASE("gguf crafted file: version 2, no tensors, default alignment 32") {
    TempDir dir;
    const std::string path = dir.file("v2.gguf");
    Gguf g;
    g.version = 2;
    g.kvs = {kv("k", GgufType::kUint8, le(1, 1))};
    write_bytes(path, g.bytes());
    const GgufFile file(path);
    CHECK(file.version() == 2);
    CHECK(file.alignment() == 32);
    CHECK(file.tensors().empty());
  }

  TEST_CASE("gguf typed getters: missing keys, wrong types, values out of range") {
    TempDir dir;
    const std::string path = dir.file("good.gguf");
    write_bytes(path, good_file().bytes());
    const GgufFile file(path);
    expect_error([&] { file.get_string("nope"); }, {path, "key 'nope'", "missing"});
    expect_error([&] { file.get_string("t.u8"); },
                 {path, "key 't.u8'", "is a uint8, expected a string"});
    expect_error([&] { file.get_integer<std::uint8_t>("t.u16"); },
                 {path, "key 't.u16'", "value 60000 does not fit uint8"});
    expect_error([&] { file.get_integer<std::uint32_t>("t.i8"); },
                 {path, "key 't.i8'", "value -1 does not fit uint32"});
    expect_error([&] { file.get_integer<std::int32_t>("t.u32"); },
                 {path, "value 4000000000 does not fit int32"});
    expect_error([&] { file.get_integer<int>("t.f32"); }, {"is a float32, expected an integer"});
    expect_error([&] { file.get_float("t.i32"); },
                 {"key 't.i32'", "is an int32, expected a float"});
    expect_error([&] { file.get_bool("t.u8"); }, {"expected a bool"});
    expect_error([&] { file.get_array("t.scores", GgufType::kInt32); },
                 {"key 't.scores'", "is an array of float32, expected an array of int32"});
    expect_error([&] { file.get_array("t.u8", GgufType::kUint8); },
                 {"is a uint8, expected an array of uint8"});
  }

  // ---- broken files: one per rule ----

  TEST_CASE("gguf broken: magic, version, truncation, counts") {
    Gguf bad_magic = one_tensor();
    bad_magic.magic = "GGUX";
    expect_broken(bad_magic.bytes(), "", "bad magic 'GGUX'");
    expect_broken("GG", "", "magic runs past the end of the file");
    expect_broken("", "", "magic runs past the end of the file");
    for (const std::uint32_t version : {1u, 4u}) {
      Gguf g = one_tensor();
      g.version = version;
      expect_broken(g.bytes(), "", "version " + std::to_string(version) + " is not supported");
    }
    Gguf big_endian = one_tensor();
    big_endian.version = 0x03000000;
    expect_broken(big_endian.bytes(), "", "big-endian GGUF");
    expect_broken(one_tensor().bytes().substr(0, 20), "",
                  "header (metadata count) runs past the end");
    Gguf tensors = one_tensor();
    tensors.tensor_count = 1000;
    expect_broken(tensors.bytes(), "", "tensor count 1000 cannot fit in the file");
    Gguf too_many = one_tensor();
    too_many.tensor_count = (1 << 20) + 1;
    expect_broken(too_many.bytes(), "", "tensor count 1048577 exceeds the cap");
    Gguf kvs = one_tensor();
    kvs.kv_count = 100;
    expect_broken(kvs.bytes(), "", "metadata count 100 cannot fit in the file");
    // The header promises a tensor info that is cut off: the file ends inside it.
    Gguf unpadded = one_tensor();
    unpadded.alignment = 1;
    unpadded.data_size = 0;
    const std::string header = unpadded.bytes();
    expect_broken(header.substr(0, header.size() - 10), "tensor 'w'",
                  "runs past the end of the file");
  }

  TEST_CASE("gguf broken: strings, value types, bools, arrays") {
    Gguf long_string = one_tensor();
    long_string.kvs = {kv("k", GgufType::kString, u64(5000) + "abc")};
    expect_broken(long_string.bytes(), "key 'k'", "string of length 5000 runs past the end");
    Gguf capped = one_tensor();
    capped.kvs = {kv("k", GgufType::kString, u64((1 << 20) + 1))};
    expect_broken(capped.bytes(), "key 'k'", "string length 1048577 exceeds the cap");
    Gguf long_key = one_tensor();
    long_key.kvs = {u64(900) + "k"};
    expect_broken(long_key.bytes(), "key #0", "key of length 900 runs past the end");
    Gguf unknown = one_tensor();
    unknown.kvs = {kv("k", static_cast<GgufType>(13), u32(0))};
    expect_broken(unknown.bytes(), "key 'k'", "unknown value type 13");
    Gguf bad_bool = one_tensor();
    bad_bool.kvs = {kv("k", GgufType::kBool, le(2, 1))};
    expect_broken(bad_bool.bytes(), "key 'k'", "bool value 2 is not 0 or 1");
    Gguf unknown_element = one_tensor();
    unknown_element.kvs = {kv("k", GgufType::kArray, array(static_cast<GgufType>(99), 0, ""))};
    expect_broken(unknown_element.bytes(), "key 'k'", "unknown array element type 99");
    Gguf long_array = one_tensor();
    long_array.kvs = {kv("k", GgufType::kArray, array(GgufType::kUint32, 1000, u32(1)))};
    expect_broken(long_array.bytes(), "key 'k'",
                  "array of 1000 uint32 (at least 4 bytes each) runs past");
    Gguf nested = one_tensor();
    nested.kvs = {kv("k", GgufType::kArray,
                     array(GgufType::kArray, 2,
                           array(GgufType::kUint8, 1, "x") + array(GgufType::kFloat64, 500, "")))};
    expect_broken(nested.bytes(), "key 'k'",
                  "array of 500 float64 (at least 8 bytes each) runs past");
    Gguf nested_cap = one_tensor();
    nested_cap.kvs = {kv("k", GgufType::kArray,
                         array(GgufType::kArray, 1, array(GgufType::kUint8, (1 << 28) + 1, "")))};
    expect_broken(nested_cap.bytes(), "key 'k'", "array of 268435457 uint8 exceeds the cap");
    std::string deep = array(GgufType::kUint8, 0, "");
    for (int i = 0; i < 8; ++i) deep = array(GgufType::kArray, 1, deep);
    Gguf too_deep = one_tensor();
    too_deep.kvs = {kv("k", GgufType::kArray, deep)};
    expect_broken(too_deep.bytes(), "key 'k'", "arrays nested deeper than 8");
    Gguf duplicate = one_tensor();
    duplicate.kvs = {kv("k", GgufType::kUint8, "x"), kv("k", GgufType::kUint8, "y")};
    expect_broken(duplicate.bytes(), "key 'k'", "appears twice in the metadata");
  }

  TEST_CASE("gguf broken: general.alignment") {
    for (const std::uint32_t alignment : {0u, 24u}) {
      Gguf g = one_tensor();
      g.kvs.push_back(kv("general.alignment", GgufType::kUint32, u32(alignment)));
      expect_broken(g.bytes(), "key 'general.alignment'",
                    "alignment " + std::to_string(alignment) + " is not a power of two");
    }
    Gguf wrong_type = one_tensor();
    wrong_type.kvs.push_back(kv("general.alignment", GgufType::kUint64, u64(32)));
    expect_broken(wrong_type.bytes(), "key 'general.alignment'", "is a uint64, expected a uint32");
  }

  TEST_CASE("gguf broken: tensor infos") {
    for (const std::uint32_t n_dims : {0u, 5u}) {
      std::string info = str("w") + u32(n_dims);
      for (std::uint32_t d = 0; d < n_dims; ++d) info += u64(1);
      expect_broken(one_tensor(info + u32(kF32) + u64(0)).bytes(), "tensor 'w'",
                    "n_dims " + std::to_string(n_dims) + " is not in 1..4");
    }
    expect_broken(one_tensor(tensor_info("w", {4, 0}, kF32, 0)).bytes(), "tensor 'w'",
                  "dimension ne[1] = 0 is not positive");
    expect_broken(one_tensor(tensor_info("w", {1ull << 63}, kF32, 0)).bytes(), "tensor 'w'",
                  "is not positive");
    expect_broken(one_tensor(tensor_info("w", {4}, 99, 0)).bytes(), "tensor 'w'",
                  "unknown tensor type 99");
    expect_broken(one_tensor(tensor_info("w", {4}, 4, 0)).bytes(), "tensor 'w'",
                  "unknown tensor type 4");  // Q4_2, removed from ggml
    expect_broken(one_tensor(tensor_info("w", {256}, 16, 0)).bytes(), "tensor 'w'",
                  "unsupported tensor type IQ2_XXS (16)");
    expect_broken(one_tensor(tensor_info("w", {48}, kQ8_0, 0)).bytes(), "tensor 'w'",
                  "ne[0] = 48 is not a multiple of the block size 32 of Q8_0");
    expect_broken(one_tensor(tensor_info("w", {128, 2}, kQ4_K, 0)).bytes(), "tensor 'w'",
                  "not a multiple of the block size 256 of Q4_K");
    expect_broken(one_tensor(tensor_info("w", {1ull << 40, 1ull << 40}, kF32, 0)).bytes(),
                  "tensor 'w'", "byte size of the dimensions overflows");
    Gguf duplicate = one_tensor();
    duplicate.tensors.push_back(tensor_info("w", {4}, kF32, 32));
    duplicate.data_size = 64;
    expect_broken(duplicate.bytes(), "tensor 'w'", "appears twice in the tensor infos");
  }

  TEST_CASE("gguf broken: tensor data placement") {
    expect_broken(one_tensor(tensor_info("w", {4}, kF32, 16)).bytes(), "tensor 'w'",
                  "offset 16 is not aligned to 32 bytes");
    expect_broken(one_tensor(tensor_info("w", {16}, kF32, 0)).bytes(), "tensor 'w'",
                  "bytes [0, 64) run past the end of the data section (32 bytes");
    expect_broken(one_tensor(tensor_info("w", {4}, kF32, 64)).bytes(), "tensor 'w'",
                  "run past the end of the data section");
    expect_broken(one_tensor(tensor_info("w", {4}, kF32, 1ull << 63)).bytes(), "tensor 'w'",
                  "run past the end of the data section");
    Gguf overlap = one_tensor(tensor_info("a", {16}, kF32, 0));  // [0, 64)
    overlap.tensors.push_back(tensor_info("b", {4}, kF32, 32));  // [32, 48)
    overlap.data_size = 64;
    expect_broken(overlap.bytes(), "tensor 'b'", "bytes [32, 48) overlap tensor 'a' [0, 64)");
    Gguf alignment = one_tensor(tensor_info("w", {4}, kF32, 16));
    alignment.kvs.push_back(kv("general.alignment", GgufType::kUint32, u32(16)));
    alignment.alignment = 16;
    TempDir dir;
    write_bytes(dir.file("a.gguf"), alignment.bytes());
    CHECK(GgufFile(dir.file("a.gguf")).tensors()[0].offset == 16);  // aligned to 16 is enough
  }

  TEST_CASE("gguf: truncated and byte-flipped files parse or fail with pocket::Error") {
    // A stand-in for the fuzz target (fuzz/gguf_fuzz.cpp) that runs in every test build, under
    // ASan/UBSan in the sanitizer one: every prefix of a good file and every byte of its header
    // set to a few values.
    TempDir dir;
    const std::string path = dir.file("m.gguf");
    const std::string good = good_file().bytes();
    const std::size_t header_end = good.size() - 640 - 420;
    int parsed = 0, refused = 0;
    const auto attempt = [&](const std::string& bytes) {
      write_bytes(path, bytes);
      try {
        const GgufFile file(path);
        for (const GgufTensor& tensor : file.tensors()) {
          REQUIRE(tensor.data + tensor.nbytes <= file.mapping().data() + file.mapping().size());
        }
        ++parsed;
      } catch (const pocket::Error& e) {
        REQUIRE(std::string(e.what()).find('\n') == std::string::npos);
        ++refused;
      }
    };
    for (std::size_t size = 0; size < header_end + 64; ++size) attempt(good.substr(0, size));
    for (std::size_t i = 0; i < header_end; ++i) {
      for (const unsigned char value : {0x00, 0x01, 0x0F, 0x80, 0xFF}) {
        std::string bytes = good;
        if (static_cast<unsigned char>(bytes[i]) == value) continue;
        bytes[i] = static_cast<char>(value);
        attempt(bytes);
      }
    }
    CHECK(parsed > 0);
    CHECK(refused > 0);
  }

  // ---- llama.cpp's own files ----

  TEST_CASE("gguf stories260K-F16.gguf: metadata, tensors, the same weights as safetensors") {
    const std::string models = models_dir();
    const std::string path = models + "/stories260K-gguf/stories260K-F16.gguf";
    if (models.empty() || !std::filesystem::exists(path)) {
      MESSAGE("skipped: no " << path << " (../shared/models or $POCKET_MODELS)");
      return;
    }
    const GgufFile file(path);
    CHECK(file.version() == 3);
    CHECK(file.alignment() == 32);  // no general.alignment: the default
    CHECK(file.find("general.alignment") == nullptr);
    CHECK(file.get_string("general.architecture") == "llama");
    CHECK(file.get_integer<int>("llama.embedding_length") == 64);
    CHECK(file.get_integer<int>("llama.block_count") == 5);
    CHECK(file.get_integer<int>("llama.attention.head_count") == 8);
    CHECK(file.get_integer<int>("llama.attention.head_count_kv") == 4);
    CHECK(file.get_integer<int>("llama.feed_forward_length") == 172);
    CHECK(file.get_integer<int>("llama.context_length") == 512);
    CHECK(file.get_integer<int>("llama.vocab_size") == 512);
    CHECK(file.get_integer<int>("general.file_type") == 1);  // LLAMA_FTYPE_MOSTLY_F16
    CHECK(file.get_float("llama.rope.freq_base") == 10000.0);
    CHECK(std::fabs(file.get_float("llama.attention.layer_norm_rms_epsilon") - 1e-5) < 1e-10);
    CHECK(file.get_string("tokenizer.ggml.model") == "llama");

    const GgufValue& tokens = file.get_array("tokenizer.ggml.tokens", GgufType::kString);
    CHECK(tokens.size() == 512);
    CHECK(tokens.string_element(0) == "<unk>");
    CHECK(tokens.string_element(1) == "<s>");
    CHECK(tokens.string_element(2) == "</s>");
    CHECK(tokens.string_element(3) == "<0x00>");
    CHECK(file.get_array("tokenizer.ggml.scores", GgufType::kFloat32).size() == 512);
    const GgufValue& token_type = file.get_array("tokenizer.ggml.token_type", GgufType::kInt32);
    CHECK(token_type.size() == 512);
    CHECK(token_type.element<std::int32_t>(0) == 2);       // unknown
    CHECK(token_type.element<std::int32_t>(1) == 3);       // control
    CHECK(token_type.element<std::int32_t>(3) == 6);       // byte
    CHECK(file.find("tokenizer.ggml.merges") == nullptr);  // a SentencePiece vocab has none
    CHECK(file.get_integer<int>("tokenizer.ggml.bos_token_id") == 1);
    CHECK(file.get_integer<int>("tokenizer.ggml.eos_token_id") == 2);

    // token_embd, output_norm, and 9 per layer; the head is tied (no output.weight).
    CHECK(file.tensors().size() == 2 + 9 * 5);
    CHECK(file.find_tensor("output.weight") == nullptr);
    for (const GgufTensor& tensor : file.tensors()) {
      INFO("tensor " << tensor.name);
      CHECK(tensor.data >= file.mapping().data() + file.data_offset());
      CHECK(tensor.data + tensor.nbytes <= file.mapping().data() + file.mapping().size());
      const bool norm = tensor.name.find("norm") != std::string::npos;
      CHECK(tensor.type == (norm ? GgmlType::kF32 : GgmlType::kF16));
    }
    const GgufTensor* embd = file.find_tensor("token_embd.weight");
    REQUIRE(embd != nullptr);
    CHECK(embd->type == GgmlType::kF16);
    CHECK(embd->dims == std::vector<std::int64_t>{64, 512});
    CHECK(embd->nbytes == 64 * 512 * 2);
    const GgufTensor* down = file.find_tensor("blk.0.ffn_down.weight");
    REQUIRE(down != nullptr);
    CHECK(down->dims == std::vector<std::int64_t>{172, 64});

    // ne = {64, 512} is HF's [512, 64] row-major: the bytes are the safetensors tensor's.
    const std::string st_path = models + "/stories260K/model.safetensors";
    if (!std::filesystem::exists(st_path)) {
      MESSAGE("skipped the comparison: no " << st_path);
      return;
    }
    const SafetensorsFile st(st_path);
    const TensorView* hf = st.find("model.embed_tokens.weight");
    REQUIRE(hf != nullptr);
    REQUIRE(hf->dtype == Dtype::kF16);
    CHECK(hf->shape == std::vector<std::int64_t>{512, 64});
    REQUIRE(hf->nbytes == embd->nbytes);
    const auto* gguf_values = reinterpret_cast<const fp16*>(embd->data);
    const auto* hf_values = reinterpret_cast<const fp16*>(hf->data);
    for (const std::size_t i : {0, 1, 63, 64, 64 * 300 + 17, 64 * 512 - 1}) {
      INFO("element " << i);
      CHECK(f16_to_f32_scalar(gguf_values[i]) == f16_to_f32_scalar(hf_values[i]));
    }
    CHECK(std::memcmp(embd->data, hf->data, embd->nbytes) == 0);
    // A norm, F32 in the GGUF file, is the F16 one widened.
    const GgufTensor* norm = file.find_tensor("blk.0.attn_norm.weight");
    const TensorView* hf_norm = st.find("model.layers.0.input_layernorm.weight");
    REQUIRE(norm != nullptr);
    REQUIRE(hf_norm != nullptr);
    REQUIRE(norm->nbytes == 64 * 4);
    for (std::size_t i = 0; i < 64; ++i) {
      float value;
      std::memcpy(&value, norm->data + 4 * i, 4);
      CHECK(value == f16_to_f32_scalar(reinterpret_cast<const fp16*>(hf_norm->data)[i]));
    }
  }

  TEST_CASE("gguf stories260K-Q8_0.gguf: which tensors are Q8_0") {
    const std::string models = models_dir();
    const std::string path = models + "/stories260K-gguf/stories260K-Q8_0.gguf";
    if (models.empty() || !std::filesystem::exists(path)) {
      MESSAGE("skipped: no " << path << " (../shared/models or $POCKET_MODELS)");
      return;
    }
    const GgufFile file(path);
    CHECK(file.get_string("general.architecture") == "llama");
    CHECK(file.get_integer<int>("llama.block_count") == 5);
    CHECK(file.get_integer<int>("general.file_type") == 7);  // LLAMA_FTYPE_MOSTLY_Q8_0
    CHECK(file.get_array("tokenizer.ggml.tokens", GgufType::kString).size() == 512);
    CHECK(file.tensors().size() == 2 + 9 * 5);
    // Norms stay F32; ffn_down (ne[0] = 172, not a multiple of 32) falls back to F16; the rest
    // is Q8_0.
    int q8 = 0;
    for (const GgufTensor& tensor : file.tensors()) {
      INFO("tensor " << tensor.name);
      CHECK(tensor.data + tensor.nbytes <= file.mapping().data() + file.mapping().size());
      GgmlType expected = GgmlType::kQ8_0;
      if (tensor.name.find("norm") != std::string::npos) expected = GgmlType::kF32;
      if (tensor.name.find("ffn_down") != std::string::npos) expected = GgmlType::kF16;
      CHECK(tensor.type == expected);
      q8 += tensor.type == GgmlType::kQ8_0;
    }
    CHECK(q8 == 1 + 6 * 5);
    const GgufTensor* embd = file.find_tensor("token_embd.weight");
    REQUIRE(embd != nullptr);
    CHECK(embd->type == GgmlType::kQ8_0);
    CHECK(embd->dims == std::vector<std::int64_t>{64, 512});
    CHECK(embd->nbytes == 512 * 2 * 34);  // 2 blocks of 32 per row
  }
}
