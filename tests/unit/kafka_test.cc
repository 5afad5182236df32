// Kafka building blocks against librdkafka's mock cluster over real TCP:
// routing (CONTRACT §2), the DevBroker, the idempotent Producer, and the
// binaries `campaignctl devbroker` / `campaignctl produce` read back with kcat.
// Every wait has a deadline; the whole binary runs in well under a minute.

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "proto/json_codec.h"
#include "services/kafka/admin.h"
#include "services/kafka/consumer.h"
#include "services/kafka/dev_broker.h"
#include "services/kafka/envelope_producer.h"
#include "services/kafka/handles.h"
#include "services/kafka/producer.h"
#include "services/kafka/routing.h"
#include "tests/unit/kafka_test_util.h"

namespace {

using namespace dangol::test;  // NOLINT: test helpers
namespace fs = std::filesystem;
namespace kafka = dangol::kafka;
using dangol::v1::Envelope;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

Envelope parse(const std::string& json) {
  Envelope e;
  std::string error;
  EXPECT_TRUE(dangol::json::parse_envelope(json, &e, &error)) << json << ": " << error;
  return e;
}

std::string channel_added(int n, const std::string& merchant) {
  return R"({"eventId":"ev-)" + std::to_string(n) + R"(","occurredAt":"2023-08-01T09:00:00+09:00",)" +
         R"("channelAdded":{"merchantId":")" + merchant + R"(","customerId":"c-)" + std::to_string(n) + R"("}})";
}

std::string budget_adjusted(int n) {
  return R"({"eventId":"ev-)" + std::to_string(n) + R"(","occurredAt":"2023-08-01T09:00:00+09:00",)" +
         R"("budgetAdjusted":{"campaignId":"cmp-1","funderId":"kakao","delta":")" + std::to_string(n) + R"("}})";
}

kafka::ProducerOptions producer_options(const std::string& bootstrap, int timeout_ms = 10'000) {
  kafka::ProducerOptions o;
  o.bootstrap_servers = bootstrap;
  o.message_timeout_ms = timeout_ms;
  return o;
}

// ---------------------------------------------------------------- routing

TEST(Routing, KeysFollowTheContract) {
  // Proves each payload kind gets the routing key of CONTRACT §2.
  const std::string head = R"({"eventId":"ev-1","occurredAt":"2023-08-01T09:00:00Z",)";
  EXPECT_EQ(kafka::routing_key(parse(head + R"("channelAdded":{"merchantId":"m-1","customerId":"c-1"}})")), "m-1");
  EXPECT_EQ(kafka::routing_key(parse(head + R"("merchantEnrolled":{"merchantId":"m-2","marketId":"x"}})")), "m-2");
  EXPECT_EQ(kafka::routing_key(parse(head + R"("couponRedeemed":{"couponId":"k","merchantId":"m-3"}})")), "m-3");
  EXPECT_EQ(kafka::routing_key(parse(head + R"("messageSent":{"merchantId":"m-4","recipients":1}})")), "m-4");
  EXPECT_EQ(kafka::routing_key(parse(head + R"("couponIssued":{"campaignId":"k","customerId":"c-9"}})")), "c-9");
  EXPECT_EQ(kafka::routing_key(
                parse(head + R"("couponIssued":{"campaignId":"k","customerId":"c-9","merchantId":"m-5"}})")),
            "m-5");
  for (const char* payload : {R"("campaignDefined":{"campaignId":"k"}})", R"("budgetAdjusted":{"campaignId":"k"}})",
                              R"("campaignStatusChanged":{"campaignId":"k","status":"PAUSED"}})"}) {
    Envelope e = parse(head + payload);
    EXPECT_TRUE(kafka::is_broadcast(e)) << payload;
    EXPECT_EQ(kafka::routing_key(e), kafka::kBroadcastKey) << payload;
  }
  // No payload, or an empty routing id: keyed by eventId (the engine answers
  // INVALID; the record stays on one deterministic partition).
  EXPECT_EQ(kafka::routing_key(parse(R"({"eventId":"ev-7","occurredAt":"2023-08-01T09:00:00Z"})")), "ev-7");
  EXPECT_EQ(kafka::routing_key(parse(head + R"("channelOpened":{"channelId":"ch"}})")), "ev-1");
}

TEST(Routing, Murmur2MatchesTheJavaClient) {
  // Proves our murmur2 is Kafka's (vectors from Kafka's UtilsTest.testMurmur2).
  EXPECT_EQ(static_cast<std::int32_t>(kafka::murmur2("21")), -973932308);
  EXPECT_EQ(static_cast<std::int32_t>(kafka::murmur2("foobar")), -790332482);
  EXPECT_EQ(static_cast<std::int32_t>(kafka::murmur2("a-little-bit-long-string")), -985981536);
  EXPECT_EQ(static_cast<std::int32_t>(kafka::murmur2("a-little-bit-longer-string")), -1486304829);
  EXPECT_EQ(static_cast<std::int32_t>(kafka::murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")), -58897971);
  EXPECT_EQ(static_cast<std::int32_t>(kafka::murmur2("abc")), 479470107);
}

// ---------------------------------------------------------------- DevBroker

TEST(DevBroker, ServesTheThreeTopicsWithTheRequestedPartitions) {
  // Proves the mock cluster listens on loopback and has events, decisions and
  // dlq with N partitions each, as a client sees them through metadata.
  std::unique_ptr<kafka::DevBroker> broker;
  kafka::DevBrokerOptions options;
  options.partitions = 3;
  ASSERT_TRUE(kafka::DevBroker::start(options, &broker).ok());
  EXPECT_EQ(broker->bootstrap_servers().rfind("127.0.0.1:", 0), 0u) << broker->bootstrap_servers();
  ASSERT_NE(broker->cluster(), nullptr);
  std::unique_ptr<kafka::Producer> producer;
  ASSERT_TRUE(kafka::Producer::create(producer_options(broker->bootstrap_servers()), &producer).ok());
  for (const char* topic : {"campaign.events", "campaign.decisions", "campaign.dlq"}) {
    int count = 0;
    kafka::Status s = producer->partition_count(topic, &count);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(count, 3) << topic;
  }
  producer.reset();
  broker->stop();
  EXPECT_EQ(broker->cluster(), nullptr);
  broker->stop();  // idempotent
}

TEST(DevBroker, RejectsOutOfRangeOptions) {
  // Proves bad sizes are a returned status, not a crash.
  std::unique_ptr<kafka::DevBroker> broker;
  kafka::DevBrokerOptions options;
  options.partitions = 0;
  EXPECT_FALSE(kafka::DevBroker::start(options, &broker).ok());
  EXPECT_EQ(broker, nullptr);
}

// ---------------------------------------------------------------- Producer

class ProducerTest : public ::testing::Test {
 protected:
  static constexpr int kPartitions = 4;
  void SetUp() override {
    kafka::DevBrokerOptions options;
    options.partitions = kPartitions;
    kafka::Status s = kafka::DevBroker::start(options, &broker_);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  std::unique_ptr<kafka::DevBroker> broker_;
};

TEST_F(ProducerTest, RoutesEventsAndBroadcastsAndReadsThemBack) {
  // Proves, over TCP: every record arrives once; a broadcast event is in
  // every partition with identical bytes; a merchant's events share one
  // partition (the Java client's murmur2 choice) in produce order; keys are
  // the routing keys.
  std::unique_ptr<kafka::Producer> producer;
  ASSERT_TRUE(kafka::Producer::create(producer_options(broker_->bootstrap_servers()), &producer).ok());
  int partitions = 0;
  ASSERT_TRUE(producer->partition_count("campaign.events", &partitions).ok());
  ASSERT_EQ(partitions, kPartitions);

  const std::vector<std::string> merchants = {"m-001", "m-002", "m-003", "m-004", "m-005", "m-006", "m-007"};
  std::map<std::string, std::vector<std::string>> produced_by_key;  // key -> eventIds in produce order
  std::map<std::string, std::string> broadcast_bytes;              // eventId -> bytes
  std::string bytes;
  int keyed = 0, broadcast = 0;
  for (int n = 1; n <= 350; ++n) {
    Envelope e = parse(n % 50 == 0 ? budget_adjusted(n) : channel_added(n, merchants[n % merchants.size()]));
    kafka::Status s = kafka::produce_envelope(*producer, "campaign.events", partitions, e, &bytes);
    ASSERT_TRUE(s.ok()) << s.message();
    if (kafka::is_broadcast(e)) {
      ++broadcast;
      broadcast_bytes[e.event_id()] = bytes;
    } else {
      ++keyed;
      produced_by_key[kafka::routing_key(e)].push_back(e.event_id());
    }
  }
  kafka::Status flushed = producer->flush(seconds(15));
  ASSERT_TRUE(flushed.ok()) << flushed.message();
  EXPECT_EQ(producer->delivered(kafka::kKeyedTag), keyed);
  EXPECT_EQ(producer->delivered(kafka::kBroadcastTag), broadcast * kPartitions);
  EXPECT_EQ(producer->failed(), 0);

  std::vector<Consumed> records = consume_all(broker_->bootstrap_servers(), "campaign.events", kPartitions);
  ASSERT_EQ(static_cast<int>(records.size()), keyed + broadcast * kPartitions);

  std::map<std::string, std::vector<std::string>> consumed_by_key;
  std::map<std::string, std::set<std::int32_t>> partitions_of_key;
  std::map<std::string, std::set<std::int32_t>> broadcast_partitions;
  for (const Consumed& r : records) {
    Envelope e;
    ASSERT_TRUE(e.ParseFromString(r.value)) << "value is not a protobuf Envelope";
    EXPECT_EQ(r.key, kafka::routing_key(e));
    if (kafka::is_broadcast(e)) {
      EXPECT_EQ(r.value, broadcast_bytes[e.event_id()]) << e.event_id();
      EXPECT_TRUE(broadcast_partitions[e.event_id()].insert(r.partition).second) << "twice in one partition";
    } else {
      consumed_by_key[r.key].push_back(e.event_id());  // records are in offset order per partition
      partitions_of_key[r.key].insert(r.partition);
      EXPECT_EQ(r.partition, kafka::murmur2_partition(r.key, kPartitions)) << r.key;
    }
  }
  EXPECT_EQ(consumed_by_key, produced_by_key);  // same events, same order, per merchant
  for (const auto& [key, ps] : partitions_of_key) EXPECT_EQ(ps.size(), 1u) << key;
  EXPECT_EQ(broadcast_partitions.size(), static_cast<std::size_t>(broadcast));
  for (const auto& [id, ps] : broadcast_partitions) EXPECT_EQ(ps.size(), std::size_t{kPartitions}) << id;
}

TEST_F(ProducerTest, WaitsForRoomWhenTheLocalQueueIsFull) {
  // Proves a tiny local queue (8 records) is handled by serving delivery
  // reports, not by failing: all 500 records are delivered.
  kafka::ProducerOptions options = producer_options(broker_->bootstrap_servers());
  options.max_queued_records = 8;
  std::unique_ptr<kafka::Producer> producer;
  ASSERT_TRUE(kafka::Producer::create(options, &producer).ok());
  int max_in_flight = 0;
  for (int i = 0; i < 500; ++i) {
    std::string key = "m-" + std::to_string(i % 13), value = "v" + std::to_string(i);
    kafka::Status s = producer->produce({.topic = "campaign.events", .key = key, .value = value});
    ASSERT_TRUE(s.ok()) << s.message();
    max_in_flight = std::max(max_in_flight, producer->in_flight());
  }
  ASSERT_TRUE(producer->flush(seconds(15)).ok());
  EXPECT_EQ(producer->delivered(), 500);
  EXPECT_GT(producer->queue_full_waits(), 0);  // the wait path ran
  // outq_len counts the 8 records plus events not yet polled (a batch of
  // delivery reports, an error event).
  EXPECT_LE(max_in_flight, 8 + 4);
}

TEST_F(ProducerTest, HeadersAndDeliveryCallbackCarryTheCallersData) {
  // Proves headers reach the broker and each delivery report returns the
  // caller's id with the partition and offset it got.
  std::map<std::uint64_t, std::pair<std::int32_t, std::int64_t>> reports;
  kafka::ProducerOptions options = producer_options(broker_->bootstrap_servers());
  options.on_delivery = [&reports](const kafka::Delivery& d) {
    EXPECT_TRUE(d.status->ok()) << d.status->message();
    reports[d.id] = {d.partition, d.offset};
  };
  std::unique_ptr<kafka::Producer> producer;
  ASSERT_TRUE(kafka::Producer::create(options, &producer).ok());
  const kafka::Header headers[] = {{"shard", "2"}, {"seq", "17"}};
  for (std::uint64_t id = 1; id <= 3; ++id) {
    ASSERT_TRUE(producer
                    ->produce({.topic = "campaign.decisions", .key = "m-1", .value = "d", .partition = 2,
                               .headers = headers, .id = id})
                    .ok());
  }
  ASSERT_TRUE(producer->flush(seconds(15)).ok());
  ASSERT_EQ(reports.size(), 3u);
  for (std::uint64_t id = 1; id <= 3; ++id) {
    EXPECT_EQ(reports[id].first, 2);
    EXPECT_EQ(reports[id].second, static_cast<std::int64_t>(id - 1));
  }
  std::vector<Consumed> records = consume_all(broker_->bootstrap_servers(), "campaign.decisions", kPartitions);
  ASSERT_EQ(records.size(), 3u);
  // Headers: read one record back with librdkafka's header API.
  kafka::ConfPtr conf;
  ASSERT_TRUE(kafka::make_conf({{"bootstrap.servers", broker_->bootstrap_servers()}, {"group.id", "h"}}, &conf).ok());
  kafka::HandlePtr rk;
  ASSERT_TRUE(kafka::new_handle(RD_KAFKA_CONSUMER, std::move(conf), &rk).ok());
  rd_kafka_poll_set_consumer(rk.get());
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), "campaign.decisions", 2)->offset = RD_KAFKA_OFFSET_BEGINNING;
  ASSERT_EQ(rd_kafka_assign(rk.get(), list.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  const auto deadline = Clock::now() + seconds(10);
  kafka::MessagePtr m;
  while (Clock::now() < deadline) {
    m.reset(rd_kafka_consumer_poll(rk.get(), 100));
    if (m && !m->err) break;
  }
  ASSERT_TRUE(m && !m->err);
  rd_kafka_headers_t* hdrs = nullptr;
  ASSERT_EQ(rd_kafka_message_headers(m.get(), &hdrs), RD_KAFKA_RESP_ERR_NO_ERROR);
  const void* value = nullptr;
  size_t size = 0;
  ASSERT_EQ(rd_kafka_header_get_last(hdrs, "seq", &value, &size), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(std::string(static_cast<const char*>(value), size), "17");
  rd_kafka_consumer_close(rk.get());
}

TEST_F(ProducerTest, ReadRangesReadsTheTailsOfManyPartitionsAtOnce) {
  // Proves campaignd's tail read: ranges of several partitions of two
  // topics are read together, each record of a range exactly once and in
  // offset order, records outside the ranges not at all, headers in place.
  std::unique_ptr<kafka::Producer> producer;
  ASSERT_TRUE(kafka::Producer::create(producer_options(broker_->bootstrap_servers()), &producer).ok());
  for (int i = 0; i < 50; ++i) {
    const std::string seq = std::to_string(i);
    const kafka::Header headers[] = {{"seq", seq}};
    for (std::int32_t p : {0, 3}) {
      ASSERT_TRUE(producer->produce({.topic = "campaign.decisions", .value = seq, .partition = p, .headers = headers}).ok());
    }
    ASSERT_TRUE(producer->produce({.topic = "campaign.dlq", .value = seq, .partition = 1, .headers = headers}).ok());
  }
  ASSERT_TRUE(producer->flush(seconds(15)).ok());
  std::unique_ptr<kafka::Consumer> reader;
  ASSERT_TRUE(kafka::Consumer::create({.bootstrap_servers = broker_->bootstrap_servers()}, &reader).ok());
  const std::vector<kafka::OffsetRange> ranges = {
      {"campaign.decisions", 0, 40, 50}, {"campaign.decisions", 3, 0, 5}, {"campaign.dlq", 1, 49, 50},
      {"campaign.decisions", 2, 0, 0}};  // empty: nothing to read
  std::map<std::size_t, std::vector<std::int64_t>> offsets;
  kafka::Status s = kafka::read_ranges(*reader, ranges, seconds(15), [&](std::size_t i, const rd_kafka_message_t& m) {
    offsets[i].push_back(m.offset);
    EXPECT_EQ(kafka::header_view(&m, "seq"), std::to_string(m.offset));
    EXPECT_EQ(kafka::header_view(&m, "absent"), "");
  });
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(offsets[0], (std::vector<std::int64_t>{40, 41, 42, 43, 44, 45, 46, 47, 48, 49}));
  EXPECT_EQ(offsets[1], (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(offsets[2], (std::vector<std::int64_t>{49}));
  EXPECT_EQ(offsets.count(3), 0u);
}

TEST_F(ProducerTest, WatermarksOfManyPartitionsAreReadAtOnce) {
  // Proves the batched watermark read that campaignd starts with: every
  // partition asked, of two topics and in any order, gets its own low and
  // high watermark; a partition that does not exist is an error, not a hang.
  std::unique_ptr<kafka::Producer> producer;
  ASSERT_TRUE(kafka::Producer::create(producer_options(broker_->bootstrap_servers()), &producer).ok());
  const std::map<std::pair<std::string, std::int32_t>, int> counts = {
      {{"campaign.decisions", 0}, 7}, {{"campaign.decisions", 2}, 3}, {{"campaign.dlq", 1}, 5}};
  for (const auto& [where, n] : counts) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(producer->produce({.topic = where.first, .value = "x", .partition = where.second}).ok());
    }
  }
  ASSERT_TRUE(producer->flush(seconds(15)).ok());
  std::unique_ptr<kafka::Consumer> consumer;
  ASSERT_TRUE(kafka::Consumer::create({.bootstrap_servers = broker_->bootstrap_servers()}, &consumer).ok());
  std::vector<kafka::PartitionWatermarks> asked;
  for (std::int32_t p = kPartitions - 1; p >= 0; --p) {
    for (const char* topic : {"campaign.dlq", "campaign.decisions"}) asked.push_back({topic, p, -7, -7});
  }
  kafka::Status s = consumer->watermarks(&asked, seconds(15));
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(asked.size(), 2u * kPartitions);
  for (const auto& w : asked) {
    auto it = counts.find({w.topic, w.partition});
    EXPECT_EQ(w.low, 0) << w.topic << " " << w.partition;
    EXPECT_EQ(w.high, it == counts.end() ? 0 : it->second) << w.topic << " " << w.partition;
  }

  std::vector<kafka::PartitionWatermarks> unknown = {{"campaign.decisions", 0}, {"campaign.decisions", kPartitions}};
  s = consumer->watermarks(&unknown, seconds(3));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("campaign.decisions [4]"), std::string::npos) << s.message();
  std::vector<kafka::PartitionWatermarks> none;
  EXPECT_TRUE(consumer->watermarks(&none, seconds(1)).ok());
}

TEST_F(ProducerTest, ReportsFailedDeliveriesWhenTheBrokerGoesDown) {
  // Proves that with the broker down (mock fault injection) every record
  // fails within message.timeout.ms with a retriable status, and flush says so.
  std::unique_ptr<kafka::Producer> producer;
  ASSERT_TRUE(kafka::Producer::create(producer_options(broker_->bootstrap_servers(), 1'500), &producer).ok());
  int partitions = 0;
  ASSERT_TRUE(producer->partition_count("campaign.events", &partitions).ok());
  ASSERT_EQ(rd_kafka_mock_broker_set_down(broker_->cluster(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  const auto start = Clock::now();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(producer->produce({.topic = "campaign.events", .key = "m-1", .value = "v"}).ok());
  }
  kafka::Status s = producer->flush(seconds(10));
  EXPECT_LT(Clock::now() - start, seconds(8));
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.retriable()) << s.message();
  EXPECT_FALSE(s.fatal()) << s.message();
  EXPECT_EQ(producer->failed(), 10);
  EXPECT_EQ(producer->delivered(), 0);
  EXPECT_EQ(producer->first_error().code(), RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) << s.message();
  // Once the broker is back, a resend flushes ok: a failure is reported
  // once, not by every later flush (campaignd resends its outbox after one).
  // (The client reconnects with backoff, so the first resends may time out
  // too: each flush reports its own failures.)
  ASSERT_EQ(rd_kafka_mock_broker_set_up(broker_->cluster(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  for (int attempt = 0; attempt < 10; ++attempt) {
    ASSERT_TRUE(producer->produce({.topic = "campaign.events", .key = "m-1", .value = "v"}).ok());
    s = producer->flush(seconds(10));
    if (s.ok()) break;
  }
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(producer->delivered(), 1);
  EXPECT_EQ(producer->first_error().code(), RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
}

TEST_F(ProducerTest, MockBrokerDoesNotDeduplicateIdempotentRetries) {
  // Proves (and pins) a limit of librdkafka 2.0.2's mock that campaignd must
  // design around: when a Produce response is late, the idempotent producer
  // retries the possibly-persisted batch with the same sequence numbers, and
  // the mock appends it again (a real broker would drop the duplicate). Each
  // record still gets exactly one delivery report. If this starts failing
  // after a librdkafka upgrade, the mock has learned deduplication.
  constexpr std::int16_t kProduceApiKey = 0;
  kafka::ProducerOptions options = producer_options(broker_->bootstrap_servers());
  // A request unanswered for 500 ms times out (checked once a second).
  options.config = {{"request.timeout.ms", "500"}, {"socket.timeout.ms", "500"}, {"linger.ms", "50"}};
  std::unique_ptr<kafka::Producer> producer;
  ASSERT_TRUE(kafka::Producer::create(options, &producer).ok());
  int partitions = 0;
  ASSERT_TRUE(producer->partition_count("campaign.events", &partitions).ok());
  // The broker appends the first batch but answers only after 3 s.
  ASSERT_EQ(rd_kafka_mock_broker_push_request_error_rtts(broker_->cluster(), 1, kProduceApiKey, 1,
                                                         RD_KAFKA_RESP_ERR_NO_ERROR, 3'000),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  for (int i = 0; i < 50; ++i) {
    std::string value = std::to_string(i);
    ASSERT_TRUE(producer->produce({.topic = "campaign.events", .value = value, .partition = 1}).ok());
  }
  kafka::Status s = producer->flush(seconds(15));
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(producer->delivered(), 50);
  std::vector<Consumed> records = consume_all(broker_->bootstrap_servers(), "campaign.events", kPartitions);
  ASSERT_EQ(records.size(), 100u) << "the mock deduplicated the retry: update campaignd's notes on the dev broker";
  for (std::size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i].value, std::to_string(i % 50));
}

// ---------------------------------------------------------------- topics

class TopicsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kafka::DevBroker::start({}, &broker_).ok());
    ASSERT_TRUE(kafka::Producer::create(producer_options(broker_->bootstrap_servers()), &producer_).ok());
  }
  // The topics the cluster lists (all-topics metadata: creates nothing).
  std::map<std::string, int> listed() {
    const rd_kafka_metadata_t* raw = nullptr;
    std::map<std::string, int> out;
    EXPECT_EQ(rd_kafka_metadata(producer_->handle(), 1, nullptr, &raw, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
    kafka::MetadataPtr md(raw);
    for (int i = 0; md && i < md->topic_cnt; ++i) out[md->topics[i].topic] = md->topics[i].partition_cnt;
    return out;
  }
  void create(const std::string& topic, int partitions) {
    ASSERT_EQ(rd_kafka_mock_topic_create(broker_->cluster(), topic.c_str(), partitions, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  std::unique_ptr<kafka::DevBroker> broker_;
  std::unique_ptr<kafka::Producer> producer_;
};

TEST_F(TopicsTest, ExistingTopicsWithEqualCountsAreAccepted) {
  // Proves the normal case: the DevBroker's three topics, nothing created.
  int partitions = 0;
  std::vector<std::string> created;
  kafka::Status s = kafka::ensure_topics(producer_->handle(), {"campaign.events", "campaign.decisions", "campaign.dlq"},
                                         8, seconds(10), &partitions, &created);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(partitions, 4);
  EXPECT_TRUE(created.empty());
}

TEST_F(TopicsTest, DifferentPartitionCountsAreRefusedWithBothCounts) {
  // Proves a decisions or DLQ topic whose partition count differs from the
  // events topic's stops campaignd with a message naming both counts.
  create("t.events", 8);
  create("t.decisions", 4);
  create("t.dlq", 8);
  int partitions = 0;
  kafka::Status s = kafka::ensure_topics(producer_->handle(), {"t.events", "t.decisions", "t.dlq"}, 0, seconds(10),
                                         &partitions);
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(s.retriable());
  EXPECT_EQ(s.message(), "t.decisions has 4 partitions but t.events has 8; they must be equal (CONTRACT §2)");
  create("u.events", 2);
  create("u.decisions", 2);
  create("u.dlq", 3);
  s = kafka::ensure_topics(producer_->handle(), {"u.events", "u.decisions", "u.dlq"}, 0, seconds(10), &partitions);
  EXPECT_EQ(s.message(), "u.dlq has 3 partitions but u.events has 2; they must be equal (CONTRACT §2)");
}

TEST_F(TopicsTest, MissingEventsTopicWithoutACountIsNotCreated) {
  // Proves that without create_partitions nothing is created, not even by
  // the lookup (which reads all topics' metadata rather than naming them:
  // naming one lets the broker auto-create it with its defaults).
  int partitions = 0;
  kafka::Status s = kafka::ensure_topics(producer_->handle(), {"v.events", "v.decisions", "v.dlq"}, 0, seconds(10),
                                         &partitions);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) << s.message();
  EXPECT_NE(s.message().find("--partitions"), std::string::npos) << s.message();
  auto topics = listed();
  EXPECT_EQ(topics.count("v.events"), 0u);
  EXPECT_EQ(topics.count("v.decisions"), 0u);
}

TEST_F(TopicsTest, AMissingTopicIsCreatedOrWaitedFor) {
  // Proves a missing DLQ next to an existing events topic is either created
  // with the events topic's partition count or, where the broker cannot
  // create topics, reported as retriable, so that campaignd waits rather
  // than guessing. (librdkafka 2.0.2's mock cluster names no controller, so
  // its CreateTopics times out "waiting for controller": the creation
  // itself is not exercised here.)
  create("w.events", 6);
  create("w.decisions", 6);
  int partitions = 0;
  std::vector<std::string> created;
  kafka::Status s = kafka::ensure_topics(producer_->handle(), {"w.events", "w.decisions", "w.dlq"}, 0, seconds(2),
                                         &partitions, &created);
  if (s.ok()) {
    EXPECT_EQ(partitions, 6);
    EXPECT_EQ(created, std::vector<std::string>{"w.dlq"});
    EXPECT_EQ(listed()["w.dlq"], 6);
  } else {
    EXPECT_TRUE(s.retriable()) << s.message();
    EXPECT_NE(s.message().find("create the topics beforehand"), std::string::npos) << s.message();
    EXPECT_EQ(listed().count("w.dlq"), 0u) << "nothing may be auto-created with the broker's default count";
  }
}

TEST(Producer, UnreachableBrokersFailWithinTheTimeout) {
  // Proves that with nothing listening, asking for metadata fails within the
  // configured timeout (not forever), as a retriable status with the cause.
  std::unique_ptr<kafka::Producer> producer;
  ASSERT_TRUE(kafka::Producer::create(producer_options("127.0.0.1:1", 1'000), &producer).ok());
  const auto start = Clock::now();
  int partitions = 0;
  kafka::Status s = producer->partition_count("campaign.events", &partitions);
  EXPECT_LT(Clock::now() - start, seconds(5));
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.retriable()) << s.message();
  EXPECT_NE(s.message().find("127.0.0.1:1"), std::string::npos) << s.message();
}

TEST(Producer, BadConfigurationIsAStatus) {
  // Proves an invalid librdkafka property is reported, naming it.
  kafka::ProducerOptions options = producer_options("127.0.0.1:1");
  options.config = {{"no.such.property", "1"}};
  std::unique_ptr<kafka::Producer> producer;
  kafka::Status s = kafka::Producer::create(options, &producer);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no.such.property"), std::string::npos) << s.message();
}

TEST_F(ProducerTest, JsonlSkipsUndecodableLinesAndCountsTheRest) {
  // Proves produce_jsonl reports a bad line by its number, skips blank lines,
  // produces the rest, and counts keyed records and broadcast copies.
  const std::vector<std::string> lines = {channel_added(1, "m-1"), "", "{not json", budget_adjusted(2),
                                          channel_added(3, "m-2")};
  std::size_t i = 0;
  kafka::NextLine next = [&](kafka::InputLine* line) {
    if (i == lines.size()) return false;
    line->text = lines[i];
    line->number = static_cast<std::int64_t>(++i);
    return true;
  };
  std::unique_ptr<kafka::Producer> producer;
  ASSERT_TRUE(kafka::Producer::create(producer_options(broker_->bootstrap_servers()), &producer).ok());
  std::ostringstream diagnostics;
  kafka::JsonlProduceStats stats;
  kafka::Status s = kafka::produce_jsonl(next, *producer, "campaign.events", seconds(15), diagnostics, &stats);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(diagnostics.str().rfind("line 3: skipped: ", 0), 0u) << diagnostics.str();
  EXPECT_EQ(stats.lines, 4);
  EXPECT_EQ(stats.skipped, 1);
  EXPECT_EQ(stats.keyed_events, 2);
  EXPECT_EQ(stats.broadcast_events, 1);
  EXPECT_EQ(stats.delivered_keyed, 2);
  EXPECT_EQ(stats.delivered_broadcast_copies, kPartitions);
  EXPECT_EQ(kafka::format_summary("campaign.events", stats),
            "produced 6 records to campaign.events (2 keyed events, 1 broadcast event x 4 partitions = 4 copies); "
            "1 undecodable line skipped");
}

// ---------------------------------------------------------------- binaries

class BinariesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dangol-kafka-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(BinariesTest, DevbrokerProduceAndKcatAgree) {
  // Proves the user's path: `campaignctl devbroker` prints its bootstrap list
  // first and writes it to --brokers-file; `campaignctl produce` routes a
  // JSONL file (skipping a bad line) and says what it delivered; kcat reads
  // the routing keys back on the murmur2 partitions; SIGTERM exits 0.
  const fs::path brokers_file = dir_ / "brokers";
  Child devbroker({campaignctl(), "devbroker", "--partitions", "4", "--brokers-file", brokers_file.string()},
                  dir_ / "devbroker.out", dir_ / "devbroker.err");
  const auto deadline = Clock::now() + seconds(10);
  while (!fs::exists(brokers_file) && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(20));
  ASSERT_TRUE(fs::exists(brokers_file)) << "devbroker did not write " << brokers_file;
  std::string bootstrap = read_file(brokers_file);
  ASSERT_FALSE(bootstrap.empty());
  ASSERT_EQ(bootstrap.back(), '\n');
  bootstrap.pop_back();
  EXPECT_EQ(read_file(dir_ / "devbroker.out"), bootstrap + "\n");  // the first (and only) stdout line
  EXPECT_NE(read_file(dir_ / "devbroker.err").find("in-memory"), std::string::npos);

  std::ofstream(dir_ / "events.jsonl") << R"({"eventId":"ev-1","occurredAt":"2023-08-01T09:00:00+09:00","campaignDefined":{"campaignId":"welcome","name":"Welcome","currency":"KRW","startsAt":"2023-08-01T00:00:00+09:00","endsAt":"2023-09-01T00:00:00+09:00","funders":[{"funderId":"kakao","budget":"1000000","shareBps":10000}],"trigger":"CHANNEL_ADDED","offer":{"fixedAmount":"2000","validDays":14}}}
{"eventId":"ev-2","occurredAt":"2023-08-01T09:01:00+09:00","merchantEnrolled":{"merchantId":"m-001","marketId":"mangwon","category":"bakery"}}
{"eventId":"ev-3","occurredAt":"2023-08-01T09:02:00+09:00","channelOpened":{"merchantId":"m-001","channelId":"ch-1"}}
{"eventId":"ev-4","occurredAt":"2023-08-01T09:03:00+09:00","channelAdded":{"merchantId":"m-001","customerId":"c-42"}}

this line is not an envelope
{"eventId":"ev-5","occurredAt":"2023-08-01T09:04:00+09:00","channelAdded":{"merchantId":"m-002","customerId":"c-43"}}
{"eventId":"ev-6","occurredAt":"2023-08-01T09:05:00+09:00","couponIssued":{"campaignId":"welcome","customerId":"c-77"}}
{"eventId":"ev-7","occurredAt":"2023-08-01T09:06:00+09:00","budgetAdjusted":{"campaignId":"welcome","funderId":"kakao","delta":"-5000"}}
)";
  RunResult produced = run(campaignctl() + " produce --brokers " + bootstrap + " " + (dir_ / "events.jsonl").string(), dir_);
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  EXPECT_EQ(produced.out,
            "produced 13 records to campaign.events (5 keyed events, 2 broadcast events x 4 partitions = 8 copies); "
            "1 undecodable line skipped\n");
  EXPECT_EQ(produced.err.rfind("line 6: skipped: ", 0), 0u) << produced.err;

  RunResult kcat = run("kcat -C -b " + bootstrap + " -t campaign.events -e -o beginning -f '%p %k\\n'", dir_);
  ASSERT_EQ(kcat.exit_code, 0) << kcat.err;
  std::multiset<std::string> keys;
  std::map<int, int> broadcast_per_partition;
  std::istringstream lines(kcat.out);
  int partition = 0;
  std::string key;
  while (lines >> partition >> key) {
    keys.insert(key);
    if (key == kafka::kBroadcastKey) {
      ++broadcast_per_partition[partition];
    } else {
      EXPECT_EQ(partition, kafka::murmur2_partition(key, 4)) << key;
    }
  }
  EXPECT_EQ(keys, (std::multiset<std::string>{"m-001", "m-001", "m-001", "m-002", "c-77", "broadcast", "broadcast",
                                              "broadcast", "broadcast", "broadcast", "broadcast", "broadcast",
                                              "broadcast"}));
  EXPECT_EQ(broadcast_per_partition, (std::map<int, int>{{0, 2}, {1, 2}, {2, 2}, {3, 2}}));

  EXPECT_EQ(devbroker.stop(SIGTERM, seconds(10)), 0);
}

TEST_F(BinariesTest, ProduceToADeadBrokerExits3WithinTheDefaultTimeout) {
  // Proves that with nothing listening, produce fails with exit 3 and one
  // clear stderr line within ~10 s (the default timeout), instead of hanging.
  std::ofstream(dir_ / "events.jsonl") << channel_added(1, "m-1") << "\n";
  RunResult r = run(campaignctl() + " produce --brokers 127.0.0.1:1 " + (dir_ / "events.jsonl").string(), dir_);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_LT(r.elapsed, seconds(15));
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("campaignctl: produce to 127.0.0.1:1 failed", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(BinariesTest, BadFlagsAreUsageErrors) {
  // Proves flag mistakes exit 2 (CONTRACT §4).
  EXPECT_EQ(run(campaignctl() + " produce", dir_).exit_code, 2);  // --brokers is required
  EXPECT_EQ(run(campaignctl() + " devbroker --partitions 0", dir_).exit_code, 2);
}

}  // namespace
