#pragma once
// Status of a state-store operation (STYLE habit 2), in the manner of
// rocksdb::Status: a code, one line of text, and whether the caller may
// retry. Nothing in storage/ throws. Dropping a Status is a compile error
// ([[nodiscard]]); ignoring one on purpose is PermitUncheckedError().
//
//  * retriable(): the same call may succeed later (busy, timed out, try
//    again).
//  * otherwise permanent for this store: an I/O error, corruption, an
//    unsupported format version, or a call made out of order.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace dangol::storage {

class [[nodiscard]] Status {
 public:
  enum class Code : std::uint8_t { kOk, kIoError, kCorruption, kNotSupported, kInvalidArgument, kBusy };

  Status() = default;  // ok
  static Status OK() { return Status(); }
  static Status IOError(std::string message) { return Status(Code::kIoError, std::move(message)); }
  static Status Corruption(std::string message) { return Status(Code::kCorruption, std::move(message)); }
  static Status NotSupported(std::string message) { return Status(Code::kNotSupported, std::move(message)); }
  static Status InvalidArgument(std::string message) { return Status(Code::kInvalidArgument, std::move(message)); }
  static Status Busy(std::string message) { return Status(Code::kBusy, std::move(message)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool retriable() const { return code_ == Code::kBusy; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsNotSupported() const { return code_ == Code::kNotSupported; }
  // One line, "<what was being done>: <why>". Empty when ok.
  const std::string& message() const { return message_; }
  std::string ToString() const { return ok() ? "OK" : message_; }
  // The explicit, greppable way to ignore a status.
  void PermitUncheckedError() const {}

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace dangol::storage
