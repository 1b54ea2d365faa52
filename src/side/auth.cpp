#include "side/auth.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>

#include "io/error.h"

#ifdef POCKET_HAVE_OPENSSL
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#endif

namespace pocket {

std::string load_key_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw Error(path, std::string("cannot read key file: ") + std::strerror(errno));
  }
  if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    throw Error(path, "key file readable by others (chmod 600)");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw Error(path, "key file writable by others (chmod 600)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, std::string("cannot read key file: ") + std::strerror(errno));
  std::string key(std::istreambuf_iterator<char>(in), {});
  if (in.bad()) throw Error(path, "cannot read key file");
  if (!key.empty() && key.back() == '\n') key.pop_back();
  if (key.size() < kMinKeyBytes) {
    throw Error(path, "key too short (" + std::to_string(key.size()) + " bytes, at least " +
                          std::to_string(kMinKeyBytes) + ")");
  }
  return key;
}

#ifdef POCKET_HAVE_OPENSSL

void random_bytes(void* out, std::size_t n) {
  if (n > static_cast<std::size_t>(INT32_MAX) ||
      RAND_bytes(static_cast<unsigned char*>(out), static_cast<int>(n)) != 1) {
    throw Error("side", "RAND_bytes failed: no secure random bytes");
  }
}

Digest hmac_sha256(std::string_view key, std::string_view data) {
  Digest mac{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(),
           &len) == nullptr ||
      len != mac.size()) {
    throw Error("side", "HMAC-SHA256 failed");
  }
  return mac;
}

Digest sha256(const void* data, std::size_t n) {
  Digest hash{};
  unsigned int len = 0;
  if (EVP_Digest(data, n, hash.data(), &len, EVP_sha256(), nullptr) != 1 || len != hash.size()) {
    throw Error("side", "SHA-256 failed");
  }
  return hash;
}

bool digest_equal(const Digest& a, const Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

#else

namespace {
[[noreturn]] void no_openssl() {
  throw Error("side", "built without OpenSSL's libcrypto: side tuning needs it");
}
}  // namespace

void random_bytes(void*, std::size_t) { no_openssl(); }
Digest hmac_sha256(std::string_view, std::string_view) { no_openssl(); }
Digest sha256(const void*, std::size_t) { no_openssl(); }
bool digest_equal(const Digest&, const Digest&) { no_openssl(); }

#endif

}  // namespace pocket
