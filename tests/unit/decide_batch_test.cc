// Engine::decide_batch (prefetching, and hashing each id once for both the
// prefetch and the decision) decides exactly as Engine::decide one event at
// a time: the same wire decisions, byte for byte, for a random stream with
// every kind of id the keys cover (coupon ids given or taken from the event
// id, known and unknown coupons and customers, customers added to merchants'
// channels and welcomed, duplicates, conflicts and invalid events), at batch
// sizes from one to the whole stream.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/encode.h"
#include "engine/engine.h"
#include "proto/json_codec.h"
#include "tests/unit/engine_fixture.h"

namespace dangol::testing {
namespace {

std::vector<std::string> random_stream(std::uint64_t seed, int events) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  std::vector<std::string> lines;
  std::int64_t t = 0;
  auto line = [&](const std::string& id, const std::string& kind, const std::string& payload) {
    lines.push_back(R"({"eventId":")" + id + R"(","occurredAt":")" + at(t) + R"(",")" + kind + R"(":)" + payload +
                    "}");
  };
  CampaignSpec issued;
  issued.id = "c-issued";
  issued.funders = R"([{"funderId":"gov","budget":"200000","shareBps":6000},)"
                   R"({"funderId":"pvt","budget":"200000","shareBps":4000}])";
  issued.limits = R"({"perCustomer":"3"})";
  line("def-1", "campaignDefined", issued.json());
  CampaignSpec welcome;
  welcome.id = "c-welcome";
  welcome.trigger = "CHANNEL_ADDED";
  welcome.limits = R"({"perCustomer":"2"})";  // a customer is one customer at every merchant
  line("def-2", "campaignDefined", welcome.json());
  for (int m = 0; m < 5; ++m) {
    line("enrol-" + std::to_string(m), "merchantEnrolled",
         R"({"merchantId":"m-)" + std::to_string(m) + R"(","marketId":"mkt-1","category":"food"})");
    if (m < 4) {  // m-4 has no channel
      line("open-" + std::to_string(m), "channelOpened",
           R"({"merchantId":"m-)" + std::to_string(m) + R"(","channelId":"ch-)" + std::to_string(m) + R"("})");
    }
  }
  std::vector<std::string> coupon_ids;
  for (int i = 0; i < events; ++i) {
    t += pick(4000);
    const std::string id = "ev-" + std::to_string(i);
    const std::string customer = "u-" + std::to_string(pick(60));
    const std::string merchant = "m-" + std::to_string(pick(6));  // m-5 is not enrolled
    switch (pick(9)) {
      case 0:
      case 1:  // a coupon named by its event id
        line(id, "couponIssued", R"({"campaignId":"c-issued","customerId":")" + customer + R"("})");
        coupon_ids.push_back(id);
        break;
      case 2: {  // a coupon id of its own, sometimes one that exists already
        const std::string coupon = "k/" + std::to_string(pick(40));
        line(id, "couponIssued",
             R"({"campaignId":"c-issued","customerId":")" + customer + R"(","couponId":")" + coupon + R"(","merchantId":")" +
                 merchant + R"("})");
        coupon_ids.push_back(coupon);
        break;
      }
      case 3:
      case 4: {  // a known coupon, or one never issued
        const std::string coupon =
            coupon_ids.empty() || pick(5) == 0 ? "k/never" : coupon_ids[static_cast<std::size_t>(pick(static_cast<int>(coupon_ids.size())))];
        line(id, "couponRedeemed",
             R"({"couponId":")" + coupon + R"(","merchantId":")" + merchant + R"(","orderAmount":"20000"})");
        break;
      }
      case 5:
        if (!coupon_ids.empty()) {
          line(id, "redemptionReversed",
               R"({"couponId":")" + coupon_ids[static_cast<std::size_t>(pick(static_cast<int>(coupon_ids.size())))] +
                   R"(","merchantId":")" + merchant + R"("})");
        }
        break;
      case 6:
        line(id, "channelAdded", R"({"merchantId":")" + merchant + R"(","customerId":")" + customer + R"("})");
        break;
      case 7:  // the same event again (a duplicate), or its id with other content (a conflict)
        if (!lines.empty()) {
          std::string again = lines[static_cast<std::size_t>(pick(static_cast<int>(lines.size())))];
          if (pick(2) == 0) again.replace(again.find("occurredAt") + 13, 4, "2099");
          lines.push_back(again);
        }
        break;
      case 8:  // invalid: an id with a byte no id may have
        line(id + " !", "couponIssued", R"({"campaignId":"c-issued","customerId":")" + customer + R"("})");
        break;
    }
  }
  return lines;
}

std::vector<std::string> decide_one_by_one(const std::vector<v1::Envelope>& envelopes) {
  Engine engine;
  std::vector<std::string> out;
  v1::Decision decision;
  for (std::size_t i = 0; i < envelopes.size(); ++i) {
    const Verdict& verdict = engine.decide(envelopes[i]);
    encode_decision(engine.state(), verdict, envelopes[i], Position{0, static_cast<std::int64_t>(i)}, &decision);
    out.push_back(decision.SerializeAsString());
  }
  EXPECT_TRUE(engine.check_invariants().empty());
  return out;
}

std::vector<std::string> decide_in_batches(const std::vector<v1::Envelope>& envelopes, std::size_t batch) {
  Engine engine;
  std::vector<std::string> out;
  v1::Decision decision;
  for (std::size_t begin = 0; begin < envelopes.size(); begin += batch) {
    const std::size_t n = std::min(batch, envelopes.size() - begin);
    std::vector<const v1::Envelope*> pointers;
    for (std::size_t i = 0; i < n; ++i) pointers.push_back(&envelopes[begin + i]);
    engine.decide_batch(pointers, [&](std::size_t i, const Verdict& verdict) {
      encode_decision(engine.state(), verdict, envelopes[begin + i],
                      Position{0, static_cast<std::int64_t>(begin + i)}, &decision);
      out.push_back(decision.SerializeAsString());
    });
  }
  EXPECT_TRUE(engine.check_invariants().empty());
  return out;
}

TEST(DecideBatch, DecidesAsOneByOneAtEveryBatchSize) {
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("DANGOL_SEED")) seed = std::strtoull(s, nullptr, 10);
  SCOPED_TRACE("DANGOL_SEED=" + std::to_string(seed));
  std::vector<v1::Envelope> envelopes;
  for (const std::string& line : random_stream(seed, 3000)) {
    std::string error;
    ASSERT_TRUE(json::parse_envelope(line, &envelopes.emplace_back(), &error)) << error << "\n" << line;
  }
  const std::vector<std::string> expected = decide_one_by_one(envelopes);
  for (std::size_t batch : {std::size_t{1}, std::size_t{2}, std::size_t{5}, std::size_t{64}, envelopes.size()}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    const std::vector<std::string> got = decide_in_batches(envelopes, batch);
    ASSERT_EQ(got.size(), expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], expected[i]) << "decision " << i << " differs for " << envelopes[i].ShortDebugString();
    }
  }
}

}  // namespace
}  // namespace dangol::testing
