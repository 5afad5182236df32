#pragma once
// Buffered line input and output on file descriptors. iostreams cost more
// than the engine itself at a million lines per second, so the offline tools
// read and write in large blocks.

#include <cstdint>
#include <string>
#include <string_view>

namespace dangol::ctl {

// Reads '\n'-terminated lines (a final line without '\n' counts); strips a
// trailing '\r'. Lines longer than max_line_bytes are returned truncated with
// `too_long` set, so a hostile file cannot exhaust memory.
class LineReader {
 public:
  explicit LineReader(int fd, std::size_t max_line_bytes = 16 << 20);
  // False at end of input. `error()` tells whether the end was a read error.
  bool next(std::string_view* line);
  bool too_long() const { return too_long_; }
  std::int64_t line_number() const { return line_number_; }
  const std::string& error() const { return error_; }

 private:
  bool fill();
  bool skip_long_line(std::string_view* line);
  int fd_;
  std::size_t max_line_bytes_;
  std::string buffer_;
  std::size_t begin_ = 0, end_ = 0;
  bool eof_ = false, too_long_ = false;
  std::int64_t line_number_ = 0;
  std::string error_;
  std::string long_line_;
};

// Collects output and writes it in large blocks. flush() reports failure
// (e.g. a closed pipe) instead of losing it silently.
class BlockWriter {
 public:
  explicit BlockWriter(int fd) : fd_(fd) { buffer_.reserve(kBlock * 2); }
  ~BlockWriter() { (void)flush(); }
  std::string& buffer() { return buffer_; }
  // Call after appending; writes out when a block is full.
  bool maybe_flush() { return buffer_.size() < kBlock || flush(); }
  bool flush();

 private:
  static constexpr std::size_t kBlock = 1 << 20;
  int fd_;
  std::string buffer_;
  bool failed_ = false;
};

// Opens a file for reading or writing; "-" or empty means stdin/stdout.
// Returns -1 and sets *error on failure.
int open_input(const std::string& path, std::string* error);
int open_output(const std::string& path, std::string* error);

}  // namespace dangol::ctl
