// Tests of src/zo/journal* and src/io/crc32*: a round trip, the torn tails a crash can leave (every
// partial length, a bad last record) dropped with the earlier records intact, and corruption
// (a bad record before good ones, a wrong header, steps out of order) as one-line errors.
#include "zo/journal.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "io/crc32.h"
#include "io/error.h"
#include "test_util.h"

using namespace pocket;

namespace {

using test::TempDir;

constexpr std::size_t kHeader = 16;
constexpr std::size_t kRecord = 48;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

JournalRecord make_record(std::uint64_t step) {
  JournalRecord record;
  record.step = step;
  record.seed = 0x9E3779B97F4A7C15ull * step;
  record.g = 0.25f * static_cast<float>(step) - 1.0f;
  record.lr = 1e-6f;
  record.loss_plus = 2.5 + 1e-9 * static_cast<double>(step);
  record.loss_minus = 2.5 - 1e-9 * static_cast<double>(step);
  record.status = step % 3 == 0 ? StepStatus::kRejected : StepStatus::kAccepted;
  return record;
}

void check_equal(const JournalRecord& a, const JournalRecord& b) {
  CHECK(a.step == b.step);
  CHECK(a.seed == b.seed);
  CHECK(a.g == b.g);
  CHECK(a.lr == b.lr);
  CHECK(a.loss_plus == b.loss_plus);
  CHECK(a.loss_minus == b.loss_minus);
  CHECK(a.status == b.status);
}

// A journal at `path` with the records of steps 1..n.
void write_journal(const std::string& path, std::uint64_t n) {
  Journal journal(path);
  for (std::uint64_t step = 1; step <= n; ++step) journal.append(make_record(step), false);
  journal.sync();
}

// `run` must throw a one-line pocket::Error containing every one of `parts`.
void expect_error(const std::function<void()>& run, const std::vector<std::string>& parts) {
  std::string message;
  try {
    run();
  } catch (const pocket::Error& e) {
    message = e.what();
  }
  INFO("message: " << message);
  REQUIRE_MESSAGE(!message.empty(), "no pocket::Error thrown");
  CHECK(message.find('\n') == std::string::npos);
  for (const std::string& part : parts) {
    CHECK_MESSAGE(message.find(part) != std::string::npos, "missing \"" << part << "\"");
  }
}

}  // namespace

TEST_SUITE("zo-run") {
  TEST_CASE("crc32 matches zlib's check value and continues across calls") {
    const std::string text = "123456789";
    CHECK(crc32(text.data(), text.size()) == 0xCBF43926u);
    CHECK(crc32(text.data(), 0) == 0u);
    CHECK(crc32(text.data() + 4, 5, crc32(text.data(), 4)) == 0xCBF43926u);
  }

  TEST_CASE("journal: created with its header, records round-trip through reopen and read") {
    TempDir dir;
    const std::string path = dir.file("journal.bin");
    {
      Journal journal(path);
      CHECK(journal.records().empty());
      CHECK(journal.dropped_tail() == 0);
      CHECK(journal.path() == path);
      CHECK(read_bytes(path).size() == kHeader);
      CHECK(dir.names() == std::set<std::string>{"journal.bin"});  // no temporary file left
      JournalRecord special = make_record(1);
      special.loss_plus = std::numeric_limits<double>::infinity();
      special.loss_minus = std::nan("");
      special.status = StepStatus::kRejected;
      journal.append(special, true);
      for (std::uint64_t step = 2; step <= 10; ++step) journal.append(make_record(step), false);
      CHECK(journal.records().size() == 10);
    }
    const std::string bytes = read_bytes(path);
    CHECK(bytes.size() == kHeader + 10 * kRecord);
    CHECK(bytes.substr(0, 8) == "POCKETJ1");

    const std::vector<JournalRecord> read = read_journal(path);
    REQUIRE(read.size() == 10);
    CHECK(std::isinf(read[0].loss_plus));
    CHECK(std::isnan(read[0].loss_minus));
    CHECK(read[0].status == StepStatus::kRejected);
    for (std::uint64_t step = 2; step <= 10; ++step) check_equal(read[step - 1], make_record(step));

    Journal reopened(path);
    REQUIRE(reopened.records().size() == 10);
    CHECK(reopened.dropped_tail() == 0);
    reopened.append(make_record(11), true);
    CHECK(read_journal(path).size() == 11);
  }

  TEST_CASE("journal: the record layout is the one journal.h gives") {
    TempDir dir;
    const std::string path = dir.file("journal.bin");
    { Journal(path).append(make_record(7), true); }
    const std::string bytes = read_bytes(path);
    REQUIRE(bytes.size() == kHeader + kRecord);
    const auto u64_at = [&](std::size_t offset) {
      std::uint64_t v = 0;
      for (int b = 0; b < 8; ++b) {
        v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(bytes[offset + b])) << (8 * b);
      }
      return v;
    };
    CHECK(u64_at(8) == (1ull | (48ull << 32)));  // version 1, record size 48
    CHECK(u64_at(kHeader) == 7);
    CHECK(u64_at(kHeader + 8) == make_record(7).seed);
    const std::uint64_t status_crc = u64_at(kHeader + 40);
    CHECK((status_crc & 0xFFFFFFFFu) == 0);  // step 7: accepted
    CHECK((status_crc >> 32) == crc32(bytes.data() + kHeader, 44));
  }

  TEST_CASE("journal: a torn tail of every length is dropped, earlier records stay, append works") {
    TempDir dir;
    const std::string good_path = dir.file("good.bin");
    write_journal(good_path, 4);
    const std::string good = read_bytes(good_path);
    // The bytes of the record a crashed append was writing.
    const std::string next = [&] {
      const std::string path = dir.file("five.bin");
      write_journal(path, 5);
      return read_bytes(path).substr(kHeader + 4 * kRecord);
    }();
    for (std::size_t torn = 1; torn < kRecord; ++torn) {
      CAPTURE(torn);
      const std::string path = dir.file("torn.bin");
      write_bytes(path, good + next.substr(0, torn));
      {
        Journal journal(path);
        CHECK(journal.dropped_tail() == torn);
        REQUIRE(journal.records().size() == 4);
        for (std::uint64_t step = 1; step <= 4; ++step) {
          check_equal(journal.records()[step - 1], make_record(step));
        }
        CHECK(read_bytes(path) == good);
        journal.append(make_record(5), false);
      }
      const std::vector<JournalRecord> read = read_journal(path);
      REQUIRE(read.size() == 5);
      check_equal(read[4], make_record(5));
    }
  }

  TEST_CASE(
      "journal: a bit flipped in the last record drops it; in a middle record it is an error") {
    TempDir dir;
    const std::string path = dir.file("journal.bin");
    write_journal(path, 5);
    const std::string good = read_bytes(path);

    SUBCASE("last record") {
      for (const std::size_t byte : {0, 17, 43, 44, 47}) {
        CAPTURE(byte);
        std::string bytes = good;
        bytes[kHeader + 4 * kRecord + byte] ^= 0x10;
        write_bytes(path, bytes);
        Journal journal(path);
        CHECK(journal.dropped_tail() == kRecord);
        CHECK(journal.records().size() == 4);
        CHECK(read_bytes(path) == good.substr(0, kHeader + 4 * kRecord));
      }
    }
    SUBCASE("bad last record followed by a partial one: both are the torn tail") {
      std::string bytes = good + good.substr(kHeader, 20);
      bytes[kHeader + 4 * kRecord + 3] ^= 0x01;
      write_bytes(path, bytes);
      Journal journal(path);
      CHECK(journal.dropped_tail() == kRecord + 20);
      CHECK(journal.records().size() == 4);
    }
    SUBCASE("middle record") {
      std::string bytes = good;
      bytes[kHeader + 2 * kRecord + 5] ^= 0x01;
      write_bytes(path, bytes);
      expect_error([&] { Journal journal(path); }, {path, "record 2", "corrupt"});
      expect_error([&] { read_journal(path); }, {path, "record 2", "corrupt"});
      CHECK(read_bytes(path) == bytes);  // an error truncates nothing
    }
  }

  TEST_CASE("journal: a wrong header or steps out of order are errors naming the file") {
    TempDir dir;
    const std::string path = dir.file("journal.bin");
    write_journal(path, 3);
    const std::string good = read_bytes(path);

    std::string bytes = good;
    bytes[3] = 'X';
    write_bytes(path, bytes);
    expect_error([&] { Journal journal(path); }, {path, "not a pocket journal"});
    CHECK(read_bytes(path) == bytes);

    bytes = good;
    bytes[8] = 2;
    write_bytes(path, bytes);
    expect_error([&] { read_journal(path); }, {path, "version 2"});

    write_bytes(path, good.substr(0, 10));
    expect_error([&] { Journal journal(path); }, {path, "header"});

    // Records 1 and 2 swapped: each CRC is good, the order is not.
    bytes = good.substr(0, kHeader) + good.substr(kHeader + kRecord, kRecord) +
            good.substr(kHeader, kRecord) + good.substr(kHeader + 2 * kRecord);
    write_bytes(path, bytes);
    expect_error([&] { Journal journal(path); }, {path, "record 1", "steps must increase"});

    write_bytes(path, good);
    Journal journal(path);
    expect_error([&] { journal.append(make_record(3), false); }, {path, "steps must increase"});
    CHECK(read_bytes(path) == good);
  }

  TEST_CASE("journal: one writer at a time") {
    TempDir dir;
    const std::string path = dir.file("journal.bin");
    Journal journal(path);
    expect_error([&] { Journal second(path); }, {path, "in use"});
    CHECK(read_journal(path).empty());  // readers are not locked out
  }

  TEST_CASE("read_journal ignores a torn tail without modifying the file") {
    TempDir dir;
    const std::string path = dir.file("journal.bin");
    write_journal(path, 3);
    const std::string bytes = read_bytes(path) + std::string(30, '\x5A');
    write_bytes(path, bytes);
    const std::vector<JournalRecord> read = read_journal(path);
    REQUIRE(read.size() == 3);
    check_equal(read[2], make_record(3));
    CHECK(read_bytes(path) == bytes);
    expect_error([&] { read_journal(dir.file("absent.bin")); }, {dir.file("absent.bin")});
  }

}  // TEST_SUITE("zo-run")
