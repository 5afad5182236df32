#include "services/kafka/status.h"

namespace dangol::kafka {

bool is_retriable_code(rd_kafka_resp_err_t code) {
  switch (code) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:  // metadata not known yet
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
      return true;
    default:
      return false;
  }
}

Status Status::FromCode(rd_kafka_resp_err_t code, std::string_view context) {
  Status s;
  if (code == RD_KAFKA_RESP_ERR_NO_ERROR) return s;
  s.code_ = code;
  s.retriable_ = is_retriable_code(code);
  s.fatal_ = code == RD_KAFKA_RESP_ERR__FATAL;
  s.message_ = std::string(context) + ": " + rd_kafka_err2str(code);
  return s;
}

Status Status::FromError(rd_kafka_error_t* error, std::string_view context) {
  Status s;
  if (error == nullptr) return s;
  s.code_ = rd_kafka_error_code(error);
  s.retriable_ = rd_kafka_error_is_retriable(error) || is_retriable_code(s.code_);
  s.fatal_ = rd_kafka_error_is_fatal(error);
  s.message_ = std::string(context) + ": " + rd_kafka_error_string(error);
  rd_kafka_error_destroy(error);
  return s;
}

Status Status::Invalid(std::string message) {
  Status s;
  s.code_ = RD_KAFKA_RESP_ERR__INVALID_ARG;
  s.message_ = std::move(message);
  return s;
}

}  // namespace dangol::kafka
