// Tests of src/side/socket*: HOST:PORT parsing and its one-line error, loopback connections over
// IPv4 and IPv6 (where the machine has it), accept timing out, a refused connection as a one-line
// NetError, a vanished peer as a NetError (never SIGPIPE), and a write deadline.
#include "side/socket.h"

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "io/error.h"
#include "socket_pair.h"

using namespace pocket;

namespace {

constexpr int kTimeoutMs = 2000;

// Sends "ping" from a connected client, answers "pong" from the accepted side.
void ping_pong(Listener& listener, const std::string& host) {
  std::thread client([&] {
    try {
      const bool v6 = host.find(':') != std::string::npos;
      const std::string address =
          (v6 ? "[" + host + "]" : host) + ":" + std::to_string(listener.port());
      Socket socket = connect_tcp(address, kTimeoutMs);
      socket.write_all("ping", 4, kTimeoutMs);
      char reply[4];
      socket.read_exact(reply, 4, kTimeoutMs);
      CHECK(std::string(reply, 4) == "pong");
    } catch (const std::exception& e) {
      FAIL_CHECK(std::string(e.what()));
    }
  });
  std::optional<Socket> server = listener.accept(kTimeoutMs);
  if (server) {
    char got[4];
    server->read_exact(got, 4, kTimeoutMs);
    CHECK(std::string(got, 4) == "ping");
    server->write_all("pong", 4, kTimeoutMs);
  }
  client.join();
  REQUIRE(server.has_value());
  CHECK(server->peer().find(host == "::1" ? "[::1]:" : "127.0.0.1:") == 0);
}

}  // namespace

TEST_CASE("side socket: HOST:PORT forms and the one-line error") {
  const HostPort v4 = parse_host_port("10.0.0.2:7070", "--server");
  CHECK(v4.host == "10.0.0.2");
  CHECK(v4.port == 7070);
  const HostPort name = parse_host_port("gpu-box.local:0", "--server");
  CHECK(name.host == "gpu-box.local");
  CHECK(name.port == 0);
  const HostPort v6 = parse_host_port("[fe80::1]:65535", "--server");
  CHECK(v6.host == "fe80::1");
  CHECK(v6.port == 65535);
  for (const char* bad : {"x", "", ":80", "host:", "host:65536", "host:8o", "host:-1", "::1:80",
                          "[::1]80", "[::1]", "[]:80", "host:123456"}) {
    CHECK_THROWS_WITH_AS(parse_host_port(bad, "--server"),
                         ("--server: '" + std::string(bad) + "' is not HOST:PORT").c_str(), Error);
  }
}

TEST_CASE("side socket: loopback connections over IPv4 and IPv6") {
  Listener v4 = listen_tcp("127.0.0.1:0");
  CHECK(v4.port() != 0);
  ping_pong(v4, "127.0.0.1");
  std::optional<Listener> v6;
  try {
    v6 = listen_tcp("[::1]:0");
  } catch (const NetError& e) {
    MESSAGE("no IPv6 loopback here, skipping its half: " << e.what());
  }
  if (v6) ping_pong(*v6, "::1");
}

TEST_CASE("side socket: accept returns nothing when no one connects in time") {
  Listener listener = listen_tcp("127.0.0.1:0");
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(listener.accept(100).has_value());
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(95));
}

TEST_CASE("side socket: connecting to a closed port is a one-line NetError") {
  std::uint16_t port = 0;
  {
    Listener listener = listen_tcp("127.0.0.1:0");
    port = listener.port();
  }
  const std::string address = "127.0.0.1:" + std::to_string(port);
  try {
    connect_tcp(address, kTimeoutMs);
    FAIL("connected to a closed port");
  } catch (const NetError& e) {
    const std::string what = e.what();
    CHECK(what.find(address + ": cannot connect: ") == 0);
    CHECK(what.find('\n') == std::string::npos);
    CHECK_FALSE(e.timed_out);
  }
  CHECK_THROWS_WITH_AS(connect_tcp("nohost", kTimeoutMs), "address: 'nohost' is not HOST:PORT",
                       Error);
}

TEST_CASE("side socket: writing to a vanished peer is a NetError, not SIGPIPE") {
  auto [a, b] = test::socket_pair();
  b.close();
  const std::string data(1 << 16, 'd');
  CHECK_THROWS_WITH_AS(a.write_all(data.data(), data.size(), kTimeoutMs),
                       doctest::Contains("pair-a: send: "), NetError);
}

TEST_CASE("side socket: a peer that never reads makes a write time out") {
  auto [a, b] = test::socket_pair();
  const std::string data(16 << 20, 'w');  // more than any socket buffer
  try {
    a.write_all(data.data(), data.size(), 100);
    FAIL("16 MiB fit a socket buffer");
  } catch (const NetError& e) {
    CHECK(e.timed_out);
    CHECK(std::string(e.what()).find("pair-a: timed out after 100 ms writing 16777216 bytes") == 0);
  }
}

TEST_CASE("side socket: a closed socket refuses reads and writes") {
  auto [a, b] = test::socket_pair();
  Socket moved = std::move(a);
  CHECK_FALSE(a.is_open());
  CHECK(moved.is_open());
  moved.close();
  char c = 0;
  CHECK_THROWS_AS(moved.read_exact(&c, 1, 10), NetError);
  CHECK_THROWS_AS(moved.write_all(&c, 1, 10), NetError);
}
