// The server's example store (example_store.h): what is appended is what a reopened store holds;
// a torn or corrupt tail — a crash in the middle of an append, a flipped bit — is cut off at open
// and the valid prefix kept, and appending continues after it; a foreign file is a one-line error.
// And parse_example, which checks one example against the task before the trainer reads it.
#include "side/example_store.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "io/error.h"
#include "side/act_codec.h"
#include "test_util.h"

namespace pocket {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Example i: i + 3 bytes of a pattern that differs per example (the store holds opaque bytes).
std::string opaque_example(int i) {
  std::string s(static_cast<std::size_t>(i + 3), '\0');
  for (std::size_t j = 0; j < s.size(); ++j) s[j] = static_cast<char>(i * 31 + j * 7);
  return s;
}

void append_one(ExampleStore& store, const std::string& bytes) {
  const std::string_view view(bytes);
  store.append(&view, 1);
}

// Checks that the store holds exactly `want`, in order.
void check_holds(const ExampleStore& store, const std::vector<std::string>& want) {
  REQUIRE(store.size() == static_cast<std::int64_t>(want.size()));
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CHECK(store.example(static_cast<std::int64_t>(i)) == want[i]);
  }
}

// A classification task over 2 classes, d = 8, L = 2, 8-bit: one vector is 12 bytes.
SideTaskSpec small_spec(bool lm) {
  SideTaskSpec spec;
  spec.lm = lm;
  spec.act_bits = 8;
  spec.n_vectors = 3;
  spec.hidden = 8;
  if (!lm) spec.candidates = {5, 9};
  return spec;
}

// An example's wire bytes: u32 P, i32 targets[P], then P · n_vectors encoded vectors (filler).
std::string wire_example(const SideTaskSpec& spec, const std::vector<std::int32_t>& targets,
                         std::int64_t positions) {
  std::string s;
  const auto p = static_cast<std::uint32_t>(positions);
  s.append(reinterpret_cast<const char*>(&p), 4);
  for (std::int32_t t : targets) s.append(reinterpret_cast<const char*>(&t), 4);
  const std::size_t vb = act_vector_bytes(spec.hidden, spec.act_bits);
  s.append(static_cast<std::size_t>(positions * spec.n_vectors) * vb, '\x01');
  return s;
}

}  // namespace

TEST_CASE("side example store: append then reopen gives the same examples") {
  test::TempDir dir;
  const std::string path = dir.path() + "/examples.bin";
  std::vector<std::string> want;
  for (int i = 0; i < 5; ++i) want.push_back(opaque_example(i));
  want.push_back("");  // an empty record is still a record
  {
    ExampleStore store(path);
    CHECK(store.size() == 0);
    CHECK(store.dropped_bytes() == 0);
    const std::vector<std::string_view> first(want.begin(), want.begin() + 2);
    const std::vector<std::string_view> rest(want.begin() + 2, want.end());
    store.append(first.data(), 2);
    store.append(rest.data(), static_cast<std::int64_t>(rest.size()));
    check_holds(store, want);
  }
  // 16-byte header, then 12 + n + 4 bytes per record.
  std::size_t expected_size = 16;
  for (const std::string& e : want) expected_size += 16 + e.size();
  CHECK(fs::file_size(path) == expected_size);
  ExampleStore reopened(path);
  CHECK(reopened.dropped_bytes() == 0);
  check_holds(reopened, want);
}

TEST_CASE("side example store: a torn tail of any length is cut off; appends continue after it") {
  test::TempDir dir;
  const std::string path = dir.path() + "/examples.bin";
  const std::vector<std::string> kept = {opaque_example(0), opaque_example(1)};
  std::uintmax_t last_start = 0;
  {
    ExampleStore store(path);
    for (const std::string& e : kept) append_one(store, e);
    last_start = fs::file_size(path);
    append_one(store, opaque_example(2));
  }
  const std::string whole = read_bytes(path);
  const std::string after = opaque_example(7);
  // Every cut strictly inside the last record: in its index, its length, its bytes or its CRC.
  for (std::size_t cut = last_start + 1; cut < whole.size(); ++cut) {
    CAPTURE(cut);
    write_bytes(path, whole.substr(0, cut));
    {
      ExampleStore store(path);
      CHECK(store.dropped_bytes() == static_cast<std::int64_t>(cut - last_start));
      check_holds(store, kept);
      CHECK(fs::file_size(path) == last_start);  // the tail is gone from the file too
      append_one(store, after);
    }
    ExampleStore reopened(path);
    CHECK(reopened.dropped_bytes() == 0);
    check_holds(reopened, {kept[0], kept[1], after});
  }
}

TEST_CASE("side example store: a flipped bit drops its record and every one after it") {
  test::TempDir dir;
  const std::string path = dir.path() + "/examples.bin";
  std::vector<std::uintmax_t> starts;  // byte offset of each record
  {
    ExampleStore store(path);
    for (int i = 0; i < 4; ++i) {
      starts.push_back(fs::file_size(path));
      append_one(store, opaque_example(i));
    }
  }
  const std::string whole = read_bytes(path);
  // One bit in each byte of record 1 (index, length, bytes, CRC): records 1..3 are dropped.
  for (std::size_t at = starts[1]; at < starts[2]; ++at) {
    CAPTURE(at);
    std::string bad = whole;
    bad[at] = static_cast<char>(bad[at] ^ (1 << (at % 8)));
    write_bytes(path, bad);
    ExampleStore store(path);
    CHECK(store.dropped_bytes() == static_cast<std::int64_t>(whole.size() - starts[1]));
    check_holds(store, {opaque_example(0)});
  }
  // A record whose CRC is right but whose index is out of sequence (record 0 again after
  // record 1) is not taken either.
  write_bytes(path, whole.substr(0, starts[2]) + whole.substr(starts[0], starts[1] - starts[0]));
  ExampleStore store(path);
  CHECK(store.dropped_bytes() == static_cast<std::int64_t>(starts[1] - starts[0]));
  check_holds(store, {opaque_example(0), opaque_example(1)});
}

TEST_CASE("side example store: a file that is not a store is a one-line error naming it") {
  test::TempDir dir;
  const std::string path = dir.path() + "/examples.bin";
  const std::string message = path + ": not a pocket example store (bad magic or version)";
  write_bytes(path, std::string("PKSD\x01\0\0\0\0\0\0\0\0\0\0\0", 16));  // a frame's magic
  CHECK_THROWS_WITH_AS(ExampleStore{path}, message.c_str(), Error);
  write_bytes(path, std::string("PKSE\x02\0\0\0\0\0\0\0\0\0\0\0", 16));  // version 2
  CHECK_THROWS_WITH_AS(ExampleStore{path}, message.c_str(), Error);
  CHECK(message.find('\n') == std::string::npos);
  // Refused, not rewritten, and no descriptor left open by the refusals.
  CHECK(fs::file_size(path) == 16);
  const auto open_fds = [] {
    return std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator{});
  };
  const auto before = open_fds();
  for (int i = 0; i < 5; ++i) CHECK_THROWS_AS(ExampleStore{path}, Error);
  CHECK(open_fds() == before);
  // A file shorter than the header was torn before its header was whole: started over.
  write_bytes(path, "PKS");
  ExampleStore store(path);
  CHECK(store.size() == 0);
  CHECK(fs::file_size(path) == 16);
}

TEST_CASE("side example store: path \"\" keeps examples in memory, at stable addresses") {
  ExampleStore store("");
  CHECK(store.size() == 0);
  const std::string first = opaque_example(0);
  append_one(store, first);
  const std::string_view held = store.example(0);
  CHECK(held.data() != first.data());  // a copy, not a view of the caller's bytes
  for (int i = 1; i < 200; ++i) append_one(store, opaque_example(i));
  CHECK(store.size() == 200);
  CHECK(store.example(0).data() == held.data());  // appending moved nothing already held
  CHECK(store.example(199) == opaque_example(199));
  CHECK(store.dropped_bytes() == 0);
}

TEST_CASE("side parse_example: exact bytes give the positions, targets and vectors") {
  const SideTaskSpec cls = small_spec(false);
  const std::string one = wire_example(cls, {1}, 1);
  CHECK(one.size() == 4 + 4 + 3 * 12);
  const ExampleView v = parse_example(one, cls, 1024);
  CHECK(v.positions == 1);
  CHECK(v.targets[0] == 1);
  CHECK(reinterpret_cast<const char*>(v.vectors) == one.data() + 8);

  const SideTaskSpec lm = small_spec(true);
  const std::string three = wire_example(lm, {0, 1023, 17}, 3);
  const ExampleView w = parse_example(three, lm, 1024);
  CHECK(w.positions == 3);
  CHECK(w.targets[1] == 1023);
  CHECK(reinterpret_cast<const char*>(w.vectors) == three.data() + 16);
}

TEST_CASE("side parse_example: wrong size, position count or target is an error") {
  const SideTaskSpec cls = small_spec(false), lm = small_spec(true);
  const std::string good = wire_example(cls, {1}, 1);
  CHECK_THROWS_WITH_AS(parse_example(good.substr(0, good.size() - 1), cls, 1024),
                       "example: 43 bytes, 44 expected for 1 position(s)", Error);
  CHECK_THROWS_WITH_AS(parse_example(good + "x", cls, 1024),
                       "example: 45 bytes, 44 expected for 1 position(s)", Error);
  CHECK_THROWS_WITH_AS(parse_example("ab", cls, 1024), "example: shorter than its position count",
                       Error);
  CHECK_THROWS_WITH_AS(parse_example(wire_example(lm, {}, 0), lm, 1024),
                       "example: 0 positions (1..65536)", Error);
  // The position count is refused before any size is computed from it.
  CHECK_THROWS_WITH_AS(
      parse_example(wire_example(lm, {}, 0).replace(0, 4, "\x01\x00\x01\x00", 4), lm, 1024),
      "example: 65537 positions (1..65536)", Error);
  // Classification: one position; targets index the classes (2 here), not the vocabulary.
  CHECK_THROWS_WITH_AS(parse_example(wire_example(cls, {0, 1}, 2), cls, 1024),
                       "example: a classification example has one position", Error);
  CHECK_THROWS_WITH_AS(parse_example(wire_example(cls, {2}, 1), cls, 1024),
                       "example: target 2 out of range 0..1", Error);
  CHECK_THROWS_WITH_AS(parse_example(wire_example(cls, {-1}, 1), cls, 1024),
                       "example: target -1 out of range 0..1", Error);
  // lm: every target indexes the vocabulary.
  CHECK_THROWS_WITH_AS(parse_example(wire_example(lm, {3, 1024}, 2), lm, 1024),
                       "example: target 1024 out of range 0..1023", Error);
  CHECK_NOTHROW(parse_example(wire_example(lm, {3, 1023}, 2), lm, 1024));
}

TEST_CASE("side parse_example: a vector that would decode to infinities is refused at upload") {
  const SideTaskSpec cls = small_spec(false);
  const std::string good = wire_example(cls, {1}, 1);  // u32 P, i32 target, then 3 vectors of 12
  std::string bad = good;
  const float huge = 6.4e37f;  // finite, but 127 · huge is not (the side-protocol fuzzer's find)
  std::memcpy(bad.data() + 8 + 12, &huge, 4);  // the second vector's scale
  CHECK_THROWS_WITH_AS(parse_example(bad, cls, 1024),
                       doctest::Contains("activation scale is not a finite"), Error);
  bad = good;
  bad[8 + 4 + 3] = '\x80';  // code −128 in the first vector
  CHECK_THROWS_WITH_AS(parse_example(bad, cls, 1024),
                       doctest::Contains("activation code outside the encoder's range"), Error);
}

}  // namespace pocket
