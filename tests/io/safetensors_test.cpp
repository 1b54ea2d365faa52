// Tests of src/io/safetensors*, src/io/mapped_file*, src/io/atomic_file*: a writer -> reader round
// trip, sharded checkpoints, and one crafted broken file per validation rule, each of which must
// fail with a one-line pocket::Error naming the file, the tensor at fault and the problem.
#include "io/safetensors.h"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/mapped_file.h"
#include "test_util.h"

using namespace pocket;
namespace fs = std::filesystem;

namespace {

using test::TempDir;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string le64(std::uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(value >> (8 * i));
  return out;
}

// A safetensors file: u64 length of `header`, `header`, `buffer`.
std::string safetensors_bytes(const std::string& header, const std::string& buffer) {
  return le64(header.size()) + header + buffer;
}

// Runs `open`, which must throw pocket::Error with a one-line message containing every one of
// `parts` (the file, the tensor, the phrase of the problem). Returns the message.
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

// One broken file: written to a fresh directory, opened, must fail naming the file, the tensor
// (if `tensor` is not empty) and `phrase`.
void expect_broken(const std::string& bytes, const std::string& phrase,
                   const std::string& tensor = "") {
  TempDir dir;
  const std::string path = dir.file("broken.safetensors");
  write_bytes(path, bytes);
  std::vector<std::string> parts = {path, phrase};
  if (!tensor.empty()) parts.push_back("tensor '" + tensor + "'");
  expect_error([&] { SafetensorsFile file(path); }, parts);
}

// Fills tensor i with bytes that depend on i and the position, so any mix-up shows.
std::uint8_t pattern_byte(std::size_t tensor, std::size_t offset) {
  return static_cast<std::uint8_t>(tensor * 37 + offset * 11 + 5);
}

void write_pattern(const std::string& path, const std::vector<TensorSpec>& specs,
                   const std::map<std::string, std::string>& metadata = {}) {
  write_safetensors(path, specs, metadata, [](std::size_t i, std::uint8_t* dst, std::size_t n) {
    for (std::size_t j = 0; j < n; ++j) dst[j] = pattern_byte(i, j);
  });
}

std::string index_json(const std::map<std::string, std::string>& weight_map) {
  std::string out = "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {";
  bool first = true;
  for (const auto& [tensor, shard] : weight_map) {
    out += (first ? "" : ", ") + ("\"" + tensor + "\": \"" + shard + "\"");
    first = false;
  }
  return out + "}}";
}

// A sharded checkpoint: shard 1 holds "a" and "b", shard 2 holds "c" (all F16 [4]).
constexpr const char* kShard1 = "model-00001-of-00002.safetensors";
constexpr const char* kShard2 = "model-00002-of-00002.safetensors";
void write_two_shards(const TempDir& dir) {
  write_pattern(dir.file(kShard1), {{"a", Dtype::kF16, {4}}, {"b", Dtype::kF16, {4}}});
  write_pattern(dir.file(kShard2), {{"c", Dtype::kF16, {4}}});
}

// A valid header for a buffer of 8 bytes: one F32 [2] tensor "w".
const std::string kBuffer8(8, '\x01');

}  // namespace

TEST_SUITE("safetensors") {
  // ---- round trips -----------------------------------------------------------------------------

  TEST_CASE("safetensors round trip: values, dtypes, shapes, metadata, 64-byte alignment") {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    const std::vector<TensorSpec> specs = {
        {"bias", Dtype::kF32, {3}},      // 12 bytes: after the aligned ones
        {"emb", Dtype::kF16, {5, 32}},   // 320 bytes
        {"mask", Dtype::kU8, {3}},       // 3 bytes: last, after every 2-byte tensor
        {"odd", Dtype::kF16, {3}},       // 6 bytes
        {"w", Dtype::kBF16, {4, 8}},     // 64 bytes
        {"ids", Dtype::kI64, {2}},       // 16 bytes
        {"empty", Dtype::kF32, {0, 4}},  // 0 bytes
        {"scalar", Dtype::kF32, {}},     // 4 bytes
        {"table", Dtype::kF64, {2, 4}},  // 64 bytes
        {"flags", Dtype::kBool, {64}},   // 64 bytes
        {"i32", Dtype::kI32, {1}},       // 4 bytes
        {"i16", Dtype::kI16, {1}},       // 2 bytes
        {"i8", Dtype::kI8, {1}},         // 1 byte
    };
    const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "a b\"c"}};
    write_pattern(path, specs, metadata);
    CHECK(dir.names() == std::set<std::string>{"model.safetensors"});  // no temp file left

    const SafetensorsFile file(path);
    CHECK(file.path() == path);
    CHECK(file.metadata() == metadata);
    REQUIRE(file.tensors().size() == specs.size());
    const std::uint8_t* base = file.mapping().data();
    std::uint64_t header_size = 0;
    std::memcpy(&header_size, base, 8);  // the tests run on little-endian machines
    CHECK((8 + header_size) % 64 == 0);

    for (std::size_t i = 0; i < specs.size(); ++i) {
      INFO("tensor " << specs[i].name);
      const TensorView* tensor = file.find(specs[i].name);
      REQUIRE(tensor != nullptr);
      CHECK(tensor->name == specs[i].name);
      CHECK(tensor->file == path);
      CHECK(tensor->dtype == specs[i].dtype);
      CHECK(tensor->shape == specs[i].shape);
      std::int64_t numel = 1;
      for (const std::int64_t dim : specs[i].shape) numel *= dim;
      CHECK(tensor->numel() == numel);
      CHECK(tensor->nbytes == static_cast<std::size_t>(numel) * dtype_size(specs[i].dtype));
      for (std::size_t j = 0; j < tensor->nbytes; ++j)
        REQUIRE(tensor->data[j] == pattern_byte(i, j));
      const auto offset = static_cast<std::size_t>(tensor->data - base);
      if (tensor->nbytes % 64 == 0) CHECK(offset % 64 == 0);
      CHECK(offset % dtype_size(tensor->dtype) == 0);
    }
    CHECK(file.find("absent") == nullptr);
    // tensors() is in buffer order and tiles it.
    std::size_t next = 8 + header_size;
    for (const TensorView& tensor : file.tensors()) {
      CHECK(static_cast<std::size_t>(tensor.data - base) == next);
      next += tensor.nbytes;
    }
    CHECK(next == file.mapping().size());
  }

  TEST_CASE("safetensors writer: no __metadata__ when empty, header padded with spaces") {
    TempDir dir;
    const std::string path = dir.file("x.safetensors");
    write_pattern(path, {{"t", Dtype::kF16, {7}}});
    const std::string bytes = read_bytes(path);
    std::uint64_t header_size = 0;
    std::memcpy(&header_size, bytes.data(), 8);
    const std::string header = bytes.substr(8, header_size);
    CHECK(header.find("__metadata__") == std::string::npos);
    CHECK(header.front() == '{');
    CHECK(header.back() == ' ');
    CHECK(bytes.size() == 8 + header_size + 14);
    const SafetensorsFile file(path);
    CHECK(file.metadata().empty());
    CHECK(file.tensors().size() == 1);
  }

  TEST_CASE("safetensors writer rejects duplicate names and writes nothing") {
    TempDir dir;
    const std::string path = dir.file("x.safetensors");
    expect_error(
        [&] {
          write_pattern(path, {{"t", Dtype::kF16, {2}}, {"t", Dtype::kF32, {1}}});
        },
        {path, "tensor 't'", "given twice"});
    CHECK(dir.names().empty());
  }

  TEST_CASE("safetensors reads a file with no tensors and an empty buffer") {
    TempDir dir;
    const std::string path = dir.file("empty.safetensors");
    write_bytes(path, safetensors_bytes("{}", ""));
    const SafetensorsFile file(path);
    CHECK(file.tensors().empty());
  }

  TEST_CASE("safetensors checkpoint: a single model.safetensors") {
    TempDir dir;
    write_pattern(dir.file("model.safetensors"),
                  {{"x", Dtype::kF16, {2, 3}}, {"y", Dtype::kI64, {1}}});
    const Checkpoint checkpoint(dir.path());
    CHECK(checkpoint.dir() == dir.path());
    CHECK(checkpoint.files().size() == 1);
    CHECK(checkpoint.all().size() == 2);
    CHECK(checkpoint.total_bytes() == 12 + 8);
    CHECK(checkpoint.require("x", Dtype::kF16, {2, 3}).nbytes == 12);
    CHECK(checkpoint.find("z") == nullptr);
  }

  TEST_CASE("safetensors checkpoint: sharded through model.safetensors.index.json") {
    TempDir dir;
    write_two_shards(dir);
    write_bytes(dir.file("model.safetensors.index.json"),
                index_json({{"a", kShard1}, {"b", kShard1}, {"c", kShard2}}));
    const Checkpoint checkpoint(dir.path());
    CHECK(checkpoint.files().size() == 2);
    CHECK(checkpoint.all().size() == 3);
    CHECK(checkpoint.total_bytes() == 24);
    for (const char* name : {"a", "b", "c"}) {
      const TensorView& tensor = checkpoint.require(name, Dtype::kF16, {4});
      CHECK(tensor.name == name);
    }
    CHECK(checkpoint.find("c")->file == dir.file(kShard2));
    CHECK(checkpoint.find("a")->file == dir.file(kShard1));
  }

  // ---- broken files: one per rule
  // ----------------------------------------------------------------

  TEST_CASE("safetensors broken: file shorter than 8 bytes") {
    expect_broken("\x10\x00\x00", "shorter than the 8-byte header length");
  }

  TEST_CASE("safetensors broken: header length past the end of the file") {
    expect_broken(le64(1000) + "{}", "runs past the end of the file");
  }

  TEST_CASE("safetensors broken: header length over the cap") {
    expect_broken(le64(kMaxSafetensorsHeader + 1) + "{}", "exceeds the cap");
  }

  TEST_CASE("safetensors broken: header is not JSON") {
    expect_broken(safetensors_bytes("{\"w\": nope}", ""), "header: invalid JSON");
  }

  TEST_CASE("safetensors broken: header JSON is not an object") {
    expect_broken(safetensors_bytes("[1, 2]", ""), "header is not a JSON object");
  }

  TEST_CASE("safetensors broken: tensor entry is not an object") {
    expect_broken(safetensors_bytes(R"({"w": 3})", ""), "entry is not an object", "w");
  }

  TEST_CASE("safetensors broken: tensor entry missing dtype") {
    expect_broken(safetensors_bytes(R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", kBuffer8),
                  "missing dtype", "w");
  }

  TEST_CASE("safetensors broken: tensor entry missing shape") {
    expect_broken(safetensors_bytes(R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})", kBuffer8),
                  "missing shape", "w");
  }

  TEST_CASE("safetensors broken: tensor entry missing data_offsets") {
    expect_broken(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [2]}})", kBuffer8),
                  "missing data_offsets", "w");
  }

  TEST_CASE("safetensors broken: unknown dtype") {
    expect_broken(safetensors_bytes(
                      R"({"w": {"dtype": "F17", "shape": [2], "data_offsets": [0, 8]}})", kBuffer8),
                  "unknown dtype 'F17'", "w");
  }

  TEST_CASE("safetensors broken: negative dimension") {
    expect_broken(
        safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})",
                          kBuffer8),
        "negative dimension -2", "w");
  }

  TEST_CASE("safetensors broken: shape not an array of integers") {
    expect_broken(
        safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})",
                          kBuffer8),
        "shape is not an array of non-negative integers", "w");
  }

  TEST_CASE("safetensors broken: shape product overflows") {
    expect_broken(
        safetensors_bytes(
            R"({"w": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 8]}})",
            kBuffer8),
        "overflows", "w");
  }

  TEST_CASE("safetensors broken: shape x dtype size != byte range") {
    expect_broken(safetensors_bytes(
                      R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", kBuffer8),
                  "= 12 bytes but data_offsets [0, 8] span 8", "w");
  }

  TEST_CASE("safetensors broken: data_offsets begin > end") {
    expect_broken(safetensors_bytes(
                      R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", kBuffer8),
                  "begin > end", "w");
  }

  TEST_CASE("safetensors broken: data_offsets wrong arity") {
    expect_broken(
        safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4, 8]}})",
                          kBuffer8),
        "data_offsets is not two non-negative integers", "w");
  }

  TEST_CASE("safetensors broken: data_offsets negative") {
    expect_broken(
        safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [-1, 7]}})",
                          kBuffer8),
        "data_offsets is not two non-negative integers", "w");
  }

  TEST_CASE("safetensors broken: range beyond the buffer") {
    expect_broken(
        safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})",
                          kBuffer8),
        "outside the data buffer (8 bytes)", "w");
  }

  TEST_CASE("safetensors broken: overlapping ranges") {
    expect_broken(safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                      "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                                    kBuffer8),
                  "overlap tensor 'a'", "b");
  }

  TEST_CASE("safetensors broken: hole in the buffer") {
    expect_broken(safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                            "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
                                    std::string(12, '\0')),
                  "hole in the data buffer: bytes [4, 8]", "b");
  }

  TEST_CASE("safetensors broken: trailing bytes after the last tensor") {
    expect_broken(
        safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
                          std::string(12, '\0')),
        "4 trailing bytes after the last tensor");
  }

  TEST_CASE("safetensors broken: metadata value not a string") {
    expect_broken(safetensors_bytes(R"({"__metadata__": {"format": 1}})", ""),
                  "__metadata__ value of 'format' is not a string");
  }

  TEST_CASE("safetensors broken: metadata not an object") {
    expect_broken(safetensors_bytes(R"({"__metadata__": "pt"})", ""),
                  "__metadata__ is not an object");
  }

  TEST_CASE("safetensors broken: the same tensor twice in the header") {
    expect_broken(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                            "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                                    kBuffer8),
                  "appears twice in the header", "w");
  }

  TEST_CASE("safetensors broken: a key twice inside a tensor entry") {
    expect_broken(
        safetensors_bytes(
            R"({"w": {"dtype": "F32", "dtype": "F16", "shape": [2], "data_offsets": [0, 8]}})",
            kBuffer8),
        "duplicate key 'dtype' in the header");
  }

  TEST_CASE("safetensors broken: F16 tensor at an odd address") {
    // 8 + header length even, so the buffer starts even; the U8 byte puts "h" at an odd offset.
    std::string header = R"({"b": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                           "h": {"dtype": "F16", "shape": [1], "data_offsets": [1, 3]}})";
    if (header.size() % 2 != 0) header += ' ';
    expect_broken(safetensors_bytes(header, std::string(3, '\0')), "is not 2-byte aligned", "h");
  }

  TEST_CASE("safetensors broken: tensor name with a newline stays one line") {
    expect_broken(safetensors_bytes(R"({"a\nb": {"dtype": "F32", "shape": [2]}})", kBuffer8),
                  "missing data_offsets", "a\\x0ab");
  }

  // ---- broken checkpoints
  // --------------------------------------------------------------------------

  TEST_CASE("safetensors checkpoint broken: index.json is not JSON") {
    TempDir dir;
    write_two_shards(dir);
    const std::string index = dir.file("model.safetensors.index.json");
    write_bytes(index, "{\"weight_map\": {\"a\": ");
    expect_error([&] { Checkpoint checkpoint(dir.path()); }, {index, "index: invalid JSON"});
  }

  TEST_CASE("safetensors checkpoint broken: index without a weight_map") {
    TempDir dir;
    write_two_shards(dir);
    const std::string index = dir.file("model.safetensors.index.json");
    write_bytes(index, "{\"metadata\": {}}");
    expect_error([&] { Checkpoint checkpoint(dir.path()); }, {index, "no \"weight_map\" object"});
  }

  TEST_CASE("safetensors checkpoint broken: index names a shard file that does not exist") {
    TempDir dir;
    write_two_shards(dir);
    const std::string index = dir.file("model.safetensors.index.json");
    write_bytes(index,
                index_json({{"a", kShard1}, {"b", kShard1}, {"c", "model-00003.safetensors"}}));
    expect_error([&] { Checkpoint checkpoint(dir.path()); },
                 {index, "shard 'model-00003.safetensors' does not exist"});
  }

  TEST_CASE("safetensors checkpoint broken: index names a shard outside the directory") {
    TempDir dir;
    write_two_shards(dir);
    const std::string index = dir.file("model.safetensors.index.json");
    write_bytes(index, index_json({{"a", "../model.safetensors"}}));
    expect_error([&] { Checkpoint checkpoint(dir.path()); },
                 {index, "tensor 'a'", "is not a file name in the directory"});
  }

  TEST_CASE("safetensors checkpoint broken: index tensor not found in its shard") {
    TempDir dir;
    write_two_shards(dir);
    const std::string index = dir.file("model.safetensors.index.json");
    write_bytes(index, index_json({{"a", kShard1}, {"b", kShard1}, {"c", kShard1}}));
    expect_error([&] { Checkpoint checkpoint(dir.path()); },
                 {index, "tensor 'c'", std::string("not found in its shard '") + kShard1 + "'"});
  }

  TEST_CASE("safetensors checkpoint broken: a tensor in two shards") {
    TempDir dir;
    write_pattern(dir.file(kShard1), {{"a", Dtype::kF16, {4}}, {"b", Dtype::kF16, {4}}});
    write_pattern(dir.file(kShard2), {{"b", Dtype::kF16, {4}}});
    write_bytes(dir.file("model.safetensors.index.json"),
                index_json({{"a", kShard1}, {"b", kShard2}}));
    expect_error([&] { Checkpoint checkpoint(dir.path()); },
                 {dir.path(), "tensor 'b'", "in two shards", kShard1, kShard2});
  }

  TEST_CASE("safetensors checkpoint broken: a shard tensor not listed in the index") {
    TempDir dir;
    write_two_shards(dir);
    write_bytes(dir.file("model.safetensors.index.json"),
                index_json({{"a", kShard1}, {"c", kShard2}}));
    expect_error([&] { Checkpoint checkpoint(dir.path()); },
                 {dir.file(kShard1), "tensor 'b'", "not listed in model.safetensors.index.json"});
  }

  TEST_CASE("safetensors checkpoint broken: a broken shard is named in the error") {
    TempDir dir;
    write_pattern(dir.file(kShard1), {{"a", Dtype::kF16, {4}}});
    write_bytes(dir.file(kShard2), "\x01\x02");
    write_bytes(dir.file("model.safetensors.index.json"),
                index_json({{"a", kShard1}, {"c", kShard2}}));
    expect_error([&] { Checkpoint checkpoint(dir.path()); },
                 {dir.file(kShard2), "shorter than the 8-byte header length"});
  }

  TEST_CASE("safetensors checkpoint: require with the wrong dtype") {
    TempDir dir;
    write_pattern(dir.file("model.safetensors"),
                  {{"model.decoder.layers.0.fc1.weight", Dtype::kBF16, {4, 2}}});
    const Checkpoint checkpoint(dir.path());
    expect_error(
        [&] {
          checkpoint.require("model.decoder.layers.0.fc1.weight", Dtype::kF16, {4, 2});
        },
        {dir.file("model.safetensors"), "tensor 'model.decoder.layers.0.fc1.weight'",
         "dtype BF16 expected F16"});
  }

  TEST_CASE("safetensors checkpoint: require with the wrong shape") {
    TempDir dir;
    write_pattern(dir.file("model.safetensors"),
                  {{"model.decoder.layers.0.fc1.weight", Dtype::kF16, {3072, 7}}});
    const Checkpoint checkpoint(dir.path());
    expect_error(
        [&] {
          checkpoint.require("model.decoder.layers.0.fc1.weight", Dtype::kF16, {3072, 8});
        },
        {dir.file("model.safetensors") + ": tensor 'model.decoder.layers.0.fc1.weight': shape "
                                         "[3072, 7] expected [3072, 8]"});
  }

  TEST_CASE("safetensors checkpoint: require of a missing tensor") {
    TempDir dir;
    write_two_shards(dir);
    write_bytes(dir.file("model.safetensors.index.json"),
                index_json({{"a", kShard1}, {"b", kShard1}, {"c", kShard2}}));
    const Checkpoint checkpoint(dir.path());
    expect_error([&] { checkpoint.require("lm_head.weight", Dtype::kF16, {4}); },
                 {dir.path() + ": tensor 'lm_head.weight' missing (not in any shard)"});
  }

  TEST_CASE("safetensors checkpoint broken: directory with no checkpoint") {
    TempDir dir;
    write_bytes(dir.file("config.json"), "{}");
    expect_error([&] { Checkpoint checkpoint(dir.path()); },
                 {dir.path(), "no model.safetensors or model.safetensors.index.json"});
  }

  TEST_CASE("safetensors checkpoint broken: no such directory") {
    TempDir dir;
    expect_error([&] { Checkpoint checkpoint(dir.file("nope")); },
                 {dir.file("nope"), "no such directory"});
  }

}  // TEST_SUITE("safetensors")

TEST_SUITE("safetensors io: mapped_file, atomic_file") {
  // ---- MappedFile
  // ----------------------------------------------------------------------------------

  // Issue 17: open(O_RDONLY) of a FIFO waits for a writer, so `pocket forward` hung.
  TEST_CASE("mapped_file refuses a FIFO at once (never waits for a writer) and a directory") {
    test::TempDir dir;
    const std::string path = dir.file("model.safetensors");
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    const auto start = std::chrono::steady_clock::now();
    CHECK(test::error_of([&] { MappedFile map(path); }) == path + ": not a regular file");
    CHECK(test::error_of([&] { Checkpoint checkpoint(dir.path()); }) ==
          path + ": not a regular file");
    CHECK(test::error_of([&] { MappedFile map(dir.path()); }) ==
          dir.path() + ": is a directory, not a file");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  }

  TEST_CASE("mapped_file maps a whole file read-only") {
    TempDir dir;
    const std::string path = dir.file("f");
    write_bytes(path, "hello, mapping");
    MappedFile map(path);
    CHECK(map.path() == path);
    CHECK(map.mode() == MapMode::kReadOnly);
    REQUIRE(map.size() == 14);
    CHECK(std::string(reinterpret_cast<const char*>(map.data()), map.size()) == "hello, mapping");
    for (MapAdvice advice : {MapAdvice::kNormal, MapAdvice::kSequential, MapAdvice::kRandom,
                             MapAdvice::kWillNeed, MapAdvice::kDontNeed}) {
      map.advise(advice);
      map.advise(advice, 3, 5);
      map.advise(advice, 100, 5);  // past the end: nothing
    }
    CHECK(map.data()[0] == 'h');  // still readable after kDontNeed
    expect_error([&] { map.mutable_data(); }, {path, "read-only"});
    map.sync();  // nothing to write

    MappedFile moved(std::move(map));
    CHECK(moved.size() == 14);
    CHECK(map.data() == nullptr);
    MappedFile assigned;
    assigned = std::move(moved);
    CHECK(assigned.data()[13] == 'g');
  }

  TEST_CASE("mapped_file maps an empty file to nullptr and 0") {
    TempDir dir;
    write_bytes(dir.file("empty"), "");
    const MappedFile map(dir.file("empty"));
    CHECK(map.data() == nullptr);
    CHECK(map.size() == 0);
    map.advise(MapAdvice::kWillNeed);
  }

  TEST_CASE("mapped_file read-write: stores reach the file after sync") {
    TempDir dir;
    const std::string path = dir.file("rw");
    write_bytes(path, "abcdef");
    {
      MappedFile map(path, MapMode::kReadWrite);
      map.mutable_data()[2] = 'X';
      map.sync();
      CHECK(read_bytes(path) == "abXdef");
      MappedFile moved = std::move(map);
      moved.mutable_data()[0] = 'Y';
      moved.sync();
    }
    CHECK(read_bytes(path) == "YbXdef");
  }

  TEST_CASE("mapped_file errors name the path") {
    TempDir dir;
    expect_error([&] { MappedFile map(dir.file("missing")); },
                 {dir.file("missing"), "cannot open"});
    expect_error([&] { MappedFile map(dir.path()); }, {dir.path(), "is a directory"});
  }

  // ---- atomic files
  // --------------------------------------------------------------------------------

  TEST_CASE("atomic_file write replaces the target and leaves no temp file") {
    TempDir dir;
    const std::string path = dir.file("config.json");
    write_file_atomic(path, "first");
    CHECK(read_bytes(path) == "first");
    write_file_atomic(path, std::string(100000, 'z'));
    CHECK(read_bytes(path) == std::string(100000, 'z'));
    write_file_atomic(path, "");
    CHECK(read_bytes(path).empty());
    CHECK(dir.names() == std::set<std::string>{"config.json"});
  }

  TEST_CASE("atomic_file mapped write fills exactly size bytes") {
    TempDir dir;
    const std::string path = dir.file("blob");
    write_file_atomic_mapped(path, 10000, [](std::uint8_t* data, std::size_t size) {
      for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::uint8_t>(i * 7);
    });
    const std::string bytes = read_bytes(path);
    REQUIRE(bytes.size() == 10000);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      REQUIRE(static_cast<std::uint8_t>(bytes[i]) == static_cast<std::uint8_t>(i * 7));
    }
    write_file_atomic_mapped(path, 0, [](std::uint8_t*, std::size_t size) { CHECK(size == 0); });
    CHECK(read_bytes(path).empty());
    CHECK(dir.names() == std::set<std::string>{"blob"});
  }

  TEST_CASE("atomic_file a throwing fill leaves the target untouched and no temp file") {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    write_file_atomic(path, "old contents");
    CHECK_THROWS_AS(write_file_atomic_mapped(path, 4096,
                                             [](std::uint8_t* data, std::size_t) {
                                               data[0] = 'n';
                                               throw std::runtime_error("fill failed");
                                             }),
                    std::runtime_error);
    CHECK(read_bytes(path) == "old contents");
    CHECK(dir.names() == std::set<std::string>{"model.safetensors"});
    // Same through the safetensors writer.
    CHECK_THROWS_AS(write_safetensors(path, {{"t", Dtype::kF16, {2}}}, {},
                                      [](std::size_t, std::uint8_t*, std::size_t) {
                                        throw pocket::Error("t", "no data");
                                      }),
                    pocket::Error);
    CHECK(read_bytes(path) == "old contents");
    CHECK(dir.names() == std::set<std::string>{"model.safetensors"});
  }

  TEST_CASE("atomic_file errors name the target") {
    TempDir dir;
    const std::string path = dir.file("no-such-dir/file");
    expect_error([&] { write_file_atomic(path, "x"); }, {path, "cannot create"});
    expect_error([&] { fsync_directory(dir.file("nope")); }, {dir.file("nope")});
    fsync_directory(dir.path());
  }

}  // TEST_SUITE
