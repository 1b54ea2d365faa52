// Tests of src/zo/snapshot*: a round trip of F16 and F32 tensors, pruning to the newest `keep`, and
// the snapshots a crash or bit rot leaves (truncated, bit-flipped, another run's) rejected with a
// reason while the older valid one is returned; snapshot_hash itself.
#include "zo/snapshot.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/safetensors.h"
#include "io/hash.h"
#include "kernels/fp16.h"
#include "test_util.h"

using namespace pocket;
namespace fs = std::filesystem;

namespace {

using test::TempDir;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// The trainable state of a tiny model at some step: fp16 weights (one of odd length) and their
// fp32 masters, different for every `seed`.
struct State {
  std::vector<fp16> weight, bias;
  std::vector<float> master_weight, master_bias;

  explicit State(std::uint32_t seed)
      : weight(test::random_f16(12 * 16, seed)),
        bias(test::random_f16(7, seed + 1)),
        master_weight(test::random_floats(12 * 16, seed + 2)),
        master_bias(test::random_floats(7, seed + 3)) {}

  // Deliberately not in name order: the checksum must not depend on the order given.
  std::vector<SnapshotTensor> tensors() const {
    return {{"w", Dtype::kF16, {12, 16}, weight.data()},
            {"b", Dtype::kF16, {7}, bias.data()},
            {"master.w", Dtype::kF32, {12, 16}, master_weight.data()},
            {"master.b", Dtype::kF32, {7}, master_bias.data()}};
  }
};

std::string snap_name(std::uint64_t step) {
  std::string digits = std::to_string(step);
  return "snap-" + std::string(9 - digits.size(), '0') + digits + ".safetensors";
}

// The byte offset of the data buffer of a safetensors file.
std::size_t buffer_offset(const std::string& bytes) {
  std::uint64_t n = 0;
  for (int b = 0; b < 8; ++b)
    n |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(bytes[b])) << (8 * b);
  return 8 + n;
}

}  // namespace

TEST_SUITE("zo-run") {
  TEST_CASE("snapshot: F16 and F32 tensors round-trip with step, run id and checksum") {
    TempDir dir;
    const State state(1);
    write_snapshot(dir.path(), 12, "run-a", state.tensors());
    CHECK(dir.names() == std::set<std::string>{"snap-000000012.safetensors"});

    std::vector<std::string> rejected;
    const std::vector<SnapshotInfo> valid = valid_snapshots(dir.path(), "run-a", &rejected);
    CHECK(rejected.empty());
    REQUIRE(valid.size() == 1);
    CHECK(valid[0].step == 12);
    CHECK(valid[0].path == dir.file("snap-000000012.safetensors"));

    const SafetensorsFile file(valid[0].path);
    CHECK(file.metadata().at("pocket.step") == "12");
    CHECK(file.metadata().at("pocket.run") == "run-a");
    CHECK(file.metadata().at("pocket.checksum").size() == 16);
    const auto check_tensor = [&](const std::string& name, Dtype dtype,
                                  const std::vector<std::int64_t>& shape, const void* data,
                                  std::size_t nbytes) {
      CAPTURE(name);
      const TensorView* view = file.find(name);
      REQUIRE(view != nullptr);
      CHECK(view->dtype == dtype);
      CHECK(view->shape == shape);
      REQUIRE(view->nbytes == nbytes);
      CHECK(std::memcmp(view->data, data, nbytes) == 0);
    };
    check_tensor("w", Dtype::kF16, {12, 16}, state.weight.data(), state.weight.size() * 2);
    check_tensor("b", Dtype::kF16, {7}, state.bias.data(), state.bias.size() * 2);
    check_tensor("master.w", Dtype::kF32, {12, 16}, state.master_weight.data(),
                 state.master_weight.size() * 4);
    check_tensor("master.b", Dtype::kF32, {7}, state.master_bias.data(),
                 state.master_bias.size() * 4);

    // The checksum is the hash of the tensors' bytes in name order: b, master.b, master.w, w.
    std::string concatenated;
    for (const char* name : {"b", "master.b", "master.w", "w"}) {
      const TensorView* view = file.find(name);
      concatenated.append(reinterpret_cast<const char*>(view->data), view->nbytes);
    }
    char hex[17];
    std::snprintf(
        hex, sizeof(hex), "%016llx",
        static_cast<unsigned long long>(snapshot_hash(
            reinterpret_cast<const std::uint8_t*>(concatenated.data()), concatenated.size())));
    CHECK(file.metadata().at("pocket.checksum") == hex);
  }

  TEST_CASE("snapshot: keep = 2 deletes the older ones, newest first, names sort by step") {
    TempDir dir;
    const State state(2);
    for (const std::uint64_t step : {5, 10, 100, 1000}) {
      write_snapshot(dir.path(), step, "run", state.tensors());
    }
    CHECK(dir.names() ==
          std::set<std::string>{"snap-000000100.safetensors", "snap-000001000.safetensors"});
    // A crashed write's temporary file is ignored by the reader and removed by the next write.
    write_bytes(dir.file("snap-000001500.safetensors.tmp-123-0"), "partial");
    std::vector<std::string> rejected;
    std::vector<SnapshotInfo> valid = valid_snapshots(dir.path(), "run", &rejected);
    CHECK(rejected.empty());
    REQUIRE(valid.size() == 2);
    CHECK(valid[0].step == 1000);
    CHECK(valid[1].step == 100);
    CHECK(dir.names().size() == 3);  // the reader deletes nothing

    write_snapshot(dir.path(), 2000, "run", state.tensors(), 1);
    CHECK(dir.names() == std::set<std::string>{"snap-000002000.safetensors"});

    CHECK_THROWS_AS(write_snapshot(dir.path(), 3000, "run", state.tensors(), 0), pocket::Error);
  }

  TEST_CASE(
      "snapshot: a truncated, bit-flipped or foreign snapshot is rejected, the older one used") {
    TempDir dir;
    const State older(3), newer(4);
    write_snapshot(dir.path(), 100, "run", older.tensors());
    write_snapshot(dir.path(), 200, "run", newer.tensors());
    const std::string newest = dir.file(snap_name(200));
    const std::string good = read_bytes(newest);

    struct Damage {
      const char* what;
      std::string bytes;
      const char* reason;
    };
    std::string flipped = good;
    flipped[buffer_offset(good) + 77] ^= 0x04;
    std::vector<Damage> damages = {
        {"truncated", good.substr(0, good.size() - 100), ""},
        {"truncated header", good.substr(0, 20), ""},
        {"empty", "", ""},
        {"bit flip in the data", flipped, "checksum mismatch"},
    };
    for (const Damage& damage : damages) {
      CAPTURE(damage.what);
      write_bytes(newest, damage.bytes);
      std::vector<std::string> rejected;
      const std::vector<SnapshotInfo> valid = valid_snapshots(dir.path(), "run", &rejected);
      REQUIRE(valid.size() == 1);
      CHECK(valid[0].step == 100);
      REQUIRE(rejected.size() == 1);
      CHECK(rejected[0].find(newest) == 0);
      CHECK(rejected[0].find(damage.reason) != std::string::npos);
      CHECK(rejected[0].find('\n') == std::string::npos);
    }

    write_bytes(newest, good);
    std::vector<std::string> rejected;
    std::vector<SnapshotInfo> valid = valid_snapshots(dir.path(), "other-run", &rejected);
    CHECK(valid.empty());
    REQUIRE(rejected.size() == 2);
    CHECK(rejected[0].find("other-run") != std::string::npos);

    // A snapshot renamed to another step: the name and pocket.step disagree.
    fs::rename(newest, dir.file(snap_name(300)));
    rejected.clear();
    valid = valid_snapshots(dir.path(), "run", &rejected);
    REQUIRE(valid.size() == 1);
    CHECK(valid[0].step == 100);
    REQUIRE(rejected.size() == 1);
    CHECK(rejected[0].find("pocket.step") != std::string::npos);
  }

  TEST_CASE("snapshot_hash: equal on equal data, different on any one-bit change") {
    std::mt19937 rng(7);
    std::vector<std::uint8_t> data(1000);
    for (auto& byte : data) byte = static_cast<std::uint8_t>(rng());
    for (const std::size_t n : {0, 1, 7, 8, 9, 31, 32, 33, 64, 100, 1000}) {
      CAPTURE(n);
      const std::uint64_t hash = snapshot_hash(data.data(), n);
      std::vector<std::uint8_t> copy(data.begin(), data.begin() + n);
      CHECK(snapshot_hash(copy.data(), n) == hash);
      for (std::size_t bit = 0; bit < 8 * n; bit += (n > 100 ? 13 : 1)) {
        copy[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        CHECK(snapshot_hash(copy.data(), n) != hash);
        copy[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
      }
    }
    // The length is part of the hash: trailing zero bytes change it.
    const std::vector<std::uint8_t> zeros(16, 0);
    CHECK(snapshot_hash(zeros.data(), 15) != snapshot_hash(zeros.data(), 16));
    CHECK(snapshot_hash(zeros.data(), 0) != snapshot_hash(zeros.data(), 1));
  }

  TEST_CASE("SnapshotHasher: any split of the input gives snapshot_hash of the whole") {
    std::vector<std::uint8_t> data(333);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 31 + 5);
    const std::uint64_t whole = snapshot_hash(data.data(), data.size());
    for (const std::size_t first : {0, 1, 5, 31, 32, 33, 100, 333}) {
      for (const std::size_t second : {0, 3, 40}) {
        if (first + second > data.size()) continue;
        SnapshotHasher hasher;
        hasher.update(data.data(), first);
        hasher.update(data.data() + first, second);
        hasher.update(nullptr, 0);
        hasher.update(data.data() + first + second, data.size() - first - second);
        CHECK(hasher.digest() == whole);
      }
    }
  }

}  // TEST_SUITE("zo-run")
