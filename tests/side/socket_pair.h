// Two connected Sockets over socketpair(2), for tests of frames and sockets that need no TCP.
#pragma once

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <utility>

#include "side/socket.h"

namespace pocket::test {

inline std::pair<Socket, Socket> socket_pair() {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  return {Socket(fds[0], "pair-a"), Socket(fds[1], "pair-b")};
}

}  // namespace pocket::test
