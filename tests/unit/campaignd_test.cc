// campaignd against the development broker over real TCP, run as a user
// runs it: the real binary, events produced with the real producer, the
// decision topic read back. Covers DESIGN §5's promise: exactly one decision
// per input record, gapless seq, equal to `campaignctl replay` of the same
// events in seq order, across kill -9 at random moments and broker faults.
//
// The broker runs in this process so that faults can be injected into it.
// Every wait has a deadline.

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <random>
#include <set>

#include "proto/json_codec.h"
#include "services/kafka/dev_broker.h"
#include "services/kafka/envelope_producer.h"
#include "services/kafka/producer.h"
#include "services/kafka/routing.h"
#include "tests/unit/kafka_test_util.h"

namespace {

using namespace dangol::test;  // NOLINT: test helpers
using dangol::v1::Decision;
using dangol::v1::Envelope;

// librdkafka's mock cluster keeps only about 5 MB per partition and drops the
// oldest records beyond that, so the tests read the topics as they are
// written (TopicCollector) rather than afterwards.
constexpr int kPartitions = 16;

std::string campaignd() { return bin_dir() + "/campaignd/campaignd"; }

class CampaigndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dangol-campaignd-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    kafka::DevBrokerOptions options;
    options.partitions = kPartitions;
    ASSERT_TRUE(kafka::DevBroker::start(options, &broker_).ok());
    kafka::ProducerOptions producer_options;
    producer_options.bootstrap_servers = broker_->bootstrap_servers();
    // The development broker can drop a request in flight when a test sets it
    // down: time it out in seconds, not the default minute (the watermark
    // queries of topic_size() go through this handle).
    producer_options.config = {{"socket.timeout.ms", "5000"}};
    ASSERT_TRUE(kafka::Producer::create(producer_options, &producer_).ok());
    events_ = std::make_unique<TopicCollector>(broker_->bootstrap_servers(), "campaign.events", kPartitions);
    decisions_ = std::make_unique<TopicCollector>(broker_->bootstrap_servers(), "campaign.decisions", kPartitions);
  }
  void TearDown() override {
    decisions_.reset();
    events_.reset();
    producer_.reset();
    broker_.reset();
    fs::remove_all(dir_);
  }

  // Produces a simulation's events as protobuf, routed as CONTRACT §2 says;
  // returns the number of records written (broadcasts count once per partition).
  std::int64_t produce_simulation(const std::string& args) {
    std::vector<Envelope> events = simulate(args);
    return produce_events(events, 0, events.size());
  }
  std::vector<Envelope> simulate(const std::string& args) {
    RunResult sim = run(campaignctl() + " simulate " + args, dir_, 120);
    EXPECT_EQ(sim.exit_code, 0) << sim.err;
    std::istringstream lines(sim.out);
    std::string line, error;
    std::vector<Envelope> events;
    Envelope e;
    while (std::getline(lines, line)) {
      if (dangol::json::parse_envelope(line, &e, &error)) events.push_back(e);
    }
    return events;
  }
  // Produces events [begin, end) as produce_simulation() does.
  std::int64_t produce_events(const std::vector<Envelope>& events, std::size_t begin, std::size_t end) {
    std::string scratch;
    std::int64_t records = 0;
    for (std::size_t i = begin; i < end; ++i) {
      EXPECT_TRUE(kafka::produce_envelope(*producer_, "campaign.events", kPartitions, events[i], &scratch).ok());
      records += kafka::is_broadcast(events[i]) ? kPartitions : 1;
    }
    EXPECT_TRUE(producer_->flush(std::chrono::seconds(30)).ok());
    return records;
  }

  // A simulation's events as protobuf, every one to partition 0 only (with
  // its routing key), split into `parts` consecutive slices of the stream.
  std::vector<std::vector<std::string>> simulation_slices(const std::string& args, int parts) {
    RunResult sim = run(campaignctl() + " simulate " + args, dir_, 120);
    EXPECT_EQ(sim.exit_code, 0) << sim.err;
    std::vector<std::string> all;
    std::istringstream lines(sim.out);
    std::string line, error;
    Envelope e;
    while (std::getline(lines, line)) {
      if (dangol::json::parse_envelope(line, &e, &error)) all.push_back(e.SerializeAsString());
    }
    std::vector<std::vector<std::string>> slices(parts);
    for (std::size_t i = 0; i < all.size(); ++i) slices[i * parts / all.size()].push_back(std::move(all[i]));
    return slices;
  }
  std::int64_t produce_to_partition0(const std::vector<std::string>& values) {
    Envelope e;
    for (const auto& value : values) {
      EXPECT_TRUE(e.ParseFromString(value));
      const std::string key = kafka::routing_key(e);
      EXPECT_TRUE(producer_->produce({"campaign.events", key, value, 0}).ok());
    }
    EXPECT_TRUE(producer_->flush(std::chrono::seconds(30)).ok());
    return static_cast<std::int64_t>(values.size());
  }

  // Runs campaignd until the decisions topic holds `records` decisions, then
  // stops it with SIGTERM (exit 0).
  void run_until_decided(const std::string& tag, std::int64_t records) {
    auto daemon = start_campaignd(tag);
    ASSERT_TRUE(wait_for_decisions(records, milliseconds(60'000))) << read_file(dir_ / ("campaignd-" + tag + ".err"));
    ASSERT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  }

  // `format`: of the decisions, pb (campaignd's default) or json.
  std::unique_ptr<Child> start_campaignd(const std::string& tag, const std::string& format = "json",
                                         const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{campaignd(), "--brokers", broker_->bootstrap_servers(), "--state-dir",
                                  (dir_ / "state").string(), "--decisions-format", format, "--partitions",
                                  std::to_string(kPartitions)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Child>(argv, dir_ / ("campaignd-" + tag + ".out"), dir_ / ("campaignd-" + tag + ".err"));
  }

  // Waits until campaignd `tag` logged that it recovered (spdlog writes to
  // stdout). A SIGTERM sent before it set up its signal handling ends it
  // by the default action instead of a clean stop.
  bool wait_until_recovered(const std::string& tag, milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (read_file(dir_ / ("campaignd-" + tag + ".out")).find("recovered in") != std::string::npos) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  // Records in a topic, from the partitions' high watermarks.
  std::int64_t topic_size(const std::string& topic) {
    std::int64_t total = 0;
    for (int p = 0; p < kPartitions; ++p) {
      std::int64_t low = 0, high = 0;
      if (rd_kafka_query_watermark_offsets(producer_->handle(), topic.c_str(), p, &low, &high, 5000) ==
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        total += high;
      }
    }
    return total;
  }

  // Waits until the decisions topic holds `n` records (within `limit`), then
  // until the collector has read them all (for the rest of `limit`, and at
  // least 30 s).
  bool wait_for_decisions(std::int64_t n, milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (topic_size("campaign.decisions") >= n) {
        const auto rest = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        return decisions_->wait_for(n, std::max(rest, milliseconds(30'000)));
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    return false;
  }

  // The decisions topic (JSON or protobuf), parsed and ordered by seq.
  std::vector<Decision> decisions() {
    std::vector<Decision> out;
    // Give the collector a moment for stragglers (e.g. a late duplicate).
    std::this_thread::sleep_for(milliseconds(500));
    for (const auto& record : decisions_->records()) {
      Decision d;
      std::string error;
      if (record.value.starts_with("{")) {
        EXPECT_TRUE(dangol::json::parse_decision(record.value, &d, &error)) << error;
      } else {
        EXPECT_TRUE(d.ParseFromString(record.value)) << "not a protobuf Decision";
      }
      EXPECT_EQ(d.partition(), record.partition) << "a decision lands in its event's partition";
      out.push_back(std::move(d));
    }
    std::sort(out.begin(), out.end(), [](const Decision& a, const Decision& b) { return a.seq() < b.seq(); });
    return out;
  }

  // The decisions with a repeated seq dropped, after checking that each
  // repeat is byte-identical to the first copy: the development broker does
  // not drop duplicate idempotent retries as a real broker does.
  static std::vector<Decision> without_identical_repeats(std::vector<Decision> all) {
    std::vector<Decision> distinct;
    for (auto& d : all) {
      if (!distinct.empty() && distinct.back().seq() == d.seq()) {
        EXPECT_EQ(distinct.back().SerializeAsString(), d.SerializeAsString()) << "a repeated seq differs";
        continue;
      }
      distinct.push_back(std::move(d));
    }
    return distinct;
  }

  // Every record decided exactly once: seq 1..n without gaps or repeats, and
  // one decision per (partition, offset), a decision of several records
  // being its parts 1..n at consecutive seqs (CONTRACT §3 "Parts").
  void expect_exactly_once(const std::vector<Decision>& ds, std::int64_t records) {
    std::set<std::pair<std::int32_t, std::int64_t>> positions;
    std::int64_t decided = 0;
    for (std::size_t i = 0; i < ds.size(); ++i) {
      ASSERT_EQ(ds[i].seq(), static_cast<std::int64_t>(i + 1)) << "seq has a gap or a repeat";
      ASSERT_LE(ds[i].effects_size(), 256) << "seq " << ds[i].seq() << " is not cut into parts";
      if (ds[i].part() > 1) {
        ASSERT_GT(i, 0u);
        const Decision& before = ds[i - 1];
        ASSERT_EQ(ds[i].part(), before.part() + 1) << "seq " << ds[i].seq() << ": parts out of order";
        ASSERT_EQ(ds[i].parts(), before.parts());
        ASSERT_EQ(ds[i].partition(), before.partition());
        ASSERT_EQ(ds[i].offset(), before.offset());
        continue;
      }
      if (i > 0) {
        ASSERT_EQ(ds[i - 1].part(), ds[i - 1].parts()) << "seq " << ds[i - 1].seq() << ": a part is missing";
      }
      ASSERT_TRUE(positions.insert({ds[i].partition(), ds[i].offset()}).second)
          << "two decisions for partition " << ds[i].partition() << " offset " << ds[i].offset();
      ++decided;
    }
    if (!ds.empty()) {
      ASSERT_EQ(ds.back().part(), ds.back().parts()) << "the last decision misses parts";
    }
    ASSERT_EQ(decided, records);
  }

  // The decisions equal `campaignctl replay` of the same events in seq order
  // (partition and offset aside, which replay numbers by line), and the
  // journal reconciles.
  void expect_matches_replay_and_reconciles(const std::vector<Decision>& ds) {
    std::map<std::pair<std::int32_t, std::int64_t>, std::string> events;
    for (const auto& r : events_->records()) {
      Envelope e;
      ASSERT_TRUE(e.ParseFromString(r.value));
      std::string json;
      dangol::json::append_envelope(e, &json);
      events[{r.partition, r.offset}] = json;
    }
    std::ofstream in(dir_ / "in-seq-order.jsonl"), journal(dir_ / "journal.jsonl");
    for (const auto& d : ds) {
      if (d.part() <= 1) in << events.at({d.partition(), d.offset()}) << "\n";
      std::string json;
      dangol::json::append_decision(d, &json);
      journal << json << "\n";
    }
    in.close();
    journal.close();
    RunResult replay = run(campaignctl() + " replay --events " + (dir_ / "in-seq-order.jsonl").string(), dir_, 120);
    ASSERT_EQ(replay.exit_code, 0) << replay.err;
    std::istringstream replayed(replay.out);
    std::string line, error;
    for (const auto& d : ds) {
      ASSERT_TRUE(std::getline(replayed, line));
      Decision want;
      ASSERT_TRUE(dangol::json::parse_decision(line, &want, &error)) << error;
      Decision got = d;
      got.set_partition(0);
      got.set_offset(0);
      want.set_offset(0);
      ASSERT_EQ(got.SerializeAsString(), want.SerializeAsString()) << "seq " << d.seq();
    }
    RunResult rec = run(campaignctl() + " reconcile --decisions " + (dir_ / "journal.jsonl").string(), dir_, 120);
    EXPECT_EQ(rec.exit_code, 0) << rec.out.substr(0, 3000);
  }

  fs::path dir_;
  std::unique_ptr<kafka::DevBroker> broker_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<TopicCollector> events_, decisions_;
};

TEST_F(CampaigndTest, DecidesEveryRecordOnceAndMatchesReplay) {
  // Proves the normal path: pilot and festival streams in, one decision per
  // record out (protobuf, the default format), equal to replay, reconciled;
  // SIGTERM exits 0.
  std::int64_t records = produce_simulation("pilot") + produce_simulation("festival --seed 11 --events 20000");
  auto daemon = start_campaignd("run", "pb");
  ASSERT_TRUE(wait_for_decisions(records, milliseconds(60'000))) << read_file(dir_ / "campaignd-run.err");
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  auto ds = decisions();
  expect_exactly_once(ds, records);
  expect_matches_replay_and_reconciles(ds);
  // It logged catching up once, with the last seq (the benchmark waits for it).
  const std::string log = read_file(dir_ / "campaignd-run.out");
  const std::string caught_up =
      "caught up with campaign.events: decided and published up to seq " + std::to_string(records) + ",";
  EXPECT_NE(log.find(caught_up), std::string::npos) << log;
  EXPECT_EQ(log.find("caught up with"), log.rfind("caught up with")) << log;
  // It runs on jemalloc with huge pages (services/malloc): without them it
  // spent a fifth of its CPU faulting memory in.
  EXPECT_NE(log.find("allocator jemalloc "), std::string::npos) << log;
  EXPECT_NE(log.find(" (thp always)"), std::string::npos) << log;
}

TEST_F(CampaigndTest, KillNineAtRandomMomentsLosesAndRepeatsNothing) {
  // Proves crash safety: campaignd is killed with SIGKILL 20 times at random
  // moments while a stream flows (mid-batch, mid-commit, mid-publish), and
  // restarted each time; the final journal has exactly one decision per
  // record and equals replay. (Protobuf decisions: the production path.)
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("DANGOL_SEED")) seed = std::strtoull(s, nullptr, 10);
  SCOPED_TRACE("DANGOL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  // The stream flows throughout: campaignd decides 200 000 events in a few
  // seconds, so each round feeds its share while campaignd runs, up to the
  // kill, and the kill finds it busy.
  constexpr int kKills = 20, kChunks = 20;
  const std::vector<Envelope> events = simulate("festival --seed 13 --events 200000");
  std::int64_t records = 0;
  for (int kill = 0; kill < kKills; ++kill) {
    auto daemon = start_campaignd("kill-" + std::to_string(kill), "pb");
    const milliseconds round(200 + rng() % 1300);
    std::thread feeder([&] {
      const std::size_t begin = events.size() * kill / kKills, end = events.size() * (kill + 1) / kKills;
      for (int c = 0; c < kChunks; ++c) {
        records += produce_events(events, begin + (end - begin) * c / kChunks, begin + (end - begin) * (c + 1) / kChunks);
        std::this_thread::sleep_for(round / kChunks);
      }
    });
    std::this_thread::sleep_for(round);
    EXPECT_EQ(daemon->stop(SIGKILL, milliseconds(5'000)), 128 + SIGKILL);
    feeder.join();
  }
  auto daemon = start_campaignd("final", "pb");
  // The killed ones may have decided everything already.
  ASSERT_TRUE(wait_until_recovered("final", milliseconds(60'000))) << read_file(dir_ / "campaignd-final.out");
  ASSERT_TRUE(wait_for_decisions(records, milliseconds(120'000))) << read_file(dir_ / "campaignd-final.err");
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  auto ds = decisions();
  expect_exactly_once(ds, records);
  expect_matches_replay_and_reconciles(ds);
}

TEST_F(CampaigndTest, RestoringAnOlderStateDirPublishesNothingTwice) {
  // Proves that restoring an older copy of the state (a backup) does not
  // publish decisions twice: campaignd decides again the events after the
  // copy, byte-identically, and skips the seqs the decisions topic already
  // has (DESIGN §5 tail read). All events go to one partition, as the
  // re-decided seqs match the published ones only if the events come in
  // the same order, and only within a partition is poll order fixed.
  auto slices = simulation_slices("festival --seed 19 --events 4500", 3);
  const fs::path state = dir_ / "state", copy = dir_ / "state-copy";
  std::int64_t records = produce_to_partition0(slices[0]);
  ASSERT_NO_FATAL_FAILURE(run_until_decided("first", records));
  fs::copy(state, copy, fs::copy_options::recursive);
  records += produce_to_partition0(slices[1]);
  ASSERT_NO_FATAL_FAILURE(run_until_decided("second", records));
  fs::remove_all(state);
  fs::rename(copy, state);
  records += produce_to_partition0(slices[2]);
  {
    auto daemon = start_campaignd("restored");
    ASSERT_TRUE(wait_for_decisions(records, milliseconds(60'000))) << read_file(dir_ / "campaignd-restored.err");
    // Time for any decision published twice to show up before counting.
    std::this_thread::sleep_for(milliseconds(1'000));
    ASSERT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  }
  auto ds = decisions();
  expect_exactly_once(ds, records);
  expect_matches_replay_and_reconciles(ds);
}

TEST_F(CampaigndTest, RefusesAnOlderStateDirWhenSeveralPartitionsWouldBeDecidedAgain) {
  // Proves that a state dir older than the journal is refused (exit 3, with
  // the reason) when the events after it span several partitions: their
  // poll order, and so their seqs and decisions, need not match what was
  // published, and re-deciding could skip a new event as "published".
  std::vector<Envelope> events = simulate("festival --seed 23 --events 3000");
  const fs::path state = dir_ / "state", copy = dir_ / "state-copy";
  std::int64_t records = produce_events(events, 0, 1000);
  ASSERT_NO_FATAL_FAILURE(run_until_decided("first", records));
  fs::copy(state, copy, fs::copy_options::recursive);
  records += produce_events(events, 1000, 2000);
  ASSERT_NO_FATAL_FAILURE(run_until_decided("second", records));
  fs::remove_all(state);
  fs::rename(copy, state);
  const std::int64_t published = topic_size("campaign.decisions");
  auto daemon = start_campaignd("restored");
  const int exit_code = daemon->wait_for_exit(milliseconds(30'000));
  EXPECT_EQ(exit_code, 3);
  const std::string log = read_file(dir_ / "campaignd-restored.out");
  EXPECT_NE(log.find("restored from an older checkpoint"), std::string::npos) << log;
  EXPECT_EQ(topic_size("campaign.decisions"), published);
}

TEST_F(CampaigndTest, UndecodableRecordsAreDeadLetteredAndThePartitionMoves) {
  // Proves bad input never blocks a partition: garbage bytes and a truncated
  // protobuf go to the DLQ with their error, partition and offset; JSON with
  // a wrong enum is decided INVALID; the valid events after them are decided.
  Envelope valid;
  std::string error;
  ASSERT_TRUE(dangol::json::parse_envelope(
      R"({"eventId":"e-1","occurredAt":"2023-08-01T00:00:00Z","merchantEnrolled":{"merchantId":"m-1","marketId":"mk","category":"food"}})",
      &valid, &error));
  std::string valid_bytes = valid.SerializeAsString();
  const std::vector<std::string> bad = {"\xff\xfe garbage", valid_bytes.substr(0, valid_bytes.size() / 2),
                                        "{\"eventId\": 12, \"occurredAt\": [}"};
  int produced = 0;
  for (const auto& value : bad) {
    kafka::OutRecord r{"campaign.events", "m-1", value, 0};
    ASSERT_TRUE(producer_->produce(r).ok());
    ++produced;
  }
  const std::string wrong_enum =
      R"({"eventId":"e-2","occurredAt":"2023-08-01T00:00:00Z","campaignStatusChanged":{"campaignId":"c","status":"SLEEPING"}})";
  ASSERT_TRUE(producer_->produce({"campaign.events", "m-1", wrong_enum, 0}).ok());
  ASSERT_TRUE(producer_->produce({"campaign.events", "m-1", valid_bytes, 0}).ok());
  ASSERT_TRUE(producer_->flush(std::chrono::seconds(10)).ok());

  auto daemon = start_campaignd("bad");
  ASSERT_TRUE(wait_for_decisions(2, milliseconds(30'000))) << read_file(dir_ / "campaignd-bad.err");
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  auto ds = decisions();
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds[0].outcome(), Decision::INVALID);
  EXPECT_EQ(ds[0].detail().rfind("campaignStatusChanged.status", 0), 0u) << ds[0].detail();
  EXPECT_EQ(ds[1].outcome(), Decision::APPLIED);
  EXPECT_EQ(ds[1].offset(), produced + 1);
  auto dead = consume_all(broker_->bootstrap_servers(), "campaign.dlq", kPartitions);
  ASSERT_EQ(dead.size(), bad.size());
  for (std::size_t i = 0; i < dead.size(); ++i) EXPECT_EQ(dead[i].value, bad[i]);
}

TEST_F(CampaigndTest, RefusesToSkipEventsDeletedBeforeTheyWereDecided) {
  // Proves "no event lost": when the topic no longer holds the next event
  // to decide (here the development broker dropped partition 0's oldest
  // records past its ~5 MB), campaignd stops with a clear error (exit 3)
  // instead of silently skipping to the oldest record left.
  const std::string filler(1024, 'x');
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(producer_->produce({"campaign.events", "k", filler, 0}).ok());
  ASSERT_TRUE(producer_->flush(std::chrono::seconds(30)).ok());
  std::int64_t low = 0, high = 0;
  ASSERT_EQ(rd_kafka_query_watermark_offsets(producer_->handle(), "campaign.events", 0, &low, &high, 5000),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_GT(low, 0) << "the broker kept everything; this test needs it to drop old records";
  auto daemon = start_campaignd("deleted");
  const int exit_code = daemon->wait_for_exit(milliseconds(30'000));
  EXPECT_EQ(exit_code, 3);
  const std::string log = read_file(dir_ / "campaignd-deleted.out");  // spdlog writes to stdout
  EXPECT_NE(log.find("refusing to skip them"), std::string::npos) << log;
  EXPECT_EQ(topic_size("campaign.decisions"), 0);
}

TEST_F(CampaigndTest, RefusesTopicsWithDifferentPartitionCounts) {
  // Proves CONTRACT §2's "same partition count" is checked before anything
  // is decided: a decisions topic with fewer partitions than the events
  // topic stops campaignd with a clear error (exit 3) and nothing is
  // produced to it.
  ASSERT_EQ(rd_kafka_mock_topic_create(broker_->cluster(), "t.events", 8, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_mock_topic_create(broker_->cluster(), "t.decisions", 4, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_mock_topic_create(broker_->cluster(), "t.dlq", 8, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(producer_->produce({"t.events", "m-1", "{}", 0}).ok());
  ASSERT_TRUE(producer_->flush(std::chrono::seconds(10)).ok());
  Child daemon({campaignd(), "--brokers", broker_->bootstrap_servers(), "--state-dir", (dir_ / "state").string(),
                "--events-topic", "t.events", "--decisions-topic", "t.decisions", "--dlq-topic", "t.dlq"},
               dir_ / "campaignd-mismatch.out", dir_ / "campaignd-mismatch.err");
  const int exit_code = daemon.wait_for_exit(milliseconds(30'000));
  EXPECT_EQ(exit_code, 3);
  const std::string log = read_file(dir_ / "campaignd-mismatch.out");  // spdlog writes to stdout
  EXPECT_NE(log.find("t.decisions has 4 partitions but t.events has 8; they must be equal (CONTRACT §2)"),
            std::string::npos)
      << log;
  EXPECT_EQ(topic_size("t.decisions"), 0);
}

TEST_F(CampaigndTest, TopicsThatCannotBeCreatedStopWithExit3) {
  // Proves missing topics that the brokers fail to create (the development
  // broker names no controller, so it never creates any) stop campaignd
  // with exit 3 and the reason after a few tries, instead of a warning
  // repeated for ever.
  Child daemon({campaignd(), "--brokers", broker_->bootstrap_servers(), "--state-dir", (dir_ / "state").string(),
                "--events-topic", "n.events", "--decisions-topic", "n.decisions", "--dlq-topic", "n.dlq",
                "--broker-timeout-ms", "1000"},
               dir_ / "campaignd-create.out", dir_ / "campaignd-create.err");
  EXPECT_EQ(daemon.wait_for_exit(milliseconds(60'000)), 3);
  const std::string log = read_file(dir_ / "campaignd-create.out");
  EXPECT_NE(log.find("the missing topics could not be created"), std::string::npos) << log;
}

TEST_F(CampaigndTest, KcatProducesJsonAndReadsDecisions) {
  // Proves a third-party Kafka client works end to end: kcat writes JSON
  // events (key:value) and reads the JSON decisions back.
  std::ofstream events(dir_ / "events.txt");
  events << R"(m-9:{"eventId":"k-1","occurredAt":"2023-08-01T00:00:00Z","merchantEnrolled":{"merchantId":"m-9","marketId":"mk","category":"food"}})"
         << "\n"
         << R"(m-9:{"eventId":"k-2","occurredAt":"2023-08-01T00:01:00Z","channelOpened":{"merchantId":"m-9","channelId":"ch-9"}})"
         << "\n";
  events.close();
  RunResult produce = run("kcat -P -b " + broker_->bootstrap_servers() + " -t campaign.events -K: -X partitioner=murmur2_random -l " +
                              (dir_ / "events.txt").string(),
                          dir_, 30);
  ASSERT_EQ(produce.exit_code, 0) << produce.err;
  auto daemon = start_campaignd("kcat");
  ASSERT_TRUE(wait_for_decisions(2, milliseconds(30'000))) << read_file(dir_ / "campaignd-kcat.err");
  RunResult consume = run("kcat -C -b " + broker_->bootstrap_servers() + " -t campaign.decisions -e -o beginning -f '%h %s\\n'",
                          dir_, 30);
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  ASSERT_EQ(consume.exit_code, 0) << consume.err;
  EXPECT_NE(consume.out.find(R"("eventId":"k-1")"), std::string::npos) << consume.out;
  EXPECT_NE(consume.out.find(R"("eventId":"k-2")"), std::string::npos) << consume.out;
  EXPECT_NE(consume.out.find("shard=0"), std::string::npos) << consume.out;
  EXPECT_NE(consume.out.find("seq=2"), std::string::npos) << consume.out;
}

TEST_F(CampaigndTest, BrokerDownAndUpLosesNothing) {
  // Proves broker outages are ridden out: the broker goes down mid-stream
  // and produce requests fail transiently; campaignd backs off, resumes, and
  // the journal is complete. (The development broker does not drop
  // duplicate idempotent retries as a real broker does, so repeats of a
  // (shard, seq) are tolerated here only if byte-identical.)
  std::int64_t records = produce_simulation("festival --seed 17 --events 20000");
  auto daemon = start_campaignd("faults");
  std::this_thread::sleep_for(milliseconds(300));
  constexpr std::int16_t kProduceApiKey = 0;  // Kafka protocol ApiKey of Produce
  rd_kafka_mock_push_request_errors(broker_->cluster(), kProduceApiKey, 3, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                    RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
  ASSERT_EQ(rd_kafka_mock_broker_set_down(broker_->cluster(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::this_thread::sleep_for(milliseconds(2'000));
  ASSERT_EQ(rd_kafka_mock_broker_set_up(broker_->cluster(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(wait_for_decisions(records, milliseconds(120'000))) << read_file(dir_ / "campaignd-faults.err");
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  expect_exactly_once(without_identical_repeats(decisions()), records);
}

TEST_F(CampaigndTest, AMassReleaseIsPublishedInPartsAndNothingWaitsBehindIt) {
  // Proves the close of a campaign with 20,000 outstanding coupons (one
  // decision of 20,000 effects, which the broker refused as one record
  // before CONTRACT §3 "Parts") is published as 79 parts, that campaignd
  // killed with SIGKILL after committing them and before publishing them
  // publishes them once after a restart, and that the events after it are
  // decided. The journal reconciles.
  constexpr int kCoupons = 20'000;
  auto event = [](const std::string& json) {
    Envelope e;
    std::string error;
    EXPECT_TRUE(dangol::json::parse_envelope(json, &e, &error)) << error << json;
    return e;
  };
  std::vector<Envelope> events;
  events.push_back(event(
      R"({"eventId":"def","occurredAt":"2026-05-01T00:00:00Z","campaignDefined":{"campaignId":"mass",)"
      R"("name":"Mass","currency":"KRW","startsAt":"2026-05-01T00:00:00Z","endsAt":"2027-05-01T00:00:00Z",)"
      R"("utcOffsetMinutes":540,"funders":[{"funderId":"gov","budget":"500000000","shareBps":5000},)"
      R"({"funderId":"kakao","budget":"500000000","shareBps":5000}],"trigger":"ISSUED",)"
      R"("offer":{"fixedAmount":"1000","validDays":30}}})"));
  for (int i = 0; i < kCoupons; ++i) {
    events.push_back(event(R"({"eventId":"claim-)" + std::to_string(i) +
                           R"(","occurredAt":"2026-05-02T00:00:00Z","couponIssued":{"campaignId":"mass",)"
                           R"("customerId":"c-)" + std::to_string(i) + R"("}})"));
  }
  std::int64_t records = produce_events(events, 0, events.size());
  auto daemon = start_campaignd("mass-1", "pb");
  ASSERT_TRUE(wait_for_decisions(records, milliseconds(60'000))) << read_file(dir_ / "campaignd-mass-1.err");
  // The decisions partitions have no leader while the close is decided and
  // committed: its parts wait in the producer when campaignd is killed, and
  // only the restart can publish them.
  const Envelope close = event(R"({"eventId":"close","occurredAt":"2026-05-03T00:00:00Z",)"
                               R"("campaignStatusChanged":{"campaignId":"mass","status":"CLOSED"}})");
  for (int p = 0; p < kPartitions; ++p) {
    ASSERT_EQ(rd_kafka_mock_partition_set_leader(broker_->cluster(), "campaign.decisions", p, -1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  records += produce_events({close}, 0, 1);
  std::this_thread::sleep_for(milliseconds(1'500));
  EXPECT_EQ(daemon->stop(SIGKILL, milliseconds(5'000)), 128 + SIGKILL);
  for (int p = 0; p < kPartitions; ++p) {
    ASSERT_EQ(rd_kafka_mock_partition_set_leader(broker_->cluster(), "campaign.decisions", p, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  const Envelope after = event(R"({"eventId":"after","occurredAt":"2026-05-04T00:00:00Z",)"
                               R"("couponIssued":{"campaignId":"mass","customerId":"c-late"}})");
  records += produce_events({after}, 0, 1);
  daemon = start_campaignd("mass-2", "pb");
  constexpr std::int64_t kParts = (kCoupons + 255) / 256;
  ASSERT_TRUE(wait_for_decisions(records + kParts - 1, milliseconds(60'000)))
      << read_file(dir_ / "campaignd-mass-2.out");
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  // What the kill left (timing decides how many parts were out): for the log.
  const std::string log = read_file(dir_ / "campaignd-mass-2.out");
  if (auto at = log.find("outbox had"); at != std::string::npos) {
    std::cout << "after the kill: " << log.substr(at, log.find('\n', at) - at) << "\n";
  }
  auto ds = without_identical_repeats(decisions());
  expect_exactly_once(ds, records);
  std::int64_t voided = 0, parts = 0;
  for (const auto& d : ds) {
    if (d.event_id() == "close" && d.outcome() == Decision::APPLIED) {
      ++parts;
      voided += d.effects_size();
      EXPECT_EQ(d.parts(), kParts);
    }
    if (d.event_id() == "after") {
      EXPECT_EQ(d.reason(), "CAMPAIGN_NOT_ACTIVE");
    }
  }
  EXPECT_EQ(parts, kParts);
  EXPECT_EQ(voided, kCoupons);
  expect_matches_replay_and_reconciles(ds);
}

TEST_F(CampaigndTest, AnEventAMonthAfterAFestivalExpiresEverythingInParts) {
  // Proves the quiet-month case: after a 400,000-event festival, one event
  // far later expires every outstanding coupon (thousands of effects) in
  // one decision, published in parts; campaignd killed with SIGKILL before
  // they are out publishes them once after a restart, the event after it is
  // decided, and the journal equals replay and reconciles.
  std::int64_t records = produce_simulation("festival --seed 47 --events 400000");
  auto daemon = start_campaignd("festival", "pb");
  ASSERT_TRUE(wait_for_decisions(records, milliseconds(120'000))) << read_file(dir_ / "campaignd-festival.out");
  auto event = [](const std::string& json) {
    Envelope e;
    std::string error;
    EXPECT_TRUE(dangol::json::parse_envelope(json, &e, &error)) << error << json;
    return e;
  };
  for (int p = 0; p < kPartitions; ++p) {
    ASSERT_EQ(rd_kafka_mock_partition_set_leader(broker_->cluster(), "campaign.decisions", p, -1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  records += produce_events({event(R"({"eventId":"month-later","occurredAt":"2030-01-01T00:00:00Z",)"
                                   R"("merchantEnrolled":{"merchantId":"m-late","marketId":"mk","category":"food"}})")},
                            0, 1);
  std::this_thread::sleep_for(milliseconds(1'500));
  EXPECT_EQ(daemon->stop(SIGKILL, milliseconds(5'000)), 128 + SIGKILL);
  for (int p = 0; p < kPartitions; ++p) {
    ASSERT_EQ(rd_kafka_mock_partition_set_leader(broker_->cluster(), "campaign.decisions", p, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  records += produce_events({event(R"({"eventId":"after-month","occurredAt":"2030-01-01T00:00:01Z",)"
                                   R"("merchantEnrolled":{"merchantId":"m-later","marketId":"mk","category":"food"}})")},
                            0, 1);
  daemon = start_campaignd("month", "pb");
  ASSERT_TRUE(wait_until_recovered("month", milliseconds(60'000)));
  // The parts are extra records: wait until the topic stops growing.
  std::int64_t size = -1;
  for (auto until = Clock::now() + milliseconds(60'000); Clock::now() < until;) {
    std::this_thread::sleep_for(milliseconds(1'000));
    const std::int64_t now = topic_size("campaign.decisions");
    if (now == size && now > records) break;
    size = now;
  }
  ASSERT_TRUE(decisions_->wait_for(size, milliseconds(60'000)));
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  auto ds = without_identical_repeats(decisions());
  expect_exactly_once(ds, records);
  std::int64_t expired = 0, parts = 0;
  for (const auto& d : ds) {
    if (d.event_id() != "month-later") continue;
    ++parts;
    expired += d.effects_size();  // an enrolment has no effects of its own
  }
  std::cout << "the month-later event expired " << expired << " coupons in " << parts << " parts\n";
  EXPECT_GT(parts, 10) << "the month-later event expires thousands of coupons";
  EXPECT_GT(expired, 2'560);
  expect_matches_replay_and_reconciles(ds);
}

TEST_F(CampaigndTest, ABacklogIsDecidedInEventTimeTheSameWayWhateverTheBatches) {
  // Proves DESIGN §5 "Order across partitions": a 120,000-event festival
  // waiting in 16 partitions (claims keyed by customer, redemptions by
  // merchant, campaign events copied to every partition) is decided in
  // event time, not in fetch order: no redemption meets UNKNOWN_COUPON
  // because its claim's partition was fetched later (in fetch order, such
  // a backlog gave 26,934 of them in 200,000), the outcomes are those of
  // `campaignctl replay` in file order, and two fresh campaignd with very
  // different batches decide byte-identical journals.
  const std::vector<Envelope> events = simulate("festival --seed 53 --events 120000");
  std::int64_t records = produce_events(events, 0, events.size());
  for (const std::string topic : {"a.decisions", "a.dlq", "b.decisions", "b.dlq"}) {
    ASSERT_EQ(rd_kafka_mock_topic_create(broker_->cluster(), topic.c_str(), kPartitions, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  std::map<std::string, std::vector<std::string>> journals;  // by run: decisions in seq order
  for (const auto& [run, batch] : {std::pair<std::string, std::string>{"a", "3000"}, {"b", "97"}}) {
    TopicCollector collected(broker_->bootstrap_servers(), run + ".decisions", kPartitions);
    Child daemon({campaignd(), "--brokers", broker_->bootstrap_servers(), "--state-dir",
                  (dir_ / ("state-" + run)).string(), "--decisions-topic", run + ".decisions", "--dlq-topic",
                  run + ".dlq", "--decisions-format", "json", "--batch-records", batch, "--batch-wait-ms",
                  run == "a" ? "20" : "1"},
                 dir_ / ("campaignd-" + run + ".out"), dir_ / ("campaignd-" + run + ".err"));
    ASSERT_TRUE(collected.wait_for(records, milliseconds(120'000))) << read_file(dir_ / ("campaignd-" + run + ".out"));
    EXPECT_EQ(daemon.stop(SIGTERM, milliseconds(15'000)), 0);
    std::map<std::int64_t, std::string> by_seq;
    for (const auto& r : collected.records()) {
      Decision d;
      std::string error;
      ASSERT_TRUE(dangol::json::parse_decision(r.value, &d, &error)) << error;
      by_seq.emplace(d.seq(), r.value);
    }
    for (auto& [seq, value] : by_seq) journals[run].push_back(std::move(value));
  }
  ASSERT_EQ(journals["a"].size(), journals["b"].size());
  for (std::size_t i = 0; i < journals["a"].size(); ++i) {
    ASSERT_EQ(journals["a"][i], journals["b"][i]) << "the journals part at seq " << i + 1;
  }
  // The outcomes of the festival as it happened: replay in file order.
  std::ofstream file(dir_ / "festival.jsonl");
  for (const auto& e : events) {
    std::string json;
    dangol::json::append_envelope(e, &json);
    file << json << "\n";
  }
  file.close();
  RunResult replay = run(campaignctl() + " replay --events " + (dir_ / "festival.jsonl").string(), dir_, 120);
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  auto reasons = [](const std::vector<std::string>& lines, bool once_per_event) {
    std::map<std::string, std::int64_t> count;
    std::set<std::string> seen;
    for (const auto& line : lines) {
      Decision d;
      std::string error;
      EXPECT_TRUE(dangol::json::parse_decision(line, &d, &error)) << error;
      // A campaign event is one record per partition: its copy that applied
      // counts, the others are DUPLICATE.
      if (once_per_event && d.outcome() == Decision::DUPLICATE && !seen.insert(d.event_id()).second) continue;
      if (d.outcome() != Decision::DUPLICATE) seen.insert(d.event_id());
      count[Decision::Outcome_Name(d.outcome()) + " " + d.reason()]++;
    }
    return count;
  };
  std::vector<std::string> replayed;
  std::istringstream lines(replay.out);
  for (std::string line; std::getline(lines, line);) replayed.push_back(line);
  auto by_campaignd = reasons(journals["a"], true);
  auto by_replay = reasons(replayed, false);
  EXPECT_EQ(by_campaignd["REJECTED UNKNOWN_COUPON"], by_replay["REJECTED UNKNOWN_COUPON"]);
  EXPECT_EQ(by_campaignd["REJECTED CAMPAIGN_NOT_ACTIVE"], by_replay["REJECTED CAMPAIGN_NOT_ACTIVE"]);
  EXPECT_EQ(by_campaignd["APPLIED "], by_replay["APPLIED "]);
}

TEST_F(CampaigndTest, ABacklogInManyPartitionsIsDecidedInEventTimeAcrossAKill) {
  // Proves the merge order end to end: the pilot (welcome coupons) and a
  // festival (customer-keyed claims, merchant-keyed redemptions, campaign
  // events copied to every partition) produced to 64 partitions before
  // campaignd starts, with campaignd killed (SIGKILL) mid-backlog and
  // restarted, are decided exactly in the order of the rule, computed here
  // from the topic alone: the buffered head with the smallest occurredAt,
  // ties by partition then offset. So every decision's occurredAt is at
  // least the one before it, except an event that is late within its own
  // partition, decided when it arrives. The journal reconciles.
  constexpr int kMany = 64;
  for (const std::string topic : {"m.events", "m.decisions", "m.dlq"}) {
    ASSERT_EQ(rd_kafka_mock_topic_create(broker_->cluster(), topic.c_str(), kMany, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  std::vector<Envelope> events = simulate("pilot");
  for (auto& e : simulate("festival --seed 61 --events 100000")) events.push_back(std::move(e));
  TopicCollector topic(broker_->bootstrap_servers(), "m.events", kMany);
  TopicCollector journal(broker_->bootstrap_servers(), "m.decisions", kMany);
  std::string scratch;
  std::int64_t records = 0;
  for (const auto& e : events) {
    ASSERT_TRUE(kafka::produce_envelope(*producer_, "m.events", kMany, e, &scratch).ok());
    records += kafka::is_broadcast(e) ? kMany : 1;
  }
  ASSERT_TRUE(producer_->flush(std::chrono::seconds(60)).ok());
  ASSERT_TRUE(topic.wait_for(records, milliseconds(60'000)));
  auto start = [&](const std::string& tag) {
    return std::make_unique<Child>(
        std::vector<std::string>{campaignd(), "--brokers", broker_->bootstrap_servers(), "--state-dir",
                                 (dir_ / "state").string(), "--events-topic", "m.events", "--decisions-topic",
                                 "m.decisions", "--dlq-topic", "m.dlq", "--decisions-format", "json"},
        dir_ / ("campaignd-" + tag + ".out"), dir_ / ("campaignd-" + tag + ".err"));
  };
  auto daemon = start("m-1");
  ASSERT_TRUE(journal.wait_for(records / 3, milliseconds(60'000))) << read_file(dir_ / "campaignd-m-1.out");
  EXPECT_EQ(daemon->stop(SIGKILL, milliseconds(5'000)), 128 + SIGKILL);
  daemon = start("m-2");
  ASSERT_TRUE(journal.wait_for(records, milliseconds(120'000))) << read_file(dir_ / "campaignd-m-2.out");
  std::this_thread::sleep_for(milliseconds(1'000));  // any last parts
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);

  // The rule, from the topic alone.
  struct Head {
    std::int64_t time;
    std::int64_t offset;
  };
  std::vector<std::vector<Head>> partitions(kMany);
  for (const auto& r : topic.records()) {
    Envelope e;
    ASSERT_TRUE(e.ParseFromString(r.value));
    partitions[r.partition].push_back({e.occurred_at().seconds() * 1'000'000'000 + e.occurred_at().nanos(), r.offset});
  }
  std::vector<std::pair<std::int32_t, std::int64_t>> want;
  std::vector<std::size_t> next(kMany, 0);
  for (;;) {
    int best = -1;
    for (int p = 0; p < kMany; ++p) {
      if (next[p] == partitions[p].size()) continue;
      if (best < 0 || partitions[p][next[p]].time < partitions[best][next[best]].time) best = p;
    }
    if (best < 0) break;
    want.emplace_back(best, partitions[best][next[best]++].offset);
  }
  // What campaignd decided, by seq (parts after the first aside).
  std::map<std::int64_t, Decision> by_seq;
  for (const auto& r : journal.records()) {
    Decision d;
    std::string error;
    ASSERT_TRUE(dangol::json::parse_decision(r.value, &d, &error)) << error;
    by_seq.emplace(d.seq(), d);
  }
  std::vector<std::pair<std::int32_t, std::int64_t>> got;
  std::ofstream file(dir_ / "m-journal.jsonl");
  for (const auto& [seq, d] : by_seq) {
    std::string json;
    dangol::json::append_decision(d, &json);
    file << json << "\n";
    if (d.part() <= 1) got.emplace_back(d.partition(), d.offset());
  }
  file.close();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], want[i]) << "decision " << i + 1 << " is not the rule's next";
  }
  RunResult rec = run(campaignctl() + " reconcile --decisions " + (dir_ / "m-journal.jsonl").string(), dir_, 120);
  EXPECT_EQ(rec.exit_code, 0) << rec.out.substr(0, 3000);
}

TEST_F(CampaigndTest, APartitionThatSendsNothingHoldsTheOthersBackOnlyForMaxIdle) {
  // Proves the bounded wait of the event-time merge: an events partition
  // without a leader (behind its end, nothing fetched) holds the others
  // back for --max-idle-ms only, the log says so, and its records are
  // decided once it is back; every record is decided exactly once.
  std::int64_t records = produce_simulation("festival --seed 59 --events 20000");
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(broker_->cluster(), "campaign.events", 5, -1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  auto daemon = start_campaignd("idle", "pb", {"--max-idle-ms", "1500"});
  ASSERT_TRUE(wait_until_recovered("idle", milliseconds(30'000)));
  const auto recovered = Clock::now();
  // The others are decided after the wait, while partition 5 is away.
  ASSERT_TRUE(decisions_->wait_for(records / 2, milliseconds(30'000))) << read_file(dir_ / "campaignd-idle.out");
  EXPECT_GE(Clock::now() - recovered, milliseconds(1'400));
  const std::string log = read_file(dir_ / "campaignd-idle.out");
  EXPECT_NE(log.find("partition 5 of campaign.events sent nothing for 1500 ms"), std::string::npos) << log;
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(broker_->cluster(), "campaign.events", 5, 1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(wait_for_decisions(records, milliseconds(60'000))) << read_file(dir_ / "campaignd-idle.out");
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  expect_exactly_once(without_identical_repeats(decisions()), records);
}

TEST_F(CampaigndTest, AnOversizedUndecodableRecordIsDeadLetteredCutToFit) {
  // Proves a record of 1,048,000 bytes that is not an envelope (the events
  // topic took it; the DLQ cannot take it whole) is dead-lettered with its
  // value cut to fit and a `truncated` header with its original size,
  // exactly once, and the partition moves on: the event behind it is decided.
  // Before, the DLQ refused it (Message size too large) and campaignd tried
  // again every 135 ms for ever.
  const std::string garbage(1'048'000, 'g');
  {
    // Larger than a client takes by default (message.max.bytes 1,000,000),
    // as a producer configured for it may write.
    kafka::ProducerOptions options;
    options.bootstrap_servers = broker_->bootstrap_servers();
    options.config = {{"message.max.bytes", "2000000"}};
    std::unique_ptr<kafka::Producer> big;
    ASSERT_TRUE(kafka::Producer::create(options, &big).ok());
    ASSERT_TRUE(big->produce({"campaign.events", "m-huge", garbage, 3}).ok());
    ASSERT_TRUE(big->flush(std::chrono::seconds(30)).ok());
  }
  Envelope e;
  std::string error;
  ASSERT_TRUE(dangol::json::parse_envelope(R"({"eventId":"after-huge","occurredAt":"2026-05-01T00:00:00Z",)"
                                           R"("merchantEnrolled":{"merchantId":"m-huge","marketId":"mk",)"
                                           R"("category":"food"}})",
                                           &e, &error))
      << error;
  ASSERT_TRUE(producer_->produce({"campaign.events", "m-huge", e.SerializeAsString(), 3}).ok());
  ASSERT_TRUE(producer_->flush(std::chrono::seconds(30)).ok());
  auto daemon = start_campaignd("huge", "pb");
  ASSERT_TRUE(wait_for_decisions(1, milliseconds(30'000))) << read_file(dir_ / "campaignd-huge.out");
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  const std::string log = read_file(dir_ / "campaignd-huge.out");
  EXPECT_NE(log.find("1 dead letters"), std::string::npos) << log;  // records, not tries
  auto ds = decisions();
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].event_id(), "after-huge");
  const std::string kcat = "kcat -C -b " + broker_->bootstrap_servers() +
                           " -t campaign.dlq -p 3 -o beginning -e -q -f '%h|%S\\n'";
  RunResult dlq = run(kcat, dir_, 60);
  ASSERT_EQ(dlq.exit_code, 0) << dlq.err;
  std::istringstream lines(dlq.out);
  std::string line;
  int letters = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    ++letters;
    EXPECT_NE(line.find("truncated=1048000"), std::string::npos) << line.substr(0, 300);
    const std::int64_t size = std::stoll(line.substr(line.rfind('|') + 1));
    EXPECT_LT(size, 1'000'000);
    EXPECT_GT(size, 990'000);
  }
  EXPECT_EQ(letters, 1) << dlq.out.substr(0, 500);
}

TEST_F(CampaigndTest, ARecordTheTopicRefusesForGoodStopsWithExit3AndLosesNothing) {
  // Proves a permanent publishing error (the broker answers "Message size
  // too large") is not retried for ever: campaignd exits 3 with one line
  // naming the topic, and a restart once the cause is gone decides and
  // publishes everything exactly once.
  std::int64_t records = produce_simulation("festival --seed 31 --events 2000");
  constexpr std::int16_t kProduceApiKey = 0;
  rd_kafka_mock_push_request_errors(broker_->cluster(), kProduceApiKey, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  auto daemon = start_campaignd("refused", "pb");
  const int code = daemon->wait_for_exit(milliseconds(30'000));
  const std::string log = read_file(dir_ / "campaignd-refused.out");
  EXPECT_EQ(code, 3) << log;
  EXPECT_NE(log.find("campaign.decisions refused the decision of seq"), std::string::npos) << log;
  EXPECT_NE(log.find("Message size too large"), std::string::npos) << log;
  daemon = start_campaignd("after", "pb");
  ASSERT_TRUE(wait_for_decisions(records, milliseconds(60'000))) << read_file(dir_ / "campaignd-after.out");
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  expect_exactly_once(without_identical_repeats(decisions()), records);
}

TEST_F(CampaigndTest, AnAuthorizationFailureOnTheEventsStopsWithExit3) {
  // Proves an error no retry can fix while consuming (the broker answers
  // TOPIC_AUTHORIZATION_FAILED) stops campaignd with exit 3 and a line
  // naming the events topic, instead of logging it for ever; a restart
  // once the ACLs are right decides everything exactly once.
  std::int64_t records = produce_simulation("festival --seed 43 --events 3000");
  constexpr std::int16_t kFetchApiKey = 1;
  rd_kafka_mock_push_request_errors(broker_->cluster(), kFetchApiKey, 3, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  auto daemon = start_campaignd("denied", "pb");
  const int code = daemon->wait_for_exit(milliseconds(30'000));
  const std::string log = read_file(dir_ / "campaignd-denied.out");
  EXPECT_EQ(code, 3) << log;
  EXPECT_NE(log.find("reading campaign.events is not allowed"), std::string::npos) << log;
  rd_kafka_mock_clear_request_errors(broker_->cluster(), kFetchApiKey);
  daemon = start_campaignd("allowed", "pb");
  ASSERT_TRUE(wait_for_decisions(records, milliseconds(60'000))) << read_file(dir_ / "campaignd-allowed.out");
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  expect_exactly_once(without_identical_repeats(decisions()), records);
}

TEST_F(CampaigndTest, WaitModeAnswersADecisionInPartsWhole) {
  // Proves POST /v1/events?wait=1 answers a decision published in parts
  // (CONTRACT §3) whole: one decision with every effect, the seq of its
  // first part, and neither `part` nor `parts`.
  std::string events =
      R"({"eventId":"def","occurredAt":"2026-05-01T00:00:00Z","campaignDefined":{"campaignId":"w","name":"W",)"
      R"("currency":"KRW","startsAt":"2026-05-01T00:00:00Z","endsAt":"2027-05-01T00:00:00Z","utcOffsetMinutes":0,)"
      R"("funders":[{"funderId":"gov","budget":"100000000","shareBps":10000}],"trigger":"ISSUED",)"
      R"("offer":{"fixedAmount":"1000","validDays":30}}})";
  std::vector<Envelope> claims;
  {
    Envelope e;
    std::string error;
    ASSERT_TRUE(dangol::json::parse_envelope(events, &e, &error)) << error;
    claims.push_back(e);
    for (int i = 0; i < 600; ++i) {
      ASSERT_TRUE(dangol::json::parse_envelope(
          R"({"eventId":"c-)" + std::to_string(i) + R"(","occurredAt":"2026-05-02T00:00:00Z","couponIssued":)"
          R"({"campaignId":"w","customerId":"u-)" + std::to_string(i) + R"("}})",
          &e, &error))
          << error;
      claims.push_back(e);
    }
  }
  const std::int64_t records = produce_events(claims, 0, claims.size());
  auto daemon = start_campaignd("wait", "pb", {"--http", "127.0.0.1:0"});
  ASSERT_TRUE(wait_for_decisions(records, milliseconds(60'000))) << read_file(dir_ / "campaignd-wait.out");
  const std::string log = read_file(dir_ / "campaignd-wait.out");
  const auto at = log.find("HTTP API on http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string port = log.substr(at + 29, log.find(' ', at + 29) - at - 29);
  std::ofstream(dir_ / "close.json")
      << R"({"eventId":"close","occurredAt":"2026-05-03T00:00:00Z","campaignStatusChanged":{"campaignId":"w","status":"CLOSED"}})";
  RunResult r = run("curl -s -X POST --data-binary @" + (dir_ / "close.json").string() + " 'http://127.0.0.1:" + port +
                        "/v1/events?wait=1'",
                    dir_, 60);
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // {"decisions":[{...}]}: one decision object, the applied copy.
  const auto first = r.out.find("{\"eventId\"");
  ASSERT_NE(first, std::string::npos) << r.out.substr(0, 500);
  const auto end = r.out.rfind("]}");
  Decision d;
  std::string error;
  ASSERT_TRUE(dangol::json::parse_decision(r.out.substr(first, end - first), &d, &error)) << error;
  EXPECT_EQ(d.outcome(), Decision::APPLIED);
  EXPECT_EQ(d.effects_size(), 600);
  EXPECT_EQ(d.part(), 0);
  EXPECT_EQ(d.parts(), 0);
  EXPECT_EQ(r.out.find("\"parts\""), std::string::npos);
}

TEST_F(CampaigndTest, ReadyzSaysWhenTheBrokersAreUnreachableWhileIdle) {
  // Proves /readyz turns 503 with the reason within seconds of the brokers
  // going away while campaignd has nothing to do (it stayed 200 for 80 s),
  // and 200 again when they are back.
  auto daemon = start_campaignd("ready", "pb", {"--http", "127.0.0.1:0"});
  ASSERT_TRUE(wait_until_recovered("ready", milliseconds(30'000)));
  std::string port;
  for (auto until = Clock::now() + milliseconds(10'000); port.empty() && Clock::now() < until;) {
    const std::string log = read_file(dir_ / "campaignd-ready.out");
    if (auto at = log.find("HTTP API on http://127.0.0.1:"); at != std::string::npos) {
      port = log.substr(at + 29, log.find(' ', at + 29) - at - 29);
    }
  }
  ASSERT_FALSE(port.empty());
  auto readyz = [&] {
    return run("curl -s -w '%{http_code}' http://127.0.0.1:" + port + "/readyz", dir_, 10).out;
  };
  EXPECT_NE(readyz().find("200"), std::string::npos);
  ASSERT_EQ(rd_kafka_mock_broker_set_down(broker_->cluster(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::string answer;
  for (auto until = Clock::now() + milliseconds(10'000); Clock::now() < until;) {
    answer = readyz();
    if (answer.find("503") != std::string::npos) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_NE(answer.find("brokers unreachable"), std::string::npos) << answer;
  EXPECT_NE(answer.find("503"), std::string::npos) << answer;
  ASSERT_EQ(rd_kafka_mock_broker_set_up(broker_->cluster(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  for (auto until = Clock::now() + milliseconds(15'000); Clock::now() < until;) {
    answer = readyz();
    if (answer.find("200") != std::string::npos) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_NE(answer.find("\"ready\":true"), std::string::npos) << answer;
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
}

TEST_F(CampaigndTest, AFullDiskStopsWithExit3AndLosesNothing) {
  // Proves a state dir on a full disk (a 30 MiB tmpfs) is a fault, not a
  // crash: campaignd exits 3 with "no space left on device" and the path
  // before RocksDB fails a write (it aborted inside RocksDB in 3 of 4 runs),
  // a restart on the still-full disk exits 3 again, and the state moved to
  // a larger disk resumes with every record decided exactly once.
  const fs::path small = dir_ / "small";
  fs::create_directories(small);
  if (std::system(("mount -t tmpfs -o size=30m tmpfs " + small.string() + " 2>/dev/null").c_str()) != 0) {
    GTEST_SKIP() << "mounting a tmpfs needs root";
  }
  struct Unmount {
    fs::path at;
    ~Unmount() { (void)std::system(("umount " + at.string()).c_str()); }
  } unmount{small};
  std::int64_t records = produce_simulation("festival --seed 37 --events 60000");
  auto on = [&](const fs::path& state, const std::string& tag) {
    return std::make_unique<Child>(
        std::vector<std::string>{campaignd(), "--brokers", broker_->bootstrap_servers(), "--state-dir",
                                 state.string(), "--partitions", std::to_string(kPartitions)},
        dir_ / ("campaignd-" + tag + ".out"), dir_ / ("campaignd-" + tag + ".err"));
  };
  for (const std::string tag : {"full-1", "full-2"}) {
    auto daemon = on(small / "state", tag);
    const int code = daemon->wait_for_exit(milliseconds(60'000));
    const std::string log = read_file(dir_ / ("campaignd-" + tag + ".out"));
    EXPECT_EQ(code, 3) << log;
    EXPECT_NE(log.find("no space left on device: " + (small / "state").string()), std::string::npos) << log;
  }
  ASSERT_EQ(std::system(("cp -a " + (small / "state").string() + " " + (dir_ / "state").string()).c_str()), 0);
  auto daemon = start_campaignd("larger", "pb");
  ASSERT_TRUE(wait_for_decisions(records, milliseconds(60'000))) << read_file(dir_ / "campaignd-larger.out");
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  auto ds = decisions();
  expect_exactly_once(ds, records);
  expect_matches_replay_and_reconciles(ds);
}

TEST_F(CampaigndTest, FreezesAtRandomMomentsLoseAndRepeatNothing) {
  // Proves exactly-once across freezes (SIGSTOP for 15 s, then SIGCONT, as a
  // VM migration, a stalled disk or a paused container does) at random
  // moments while a stream flows: records in flight at the freeze outlive
  // the 5 s delivery timeout, and some are delivered after later ones. The
  // journal must have one decision per record, seqs gapless (byte-identical
  // repeats aside: the development broker keeps retried duplicates), equal
  // to replay and reconciled. Before the fix, 4 of 6 such runs lost
  // hundreds to thousands of decisions.
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("DANGOL_SEED")) seed = std::strtoull(s, nullptr, 10);
  SCOPED_TRACE("DANGOL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  constexpr int kFreezes = 5;
  constexpr auto kFreeze = milliseconds(15'000);
  const std::vector<Envelope> events = simulate("festival --seed 41 --events 150000");
  auto daemon = start_campaignd("freeze", "pb", {"--broker-timeout-ms", "5000"});
  ASSERT_TRUE(wait_until_recovered("freeze", milliseconds(30'000)));
  std::int64_t records = 0;
  for (int f = 0; f < kFreezes; ++f) {
    // Feed this round's share in slices while campaignd runs, and freeze it
    // at a random moment of the feeding: it is busy deciding and publishing.
    const std::size_t begin = events.size() * f / kFreezes, end = events.size() * (f + 1) / kFreezes;
    const milliseconds before(100 + rng() % 900);
    std::thread feeder([&] {
      constexpr int kSlices = 10;
      for (int c = 0; c < kSlices; ++c) {
        records += produce_events(events, begin + (end - begin) * c / kSlices, begin + (end - begin) * (c + 1) / kSlices);
        std::this_thread::sleep_for(milliseconds(100));
      }
    });
    std::this_thread::sleep_for(before);
    ASSERT_EQ(::kill(daemon->pid(), SIGSTOP), 0);
    std::this_thread::sleep_for(kFreeze);
    ASSERT_EQ(::kill(daemon->pid(), SIGCONT), 0);
    feeder.join();
  }
  const bool all = wait_for_decisions(records, milliseconds(120'000));
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  const std::string log = read_file(dir_ / "campaignd-freeze.out");
  ASSERT_TRUE(all) << "the topic has " << topic_size("campaign.decisions") << " of " << records << " decisions\n"
                   << log.substr(log.size() > 6000 ? log.size() - 6000 : 0) << read_file(dir_ / "campaignd-freeze.err");
  auto ds = without_identical_repeats(decisions());
  expect_exactly_once(ds, records);
  expect_matches_replay_and_reconciles(ds);
}

TEST_F(CampaigndTest, DeliveryTimeoutsOfPartOfTheOutboxLoseNothing) {
  // Proves that a decision whose delivery timed out is sent again even when
  // later decisions of its partition were delivered: the failure behind the
  // decisions lost after a SIGSTOP (issue 22). Events flow for 5 s while
  // two decisions partitions lose their leader for 3 s, with a 2 s delivery
  // timeout: what campaignd produced there in the first second times out,
  // what it produced in the next one is delivered when the leader is back,
  // ahead of the resends. Before the fix, recovery took the highest seq in
  // a partition for "everything below is published", and the timed-out
  // decisions were never published.
  const std::vector<Envelope> events = simulate("festival --seed 29 --events 120000");
  auto daemon = start_campaignd("timeouts", "pb", {"--broker-timeout-ms", "2000"});
  ASSERT_TRUE(wait_until_recovered("timeouts", milliseconds(30'000)));
  std::atomic<std::int64_t> records{0};
  constexpr int kChunks = 50;
  std::thread feeder([&] {
    for (int c = 0; c < kChunks; ++c) {
      records += produce_events(events, events.size() * c / kChunks, events.size() * (c + 1) / kChunks);
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  std::this_thread::sleep_for(milliseconds(1'000));
  for (int p : {3, 7}) {
    ASSERT_EQ(rd_kafka_mock_partition_set_leader(broker_->cluster(), "campaign.decisions", p, -1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  std::this_thread::sleep_for(milliseconds(3'000));
  for (int p : {3, 7}) {
    ASSERT_EQ(rd_kafka_mock_partition_set_leader(broker_->cluster(), "campaign.decisions", p, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  feeder.join();
  const bool all = wait_for_decisions(records, milliseconds(60'000));
  EXPECT_EQ(daemon->stop(SIGTERM, milliseconds(15'000)), 0);
  const std::string log = read_file(dir_ / "campaignd-timeouts.out");
  ASSERT_TRUE(all) << "decisions lost: the topic has " << topic_size("campaign.decisions") << " of " << records
                   << " records\n"
                   << log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
  // The fault did strike: some delivery timed out and was sent again.
  EXPECT_NE(log.find("outbox had"), std::string::npos) << log;
  expect_exactly_once(without_identical_repeats(decisions()), records);
}

}  // namespace
