#pragma once
// The file descriptors campaignd may open (RLIMIT_NOFILE). Every HTTP
// connection takes one; out of them, accept() fails (server.cc backs off)
// and, worse, RocksDB cannot open a table file or librdkafka a socket. So
// campaignd raises its soft limit to the hard one at start and refuses to
// start when --http-max-connections would not leave room for the rest.

#include <cstddef>
#include <cstdint>
#include <string>

namespace dangol::http {

// Descriptors kept for everything but HTTP connections: RocksDB's table,
// log and lock files (it keeps every table file open: max_open_files is
// left at its default, -1) and
// librdkafka's sockets and wake-up pipes (a few per broker), plus the
// listening socket, epoll, the log and slack for compactions opening new
// files. 256 is several times what a shard's RocksDB and three brokers
// use; a wrong guess errs towards refusing too many connections.
inline constexpr std::uint64_t kReservedDescriptors = 256;

struct FdLimit {
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
};

// Whether `limit.soft` leaves room for http_max_connections and the
// reserve. Pure, for tests; on false, *error says why, naming the numbers.
bool fd_limit_fits(std::size_t http_max_connections, FdLimit limit, std::string* error);

// Raises the soft RLIMIT_NOFILE to the hard limit, then checks it with
// fd_limit_fits. *limit gets the limits in force afterwards. A failed raise
// is not an error by itself: the check decides.
bool raise_fd_limit(std::size_t http_max_connections, FdLimit* limit, std::string* error);

}  // namespace dangol::http
