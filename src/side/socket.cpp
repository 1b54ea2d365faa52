#include "side/socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

namespace pocket {

namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text(int err) { return std::strerror(err); }

Clock::time_point deadline_after(int timeout_ms) {
  return Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
}

// Milliseconds left until `deadline`, rounded up (poll's unit); 0 once it has passed.
int ms_left(Clock::time_point deadline) {
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

// Waits until `fd` is ready for `events` or the deadline passes (false). Readiness includes
// errors and hang-ups: the next recv/send/getsockopt reports them.
bool wait_ready(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const int left = ms_left(deadline);
    if (left == 0) return false;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, left);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return true;  // let the caller's call report the error
  }
}

void set_nodelay(int fd) {
  // Handshake frames are small request/response pairs: Nagle's delay would add a round trip each.
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

struct AddrInfoList {
  addrinfo* head = nullptr;
  ~AddrInfoList() {
    if (head) ::freeaddrinfo(head);
  }
};

void resolve(const HostPort& hp, bool passive, const std::string& where, AddrInfoList& out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  const std::string port = std::to_string(hp.port);
  const int rc = ::getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &out.head);
  if (rc != 0) {
    throw NetError(where, "cannot resolve '" + hp.host + "': " + ::gai_strerror(rc));
  }
}

std::string numeric_name(const sockaddr* addr, socklen_t len) {
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  if (::getnameinfo(addr, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  const bool v6 = addr->sa_family == AF_INET6;
  return (v6 ? "[" : "") + std::string(host) + (v6 ? "]:" : ":") + serv;
}

// One connection attempt; returns the connected descriptor or -1 with `err` set (ETIMEDOUT when
// the deadline passed).
int try_connect(const addrinfo& ai, Clock::time_point deadline, int& err) {
  const int fd =
      ::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol);
  if (fd < 0) {
    err = errno;
    return -1;
  }
  if (::connect(fd, ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      err = errno;
      ::close(fd);
      return -1;
    }
    if (!wait_ready(fd, POLLOUT, deadline)) {
      err = ETIMEDOUT;
      ::close(fd);
      return -1;
    }
    socklen_t len = sizeof(err);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      ::close(fd);
      return -1;
    }
  }
  return fd;
}

}  // namespace

HostPort parse_host_port(std::string_view text, const std::string& where) {
  const auto bad = [&] { return Error(where, "'" + std::string(text) + "' is not HOST:PORT"); };
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      throw bad();
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) throw bad();
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) throw bad();  // IPv6 needs its brackets
  }
  if (host.empty() || port.empty() || port.size() > 5) throw bad();
  std::uint32_t value = 0;
  for (const char c : port) {
    if (c < '0' || c > '9') throw bad();
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value > 65535) throw bad();
  return HostPort{std::string(host), static_cast<std::uint16_t>(value)};
}

Socket::Socket(int fd, std::string peer) : fd_(fd), peer_(std::move(peer)) {
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw NetError(peer_, "cannot make the socket non-blocking: " + errno_text(err));
  }
}

Socket::~Socket() { close(); }

Socket::Socket(Socket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), peer_(std::move(other.peer_)) {}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    peer_ = std::move(other.peer_);
  }
  return *this;
}

void Socket::read_exact(void* out, std::size_t n, int timeout_ms) {
  if (fd_ < 0) throw NetError(peer_, "read on a closed socket");
  auto* bytes = static_cast<std::uint8_t*>(out);
  const auto deadline = deadline_after(timeout_ms);
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(fd_, bytes + got, n - got, 0);
    if (r > 0) {
      got += static_cast<std::size_t>(r);
      continue;
    }
    if (r == 0) {
      throw NetError(peer_, "connection closed after " + std::to_string(got) + " of " +
                                std::to_string(n) + " bytes");
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      throw NetError(peer_, "recv: " + errno_text(errno));
    if (!wait_ready(fd_, POLLIN, deadline)) {
      throw NetError(peer_,
                     "timed out after " + std::to_string(timeout_ms) + " ms reading " +
                         std::to_string(n) + " bytes (got " + std::to_string(got) + ")",
                     true);
    }
  }
}

void Socket::write_all(const void* data, std::size_t n, int timeout_ms) {
  if (fd_ < 0) throw NetError(peer_, "write on a closed socket");
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  const auto deadline = deadline_after(timeout_ms);
  std::size_t sent = 0;
  while (sent < n) {
    const ssize_t r = ::send(fd_, bytes + sent, n - sent, MSG_NOSIGNAL);
    if (r >= 0) {
      sent += static_cast<std::size_t>(r);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      throw NetError(peer_, "send: " + errno_text(errno));
    if (!wait_ready(fd_, POLLOUT, deadline)) {
      throw NetError(peer_,
                     "timed out after " + std::to_string(timeout_ms) + " ms writing " +
                         std::to_string(n) + " bytes (sent " + std::to_string(sent) + ")",
                     true);
    }
  }
}

void Socket::shutdown_both() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

void Socket::close() {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

Socket connect_tcp(std::string_view host_port, int timeout_ms) {
  const std::string where(host_port);
  const HostPort hp = parse_host_port(host_port, "address");
  AddrInfoList addrs;
  resolve(hp, false, where, addrs);
  const auto deadline = deadline_after(timeout_ms);
  int err = 0;
  for (const addrinfo* ai = addrs.head; ai != nullptr; ai = ai->ai_next) {
    const int fd = try_connect(*ai, deadline, err);
    if (fd >= 0) {
      set_nodelay(fd);
      return Socket(fd, where);
    }
    if (err == ETIMEDOUT) break;
  }
  if (err == ETIMEDOUT) {
    throw NetError(where, "cannot connect: timed out after " + std::to_string(timeout_ms) + " ms",
                   true);
  }
  throw NetError(where, "cannot connect: " + errno_text(err));
}

Listener::~Listener() { close(); }

Listener::Listener(Listener&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), port_(other.port_), address_(std::move(other.address_)) {}

Listener& Listener::operator=(Listener&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    port_ = other.port_;
    address_ = std::move(other.address_);
  }
  return *this;
}

std::optional<Socket> Listener::accept(int timeout_ms) {
  if (fd_ < 0) throw NetError(address_, "accept on a closed listener");
  pollfd p{fd_, POLLIN, 0};
  const int ready = ::poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);
  if (ready == 0 || (ready < 0 && errno == EINTR)) return std::nullopt;
  if (ready < 0) throw NetError(address_, "poll: " + errno_text(errno));
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  const int fd =
      ::accept4(fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    // The connection went away between poll and accept, or a signal came: nothing to serve.
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED ||
        errno == EPROTO) {
      return std::nullopt;
    }
    throw NetError(address_, "accept: " + errno_text(errno));
  }
  set_nodelay(fd);
  return Socket(fd, numeric_name(reinterpret_cast<const sockaddr*>(&addr), len));
}

void Listener::close() {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

Listener listen_tcp(std::string_view host_port) {
  const std::string where(host_port);
  const HostPort hp = parse_host_port(host_port, "address");
  AddrInfoList addrs;
  resolve(hp, true, where, addrs);
  int err = 0;
  for (const addrinfo* ai = addrs.head; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_storage bound{};
    socklen_t len = sizeof(bound);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 16) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
      err = errno;
      ::close(fd);
      continue;
    }
    Listener listener;
    listener.fd_ = fd;
    listener.port_ =
        ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port
                                          : reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
    listener.address_ = numeric_name(reinterpret_cast<const sockaddr*>(&bound), len);
    return listener;
  }
  throw NetError(where, "cannot listen: " + errno_text(err));
}

}  // namespace pocket
