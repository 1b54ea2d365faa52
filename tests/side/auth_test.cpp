// Tests of src/side/auth*: HMAC-SHA256 against RFC 4231 test case 2, SHA-256 against FIPS 180-2's
// "abc" and the tests' own implementation, constant-time comparison, nonces, and the key file's
// errors (missing, too short, readable or writable by others). Without OpenSSL the crypto tests
// skip with a message and check the one-line error instead.
#include "side/auth.h"
#include "side/model_checksum.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "io/error.h"
#include "sha256.h"
#include "test_util.h"

using namespace pocket;

namespace {

// Writes `bytes` to `path` with permissions `mode`.
void write_key(const std::string& path, const std::string& bytes, mode_t mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

#ifdef POCKET_HAVE_OPENSSL
constexpr bool kHaveOpenssl = true;
#else
constexpr bool kHaveOpenssl = false;
#endif

}  // namespace

TEST_CASE("side auth: HMAC-SHA256 matches RFC 4231 test case 2") {
  if (!kHaveOpenssl) {
    MESSAGE("built without OpenSSL: checking the error instead");
    CHECK_THROWS_WITH_AS(hmac_sha256("Jefe", "x"),
                         "side: built without OpenSSL's libcrypto: side tuning needs it", Error);
    return;
  }
  CHECK(digest_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("side auth: SHA-256 of \"abc\" and of random data") {
  if (!kHaveOpenssl) {
    MESSAGE("built without OpenSSL: skipped");
    return;
  }
  CHECK(digest_hex(sha256("abc", 3)) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(digest_hex(sha256("", 0)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const auto data = test::random_floats(10007, 5);
  test::Sha256 reference;
  reference.update(data.data(), data.size() * sizeof(float));
  CHECK(digest_hex(sha256(data.data(), data.size() * sizeof(float))) == reference.hex());
}

TEST_CASE("side auth: digest_equal and random nonces") {
  if (!kHaveOpenssl) {
    MESSAGE("built without OpenSSL: skipped");
    return;
  }
  Digest a{}, b{};
  random_bytes(a.data(), a.size());
  random_bytes(b.data(), b.size());
  CHECK(a != b);  // 2^-256 chance of a false failure
  CHECK(digest_equal(a, a));
  CHECK_FALSE(digest_equal(a, b));
  Digest c = a;
  c[31] ^= 1;
  CHECK_FALSE(digest_equal(a, c));
}

TEST_CASE("side auth: key files") {
  test::TempDir tmp;
  const std::string path = tmp.file("side.key");

  write_key(path, "0123456789abcdef\n", 0600);
  CHECK(load_key_file(path) == "0123456789abcdef");
  write_key(path, "0123456789abcdef\n\n", 0600);  // only one newline is stripped
  CHECK(load_key_file(path) == "0123456789abcdef\n");
  write_key(tmp.file("read-only.key"), std::string("\x00\xFF binary key bytes", 19), 0400);
  CHECK(load_key_file(tmp.file("read-only.key")).size() == 19);

  CHECK_THROWS_WITH_AS(
      load_key_file(tmp.file("absent")),
      (tmp.file("absent") + ": cannot read key file: No such file or directory").c_str(), Error);
  write_key(path, "", 0600);
  CHECK_THROWS_WITH_AS(load_key_file(path),
                       (path + ": key too short (0 bytes, at least 16)").c_str(), Error);
  write_key(path, "0123456789abcde\n", 0600);
  CHECK_THROWS_WITH_AS(load_key_file(path),
                       (path + ": key too short (15 bytes, at least 16)").c_str(), Error);
  for (const mode_t mode : {0640, 0604, 0644}) {
    write_key(path, "0123456789abcdef", mode);
    CHECK_THROWS_WITH_AS(load_key_file(path),
                         (path + ": key file readable by others (chmod 600)").c_str(), Error);
  }
  for (const mode_t mode : {0620, 0602}) {
    write_key(path, "0123456789abcdef", mode);
    CHECK_THROWS_WITH_AS(load_key_file(path),
                         (path + ": key file writable by others (chmod 600)").c_str(), Error);
  }
}
