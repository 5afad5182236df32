#include "services/campaignctl/line_io.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace dangol::ctl {

LineReader::LineReader(int fd, std::size_t max_line_bytes) : fd_(fd), max_line_bytes_(max_line_bytes) {
  buffer_.resize(1 << 20);
}

bool LineReader::fill() {
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
  for (;;) {
    ssize_t n = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
    if (n > 0) {
      end_ += static_cast<std::size_t>(n);
      return true;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno == EINTR) continue;
    error_ = std::strerror(errno);
    eof_ = true;
    return false;
  }
}

bool LineReader::next(std::string_view* line) {
  too_long_ = false;
  // Bytes of the current line already searched for '\n'; relative to begin_
  // because fill() moves the unread bytes to the front of the buffer.
  std::size_t searched = 0;
  for (;;) {
    const char* start = buffer_.data() + begin_;
    const char* nl = static_cast<const char*>(std::memchr(start + searched, '\n', end_ - begin_ - searched));
    if (nl != nullptr) {
      std::size_t len = static_cast<std::size_t>(nl - start);
      *line = std::string_view(start, len);
      begin_ += len + 1;
      break;
    }
    searched = end_ - begin_;
    if (searched >= max_line_bytes_) return skip_long_line(line);
    if (eof_ || !fill()) {
      if (begin_ == end_) return false;
      *line = std::string_view(buffer_.data() + begin_, end_ - begin_);
      begin_ = end_;
      break;
    }
  }
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  ++line_number_;
  return true;
}

// Keeps the first max_line_bytes_ of an over-long line and discards the rest
// up to its '\n', so a hostile file cannot exhaust memory.
bool LineReader::skip_long_line(std::string_view* line) {
  long_line_.assign(buffer_.data() + begin_, max_line_bytes_);
  for (;;) {
    begin_ = end_ = 0;
    if (!fill()) break;
    const char* nl = static_cast<const char*>(std::memchr(buffer_.data(), '\n', end_));
    if (nl != nullptr) {
      begin_ = static_cast<std::size_t>(nl - buffer_.data()) + 1;
      break;
    }
  }
  too_long_ = true;
  *line = long_line_;
  ++line_number_;
  return true;
}

bool BlockWriter::flush() {
  std::size_t done = 0;
  while (!failed_ && done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failed_ = true;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  buffer_.clear();
  return !failed_;
}

int open_input(const std::string& path, std::string* error) {
  if (path.empty() || path == "-") return STDIN_FILENO;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) *error = path + ": " + std::strerror(errno);
  return fd;
}

int open_output(const std::string& path, std::string* error) {
  if (path.empty() || path == "-") return STDOUT_FILENO;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) *error = path + ": " + std::strerror(errno);
  return fd;
}

}  // namespace dangol::ctl
