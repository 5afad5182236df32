#include "services/http/fd_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace dangol::http {
namespace {

std::string describe(std::uint64_t limit) {
  return limit == static_cast<std::uint64_t>(RLIM_INFINITY) ? "unlimited" : std::to_string(limit);
}

}  // namespace

bool fd_limit_fits(std::size_t http_max_connections, FdLimit limit, std::string* error) {
  const std::uint64_t needed = http_max_connections + kReservedDescriptors;
  if (needed <= limit.soft) return true;
  const std::uint64_t most = limit.soft > kReservedDescriptors ? limit.soft - kReservedDescriptors : 0;
  *error = std::to_string(http_max_connections) + " HTTP connections (--http-max-connections) and " +
           std::to_string(kReservedDescriptors) + " file descriptors kept for RocksDB and librdkafka need " +
           std::to_string(needed) + " descriptors, but the limit (RLIMIT_NOFILE) is " + describe(limit.soft) +
           " (hard limit " + describe(limit.hard) + "): ";
  if (most > 0) *error += "give --http-max-connections " + std::to_string(most) + " or less, or ";
  *error += "raise the hard limit (ulimit -Hn; LimitNOFILE= in systemd)";
  return false;
}

bool raise_fd_limit(std::size_t http_max_connections, FdLimit* limit, std::string* error) {
  rlimit current{};
  if (getrlimit(RLIMIT_NOFILE, &current) != 0) {
    *error = std::string("cannot read the file descriptor limit (RLIMIT_NOFILE): ") + std::strerror(errno);
    return false;
  }
  if (current.rlim_cur < current.rlim_max) {
    rlimit raised = current;
    raised.rlim_cur = current.rlim_max;
    // Linux refuses an unlimited soft limit for descriptors (EPERM above
    // fs.nr_open); the check below then judges the limit left as it was.
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) current = raised;
  }
  limit->soft = current.rlim_cur;
  limit->hard = current.rlim_max;
  return fd_limit_fits(http_max_connections, *limit, error);
}

}  // namespace dangol::http
