// TCP for the side-tuning protocol: a move-only socket whose reads and writes each run against a
// deadline (a silent or hostile peer costs at most the timeout, never a hung thread), and a
// listener whose accept() times out so a server loop can check its stop flag. IPv4 and IPv6.
// SIGPIPE is never raised (send with MSG_NOSIGNAL): a peer that went away is a NetError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "io/error.h"

namespace pocket {

// Network trouble (refused, reset, closed early, timed out): the caller may reconnect. A peer
// that breaks the protocol is a ProtocolError (side/wire.h) instead.
class NetError : public Error {
 public:
  NetError(const std::string& where, const std::string& what, bool timed_out = false)
      : Error(where, what), timed_out(timed_out) {}
  bool timed_out;  // the deadline passed (as opposed to an error from the system or the peer)
};

struct HostPort {
  std::string host;  // a name, an IPv4 address, or an IPv6 address without its brackets
  std::uint16_t port = 0;
};

// "HOST:PORT" or "[IPV6]:PORT" (port 0..65535). `where` names the source in the error, e.g.
// "--server: 'x' is not HOST:PORT" (a pocket::Error).
HostPort parse_host_port(std::string_view text, const std::string& where);

class Socket {
 public:
  Socket() = default;
  // Takes ownership of a connected stream socket and makes it non-blocking; `peer` names the
  // other end in errors.
  Socket(int fd, std::string peer);
  ~Socket();
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  bool is_open() const { return fd_ >= 0; }
  // The descriptor, e.g. for shutdown(2) from another thread to wake a blocked read.
  int fd() const { return fd_; }
  const std::string& peer() const { return peer_; }

  // Exactly `n` bytes within `timeout_ms` for the whole read. NetError when the peer closes
  // first ("connection closed after k of n bytes"), on the deadline (timed_out), or on an error.
  void read_exact(void* out, std::size_t n, int timeout_ms);
  // All `n` bytes handed to the kernel within `timeout_ms`; NetError otherwise.
  void write_all(const void* data, std::size_t n, int timeout_ms);
  // Ends both directions (the peer's reads see EOF) without releasing the descriptor.
  void shutdown_both();
  void close();

 private:
  int fd_ = -1;
  std::string peer_;
};

// Connects to "HOST:PORT" (every address getaddrinfo gives, in order) within `timeout_ms`.
Socket connect_tcp(std::string_view host_port, int timeout_ms);

class Listener {
 public:
  Listener() = default;
  ~Listener();
  Listener(Listener&& other) noexcept;
  Listener& operator=(Listener&& other) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // The bound port (the ephemeral one when listen_tcp was given port 0).
  std::uint16_t port() const { return port_; }
  // The next connection, or nullopt when none came within `timeout_ms` (or a signal or an
  // aborted handshake interrupted the wait).
  std::optional<Socket> accept(int timeout_ms);
  void close();

 private:
  friend Listener listen_tcp(std::string_view host_port);
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::string address_;
};

// Listens on "HOST:PORT" (SO_REUSEADDR; "0.0.0.0:P" or "[::]:P" for every interface; port 0
// picks a free one).
Listener listen_tcp(std::string_view host_port);

}  // namespace pocket
