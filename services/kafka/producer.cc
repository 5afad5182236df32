#include "services/kafka/producer.h"

#include <array>
#include <numeric>
#include <optional>
#include <vector>

namespace dangol::kafka {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTagShift = 60;
constexpr std::uint64_t kIdMask = (std::uint64_t{1} << kTagShift) - 1;

void* pack_opaque(std::uint8_t tag, std::uint64_t id) {
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(std::uint64_t{tag} << kTagShift | (id & kIdMask)));
}

}  // namespace

Status Producer::create(ProducerOptions options, std::unique_ptr<Producer>* out) {
  if (options.bootstrap_servers.empty()) return Status::Invalid("no bootstrap servers given");
  if (options.message_timeout_ms <= 0) return Status::Invalid("message timeout must be positive");
  if (options.max_queued_records <= 0) return Status::Invalid("queue bound must be positive");
  std::unique_ptr<Producer> p(new Producer(std::move(options)));
  const ProducerOptions& o = p->options_;
  Settings settings = {
      {"bootstrap.servers", o.bootstrap_servers},
      {"client.id", "dangol"},
      {"enable.idempotence", "true"},  // implies acks=all, bounded in-flight
      {"partitioner", "murmur2_random"},  // the Java client's: see routing.h
      {"message.timeout.ms", std::to_string(o.message_timeout_ms)},
      {"queue.buffering.max.messages", std::to_string(o.max_queued_records)},
      {"linger.ms", std::to_string(o.linger_ms)},
      {"socket.connection.setup.timeout.ms", std::to_string(std::max(1000, o.message_timeout_ms))},
  };
  settings.insert(settings.end(), o.config.begin(), o.config.end());
  ConfPtr conf;
  if (Status s = make_conf(settings, &conf); !s.ok()) return s;
  rd_kafka_conf_set_opaque(conf.get(), p.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Producer::on_delivery_report);
  rd_kafka_conf_set_error_cb(conf.get(), &Producer::on_error);
  rd_kafka_conf_set_log_cb(conf.get(), &Producer::on_log);
  if (Status s = new_handle(RD_KAFKA_PRODUCER, std::move(conf), &p->handle_); !s.ok()) return s;
  *out = std::move(p);
  return Status::Ok();
}

void Producer::on_log(const rd_kafka_t* rk, int level, const char* facility, const char* line) {
  auto* self = static_cast<Producer*>(rd_kafka_opaque(rk));
  if (self == nullptr || !self->options_.log) return;
  self->options_.log(level, std::string(facility) + ": " + line);
}

void Producer::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  self->last_client_error_ = reason;
  if (err != RD_KAFKA_RESP_ERR__FATAL) return;  // librdkafka recovers from the rest by itself
  char text[512];
  rd_kafka_resp_err_t cause = rd_kafka_fatal_error(rk, text, sizeof text);
  Status s = Status::FromCode(RD_KAFKA_RESP_ERR__FATAL, std::string("fatal producer error (") +
                                                            rd_kafka_err2name(cause) + "): " + text);
  self->fatal_error_ = s;
  self->record_error(s);
}

void Producer::on_delivery_report(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  const auto packed = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(m->_private));
  const auto tag = static_cast<std::uint8_t>(packed >> kTagShift);
  Status status;
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++self->failed_;
    status = self->with_context(Status::FromCode(
        m->err, std::string("delivery to ") + rd_kafka_topic_name(m->rkt) + " [" + std::to_string(m->partition) + "]"));
    self->record_error(status);
  } else if (tag < kMaxTags) {
    ++self->delivered_[tag];
  }
  if (self->options_.on_delivery) {
    Delivery d{tag, packed & kIdMask, m->partition, m->err ? -1 : m->offset, &status, m->len};
    self->options_.on_delivery(d);
  }
}

void Producer::record_error(const Status& s) {
  if (first_error_.ok()) first_error_ = s;
  if (flush_error_.ok()) flush_error_ = s;
}

Status Producer::with_context(Status s) const {
  if (last_client_error_.empty()) return s;
  return s.WithDetail("last client error: " + last_client_error_);
}

rd_kafka_topic_t* Producer::topic(std::string_view name) {
  auto it = topics_.find(name);
  if (it != topics_.end()) return it->second.get();
  std::string n(name);
  TopicPtr rkt(rd_kafka_topic_new(handle_.get(), n.c_str(), nullptr));
  if (!rkt) return nullptr;
  return topics_.emplace(std::move(n), std::move(rkt)).first->second.get();
}

Status Producer::produce(const OutRecord& r) {
  if (!fatal_error_.ok()) return fatal_error_;
  if (r.tag >= kMaxTags) return Status::Invalid("delivery tag out of range");
  rd_kafka_topic_t* rkt = topic(r.topic);
  if (rkt == nullptr) return Status::FromCode(rd_kafka_last_error(), "topic " + std::string(r.topic));

  // On the stack: campaignd produces one record per decision.
  std::array<rd_kafka_vu_t, kMaxHeaders + 6> vus;
  if (r.headers.size() > kMaxHeaders) return Status::Invalid("too many headers");
  std::size_t used = 0;
  auto add = [&vus, &used](rd_kafka_vtype_t type) -> rd_kafka_vu_t& {
    rd_kafka_vu_t& vu = vus[used++];
    vu.vtype = type;
    return vu;
  };
  add(RD_KAFKA_VTYPE_RKT).u.rkt = rkt;
  add(RD_KAFKA_VTYPE_PARTITION).u.i32 = r.partition;
  add(RD_KAFKA_VTYPE_MSGFLAGS).u.i = RD_KAFKA_MSG_F_COPY;
  add(RD_KAFKA_VTYPE_OPAQUE).u.ptr = pack_opaque(r.tag, r.id);
  {
    auto& v = add(RD_KAFKA_VTYPE_VALUE);
    v.u.mem.ptr = const_cast<char*>(r.value.data());
    v.u.mem.size = r.value.size();
  }
  if (!r.key.empty()) {
    auto& k = add(RD_KAFKA_VTYPE_KEY);
    k.u.mem.ptr = const_cast<char*>(r.key.data());
    k.u.mem.size = r.key.size();
  }
  for (const Header& h : r.headers) {
    auto& v = add(RD_KAFKA_VTYPE_HEADER);
    v.u.header.name = h.name;
    v.u.header.val = h.value.data();
    v.u.header.size = static_cast<ssize_t>(h.value.size());
  }

  std::optional<Clock::time_point> deadline;  // read the clock only when the queue is full
  for (;;) {
    rd_kafka_error_t* error = rd_kafka_produceva(handle_.get(), vus.data(), used);
    if (error == nullptr) break;
    if (!deadline) deadline = Clock::now() + std::chrono::milliseconds(options_.message_timeout_ms);
    if (rd_kafka_error_code(error) != RD_KAFKA_RESP_ERR__QUEUE_FULL || Clock::now() >= *deadline) {
      return with_context(Status::FromError(error, "producing to " + std::string(r.topic)));
    }
    rd_kafka_error_destroy(error);
    ++queue_full_waits_;
    // The queue drains only as delivery reports are served: block on them.
    rd_kafka_poll(handle_.get(), 100);
    if (!fatal_error_.ok()) return fatal_error_;
  }
  // Serve reports as they come, but not on every record: serving is a
  // queue operation that costs as much as producing.
  if (++produced_since_poll_ >= kPollEvery) {
    produced_since_poll_ = 0;
    rd_kafka_poll(handle_.get(), 0);
  }
  return Status::Ok();
}

void Producer::poll(std::chrono::milliseconds timeout) { rd_kafka_poll(handle_.get(), static_cast<int>(timeout.count())); }

Status Producer::flush(std::chrono::milliseconds timeout) {
  rd_kafka_resp_err_t err = rd_kafka_flush(handle_.get(), static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return with_context(Status::FromCode(
        err, "flush: " + std::to_string(in_flight()) + " records undelivered after " + std::to_string(timeout.count()) + " ms"));
  }
  if (!fatal_error_.ok()) return fatal_error_;
  // A failure is reported by one flush, not by every later one: a caller
  // that resends after a failure must be able to see the resend succeed.
  Status s = std::move(flush_error_);
  flush_error_ = Status();
  return s;
}

Status Producer::partition_count(std::string_view topic, int* count) {
  auto it = partition_counts_.find(topic);
  if (it != partition_counts_.end()) {
    *count = it->second;
    return Status::Ok();
  }
  Status s = fetch_partition_count(handle_.get(), topic, std::chrono::milliseconds(options_.message_timeout_ms), count);
  if (!s.ok()) return with_context(std::move(s));
  partition_counts_.emplace(std::string(topic), *count);
  return Status::Ok();
}

std::int64_t Producer::delivered() const { return std::accumulate(delivered_.begin(), delivered_.end(), std::int64_t{0}); }

}  // namespace dangol::kafka
