// The cryptography of the side-tuning handshake (docs/side-protocol.md, "Handshake"): the shared
// key file, nonces, HMAC-SHA256 macs compared in constant time, and SHA-256 for checksums. Backed
// by OpenSSL's libcrypto; a build without it (POCKET_HAVE_OPENSSL undefined) throws from every
// function here but load_key_file.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pocket {

using Digest = std::array<std::uint8_t, 32>;  // a SHA-256 hash or an HMAC-SHA256 mac

constexpr std::size_t kMinKeyBytes = 16;

// The key shared by a device and its server: the file's bytes, one trailing newline stripped.
// pocket::Error when the file is missing, shorter than kMinKeyBytes, or readable or writable by
// group or others (anyone who can read it can pose as either side).
std::string load_key_file(const std::string& path);

// `n` bytes from the system's cryptographically secure generator.
void random_bytes(void* out, std::size_t n);

Digest hmac_sha256(std::string_view key, std::string_view data);
Digest sha256(const void* data, std::size_t n);

// a == b in time independent of where they differ (a mac compared byte by byte with early exit
// tells an attacker how many leading bytes of a forgery are right).
bool digest_equal(const Digest& a, const Digest& b);

}  // namespace pocket
