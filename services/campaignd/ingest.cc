#include "services/campaignd/ingest.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "proto/json_codec.h"
#include "services/kafka/routing.h"

namespace dangol::campaignd {
namespace {

using Clock = std::chrono::steady_clock;

bool parse_decision_value(std::string_view value, v1::Decision* out) {
  auto first = value.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && value[first] == '{') {
    std::string error;
    return json::parse_decision(value, out, &error);
  }
  return out->ParseFromArray(value.data(), static_cast<int>(value.size()));
}

}  // namespace

bool Ingest::start(IngestOptions options, std::unique_ptr<Ingest>* out, std::string* error) {
  std::unique_ptr<Ingest> ingest(new Ingest(std::move(options)));
  const IngestOptions& o = ingest->options_;
  const int timeout_ms = static_cast<int>(o.delivery_timeout.count());
  kafka::Settings settings = {
      {"bootstrap.servers", o.bootstrap_servers},
      {"client.id", "dangol-http"},
      {"enable.idempotence", "true"},
      {"partitioner", "murmur2_random"},
      {"message.timeout.ms", std::to_string(timeout_ms)},
      {"linger.ms", "1"},
      {"socket.connection.setup.timeout.ms", std::to_string(std::max(1000, timeout_ms))},
  };
  kafka::ConfPtr conf;
  if (auto s = kafka::make_conf(settings, &conf); !s.ok()) {
    *error = s.message();
    return false;
  }
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Ingest::on_delivery);
  rd_kafka_conf_set_opaque(conf.get(), ingest.get());
  if (auto s = kafka::new_handle(RD_KAFKA_PRODUCER, std::move(conf), &ingest->producer_); !s.ok()) {
    *error = s.message();
    return false;
  }
  ingest->events_topic_.reset(rd_kafka_topic_new(ingest->producer_.get(), o.events_topic.c_str(), nullptr));
  kafka::ConsumerOptions reader_options;
  reader_options.bootstrap_servers = o.bootstrap_servers;
  reader_options.group_id = "campaignd.http";
  reader_options.auto_offset_reset = "latest";
  if (auto s = kafka::Consumer::create(reader_options, &ingest->reader_); !s.ok()) {
    *error = s.message();
    return false;
  }
  Ingest* self = ingest.get();
  self->poller_ = std::thread([self] {
    while (!self->stop_.load()) rd_kafka_poll(self->producer_.get(), 50);
  });
  self->reader_thread_ = std::thread([self] { self->read_decisions(); });
  *out = std::move(ingest);
  return true;
}

Ingest::~Ingest() {
  // Answer everyone first, while the threads still run, so that no request
  // is left without an answer. The submissions stay allocated until the
  // producer is gone: late delivery reports still point into them.
  std::vector<std::unique_ptr<Submission>> left;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, s] : pending_) left.push_back(std::move(s));
    pending_.clear();
    waiting_.clear();
    early_.clear();
  }
  for (auto& s : left) {
    s->error = "shutting down";
    answer(*s, IngestResult::Kind::kUnavailable);
  }
  stop_ = true;
  if (reader_thread_.joinable()) reader_thread_.join();
  if (poller_.joinable()) poller_.join();
  rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_poll(producer_.get(), 0);  // their reports find no pending request
  events_topic_.reset();
  producer_.reset();
}

void Ingest::submit(std::vector<v1::Envelope> events, bool wait, std::chrono::milliseconds wait_timeout, Done done) {
  stats_.requests++;
  auto fail = [this](const Done& answer_to, std::string why) {
    stats_.unavailable++;
    IngestResult r;
    r.kind = IngestResult::Kind::kUnavailable;
    r.error = std::move(why);
    answer_to(std::move(r));
  };
  int partitions = partitions_.load();
  if (partitions == 0) {
    if (auto s = kafka::fetch_partition_count(producer_.get(), options_.events_topic, std::chrono::milliseconds(1000),
                                              &partitions);
        !s.ok()) {
      return fail(done, "broker unavailable: " + s.message());
    }
    partitions_ = partitions;
  }
  auto owned = std::make_unique<Submission>();
  Submission* s = owned.get();
  s->events = std::move(events);
  s->wait = wait;
  s->deadline = Clock::now() + wait_timeout;
  s->done = std::move(done);
  s->decisions.resize(s->events.size());
  s->decision_seqs.resize(s->events.size());
  for (std::size_t i = 0; i < s->events.size(); ++i) {
    const int copies = kafka::is_broadcast(s->events[i]) ? partitions : 1;
    for (int c = 0; c < copies; ++c) s->records.push_back(Record{s, i, copies == 1 ? -1 : c});
  }
  s->undelivered = s->records.size();
  s->undecided = wait ? s->records.size() : 0;
  std::string refused;
  {
    std::lock_guard lock(mu_);
    if (pending_.size() >= options_.max_pending_requests) {
      refused = "overloaded: too many requests in flight";
    } else if (wait && !reader_assigned_) {
      refused = "not ready: the decision reader is starting";
    } else {
      if (wait) {
        for (const auto& e : s->events) waiting_.emplace(e.event_id(), s);
      }
      pending_.emplace(s, std::move(owned));
    }
  }
  if (!refused.empty()) return fail(owned->done, std::move(refused));
  stats_.events += static_cast<std::int64_t>(s->events.size());
  // Produce outside the lock: delivery reports (which take it) may run
  // meanwhile on the poll thread, so count them down from the end.
  std::string bytes;
  std::size_t produced = 0;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (Record& r : s->records) {
    const v1::Envelope& e = s->events[r.event];
    bytes.clear();
    e.SerializeToString(&bytes);
    const std::string key = kafka::routing_key(e);
    const std::int32_t partition =
        r.partition >= 0 ? r.partition : kafka::murmur2_partition(key, static_cast<std::int32_t>(partitions));
    err = rd_kafka_producev(producer_.get(), RD_KAFKA_V_RKT(events_topic_.get()), RD_KAFKA_V_PARTITION(partition),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key.data(), key.size()),
                            RD_KAFKA_V_VALUE(bytes.data(), bytes.size()), RD_KAFKA_V_OPAQUE(&r), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) break;
    ++produced;
    stats_.records++;
  }
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
  // The rest was never produced: count it as failed deliveries.
  std::unique_ptr<Submission> finished;
  {
    std::lock_guard lock(mu_);
    s->failed = true;
    s->error = std::string("cannot produce: ") + rd_kafka_err2str(err);
    s->undelivered -= s->records.size() - produced;
    if (s->undelivered == 0) finished = take(s);
  }
  if (finished) {
    stats_.unavailable++;
    answer(*finished, IngestResult::Kind::kUnavailable);
  }
}

void Ingest::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<Ingest*>(opaque);
  if (self == nullptr || m->_private == nullptr) return;
  self->delivered(static_cast<Record*>(m->_private), *m);
}

void Ingest::delivered(Record* r, const rd_kafka_message_t& m) {
  std::unique_ptr<Submission> finished;
  IngestResult::Kind kind = IngestResult::Kind::kAccepted;
  {
    std::lock_guard lock(mu_);
    Submission* s = r->submission;
    if (!pending_.contains(s)) return;  // answered already (shutting down)
    if (m.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      s->failed = true;
      s->error = std::string("broker unavailable: ") + rd_kafka_err2str(m.err);
    } else {
      r->partition = m.partition;
      r->offset = m.offset;
      if (s->wait) {
        // Its decision may have been read before this report.
        auto early = early_.find(s->events[r->event].event_id());
        if (early != early_.end()) {
          for (auto& d : early->second) {
            if (d.partition == r->partition && d.offset == r->offset && try_decide(s, r, d.seq, d.json)) break;
          }
        }
      }
    }
    --s->undelivered;
    if (s->undelivered == 0) {
      if (s->failed) {
        kind = IngestResult::Kind::kUnavailable;
        finished = take(s);
      } else if (!s->wait) {
        finished = take(s);
      } else if (s->undecided == 0) {
        kind = IngestResult::Kind::kDecided;
        finished = take(s);
      } else if (Clock::now() >= s->deadline) {
        // Delivered after the deadline: answer now with what is known, not
        // at the decision reader's next look (up to its poll interval later).
        kind = IngestResult::Kind::kTimedOut;
        finished = take(s);
      }
    }
  }
  if (finished) {
    if (kind == IngestResult::Kind::kUnavailable) stats_.unavailable++;
    if (kind == IngestResult::Kind::kTimedOut) stats_.timed_out++;
    answer(*finished, kind);
  }
}

// Records the decision for one record; true when it was new.
bool Ingest::try_decide(Submission* s, Record* r, std::int64_t seq, std::string json) {
  if (r->decided) return false;
  r->decided = true;
  --s->undecided;
  // A broadcast event is answered with the decision made first (lowest
  // seq): the copy that applied it; the other partitions' copies are
  // DUPLICATE.
  if (s->decision_seqs[r->event] == 0 || seq < s->decision_seqs[r->event]) {
    s->decision_seqs[r->event] = seq;
    s->decisions[r->event] = std::move(json);
  }
  return true;
}

void Ingest::read_decisions() {
  // Position the reader at the end of the decisions topic first: only
  // decisions published after a request was made can answer it.
  while (!stop_.load()) {
    int count = 0;
    if (auto s = kafka::fetch_partition_count(reader_->handle(), options_.decisions_topic,
                                              std::chrono::milliseconds(1000), &count);
        !s.ok()) {
      spdlog::debug("campaignd: http decision reader waiting: {}", s.message());
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    std::vector<kafka::PartitionWatermarks> watermarks;
    for (std::int32_t p = 0; p < count; ++p) watermarks.push_back({options_.decisions_topic, p});
    const bool all = reader_->watermarks(&watermarks, std::chrono::milliseconds(2000)).ok();
    std::map<std::int32_t, std::int64_t> ends;
    for (const auto& w : watermarks) ends[w.partition] = w.high;
    if (!all || !reader_->assign(options_.decisions_topic, count, ends).ok()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    std::lock_guard lock(mu_);
    reader_assigned_ = true;
    break;
  }
  std::vector<kafka::MessagePtr> batch;
  v1::Decision decision;
  while (!stop_.load()) {
    batch.clear();
    (void)reader_->poll_batch(1000, std::chrono::milliseconds(20), &batch);  // errors: librdkafka retries
    bool anyone_waiting;
    {
      std::lock_guard lock(mu_);
      anyone_waiting = !waiting_.empty();
    }
    if (anyone_waiting) {
      for (const auto& m : batch) {
        std::string_view value(static_cast<const char*>(m->payload), m->payload ? m->len : 0);
        if (!parse_decision_value(value, &decision)) continue;
        if (decision.parts() > 1 && !assemble(&decision)) continue;
        match(decision);
      }
    }
    expire_overdue();
  }
}

// Collects the parts of a decision of several records (CONTRACT §3
// "Parts") that some request waits for; true, with *d the whole decision
// (effects joined in part order, seq of the first part, no part fields),
// once all have arrived. Parts may arrive in any order, and twice.
bool Ingest::assemble(v1::Decision* d) {
  std::lock_guard lock(mu_);
  // A decision has at most a few thousand parts (256 effects each, one per
  // outstanding coupon released); a record claiming far more is not ours.
  constexpr std::int32_t kMaxParts = 1 << 20;
  if (d->parts() > kMaxParts || !waiting_.contains(d->event_id())) return false;
  const std::pair<std::int32_t, std::int64_t> position{d->partition(), d->offset()};
  Assembly& a = assembling_[position];
  if (a.parts.empty()) {
    a.event_id = d->event_id();
    a.parts.resize(static_cast<std::size_t>(d->parts()));
  }
  if (d->part() < 1 || d->part() > d->parts() || a.parts.size() != static_cast<std::size_t>(d->parts())) {
    return false;  // not ours to judge: reconcile names such a journal
  }
  auto& slot = a.parts[static_cast<std::size_t>(d->part() - 1)];
  if (slot != nullptr) return false;
  slot = std::make_unique<v1::Decision>(std::move(*d));
  if (++a.received < a.parts.size()) return false;
  *d = std::move(*a.parts[0]);
  for (std::size_t k = 1; k < a.parts.size(); ++k) {
    for (auto& effect : *a.parts[k]->mutable_effects()) d->add_effects()->Swap(&effect);
  }
  d->clear_part();
  d->clear_parts();
  assembling_.erase(position);
  return true;
}

void Ingest::match(const v1::Decision& d) {
  std::vector<std::unique_ptr<Submission>> finished;
  {
    std::lock_guard lock(mu_);
    auto [begin, end] = waiting_.equal_range(d.event_id());
    if (begin == end) return;
    std::string json;
    json::append_decision(d, &json);
    bool matched = false;
    std::vector<Submission*> done;
    for (auto it = begin; it != end; ++it) {
      Submission* s = it->second;
      for (Record& r : s->records) {
        if (r.offset != d.offset() || r.partition != d.partition()) continue;
        if (s->events[r.event].event_id() != d.event_id()) continue;
        matched = try_decide(s, &r, d.seq(), json) || matched;
      }
      if (s->undecided == 0 && s->undelivered == 0 && std::find(done.begin(), done.end(), s) == done.end()) {
        done.push_back(s);
      }
    }
    if (!matched) early_[d.event_id()].push_back(EarlyDecision{d.partition(), d.offset(), d.seq(), std::move(json)});
    for (Submission* s : done) finished.push_back(take(s));
  }
  for (auto& s : finished) answer(*s, IngestResult::Kind::kDecided);
}

void Ingest::expire_overdue() {
  std::vector<std::unique_ptr<Submission>> overdue;
  {
    const auto now = Clock::now();
    std::lock_guard lock(mu_);
    std::vector<Submission*> due;
    for (auto& [key, s] : pending_) {
      if (s->wait && s->undelivered == 0 && now >= s->deadline) due.push_back(key);
    }
    for (Submission* s : due) overdue.push_back(take(s));
  }
  for (auto& s : overdue) {
    stats_.timed_out++;
    answer(*s, IngestResult::Kind::kTimedOut);
  }
}

std::unique_ptr<Ingest::Submission> Ingest::take(Submission* s) {
  if (s->wait) {
    for (const auto& e : s->events) {
      auto [begin, end] = waiting_.equal_range(e.event_id());
      for (auto it = begin; it != end;) {
        it = it->second == s ? waiting_.erase(it) : std::next(it);
      }
      if (!waiting_.contains(e.event_id())) {
        early_.erase(e.event_id());
        std::erase_if(assembling_, [&](const auto& a) { return a.second.event_id == e.event_id(); });
      }
    }
  }
  auto it = pending_.find(s);
  auto owned = std::move(it->second);
  pending_.erase(it);
  return owned;
}

void Ingest::answer(Submission& submission, IngestResult::Kind kind) {
  Submission* s = &submission;
  IngestResult r;
  r.kind = kind;
  std::int64_t delivered_events = 0;
  std::vector<bool> delivered(s->events.size(), true);
  for (const Record& rec : s->records) {
    if (rec.offset < 0) delivered[rec.event] = false;
  }
  for (bool d : delivered) delivered_events += d ? 1 : 0;
  r.accepted = delivered_events;
  r.error = s->error;
  if (s->wait) {
    for (std::size_t i = 0; i < s->events.size(); ++i) {
      if (!s->decisions[i].empty()) r.decisions.push_back(std::move(s->decisions[i]));
    }
    // Events with an undecided record are pending (a broadcast event until
    // every partition decided it).
    std::vector<bool> open(s->events.size(), false);
    for (const Record& rec : s->records) {
      if (!rec.decided) open[rec.event] = true;
    }
    for (std::size_t i = 0; i < s->events.size(); ++i) {
      if (open[i]) r.pending.push_back(s->events[i].event_id());
    }
  }
  s->done(std::move(r));
}

}  // namespace dangol::campaignd
