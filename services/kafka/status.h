#pragma once
// Status of a Kafka operation (STYLE habit 2): every librdkafka error becomes
// a returned value with its code, one line of text, and what the caller may
// do about it. Nothing here throws.
//
//  * retriable(): the same operation may succeed later (broker down, timeout,
//    leader moving, local queue full). librdkafka says so for
//    rd_kafka_error_t; for bare error codes we classify them below.
//  * fatal(): the client instance is unusable (e.g. the idempotent producer
//    lost its sequence guarantees); destroy it and create a new one.
//  * neither: permanent for this request (unknown topic, record too large,
//    bad configuration).

#include <librdkafka/rdkafka.h>

#include <string>
#include <string_view>
#include <utility>

namespace dangol::kafka {

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  static Status Ok() { return Status(); }
  // A bare librdkafka error code; `context` says what was being done.
  static Status FromCode(rd_kafka_resp_err_t code, std::string_view context);
  // Takes ownership of `error` (may be null: ok) and keeps its
  // retriable/fatal verdict.
  static Status FromError(rd_kafka_error_t* error, std::string_view context);
  // An error that did not come from librdkafka (e.g. invalid input).
  static Status Invalid(std::string message);

  bool ok() const { return code_ == RD_KAFKA_RESP_ERR_NO_ERROR && message_.empty(); }
  bool retriable() const { return retriable_; }
  bool fatal() const { return fatal_; }
  rd_kafka_resp_err_t code() const { return code_; }
  // One line: "<context>: <librdkafka text>". Empty when ok.
  const std::string& message() const { return message_; }
  // The same status with " (<detail>)" appended to its message.
  Status WithDetail(std::string_view detail) const {
    Status s = *this;
    if (!s.ok() && !detail.empty()) s.message_ += " (" + std::string(detail) + ")";
    return s;
  }
  // Explicit, greppable way to ignore a status (as RocksDB's
  // PermitUncheckedError).
  void IgnoreError() const {}

 private:
  rd_kafka_resp_err_t code_ = RD_KAFKA_RESP_ERR_NO_ERROR;
  bool retriable_ = false;
  bool fatal_ = false;
  std::string message_;
};

// Whether a bare error code means "try again later" (transport, timeouts,
// leadership changes, throttling, a full local queue).
bool is_retriable_code(rd_kafka_resp_err_t code);

}  // namespace dangol::kafka
