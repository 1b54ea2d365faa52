#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/zrng.h"
#include "test_util.h"

using namespace pocket;

TEST_CASE("z generator is bit-exact against shared/testvectors/z.json") {
  const std::string dir = test::testvectors_dir();
  if (dir.empty()) {
    MESSAGE("skipped: ../shared/testvectors not found (set POCKET_TESTVECTORS)");
    return;
  }
  std::ifstream in(dir + "/z.json");
  REQUIRE(in.good());
  const auto doc = nlohmann::json::parse(in);
  REQUIRE(doc["cases"].size() >= 4);
  for (const auto& c : doc["cases"]) {
    const std::uint64_t seed = std::stoull(c["seed"].get<std::string>());
    const std::string name = c["name"];
    INFO("case " << name << " seed " << seed);
    const std::uint64_t pid = fnv1a64(name);
    CHECK(pid == std::stoull(c["fnv1a64"].get<std::string>(), nullptr, 16));
    const std::uint64_t key = z_key(seed, pid);
    CHECK(key == std::stoull(c["key"].get<std::string>(), nullptr, 16));
    CHECK(z_word(key, 0) == std::stoull(c["word0"].get<std::string>(), nullptr, 16));
    const std::string z = c["z"];
    for (std::size_t i = 0; i < z.size(); ++i) {
      REQUIRE(z_sign(key, i) == (z[i] == '+' ? 1.0f : -1.0f));
    }
  }
}

TEST_CASE("stochastic-rounding stream is independent of z and covers both word halves") {
  const std::uint64_t pid = fnv1a64("w");
  const std::uint64_t zk = z_key(5, pid), sk = sr_key(5, pid);
  CHECK(zk != sk);
  CHECK(sr_bits(sk, 0) == static_cast<std::uint32_t>(z_word(sk, 0)));
  CHECK(sr_bits(sk, 1) == static_cast<std::uint32_t>(z_word(sk, 0) >> 32));
  CHECK(sr_bits(sk, 2) == static_cast<std::uint32_t>(z_word(sk, 1)));
}
