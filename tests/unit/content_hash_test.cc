// The idempotency hashes are persisted in the state store (seen event ids
// with their content hashes), so they must never change between versions:
// a changed content hash would turn every redelivered event of a running
// shard into EVENT_ID_CONFLICT. These golden values pin both hashes for one
// event of each shape, optional fields present and absent, and the legacy
// content hash that states written before content_hash took id keys hold.

#include "engine/content_hash.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "engine/decode.h"
#include "engine/engine.h"
#include "engine/restore.h"
#include "proto/json_codec.h"

namespace dangol {
namespace {

struct Golden {
  const char* json;
  std::uint64_t content, legacy;  // content_hash, legacy_content_hash
  std::uint64_t key_high, key_low;
};

const Golden kGolden[] = {
    {R"({"eventId":"e-1","occurredAt":"2024-05-01T10:00:00Z","couponIssued":{"campaignId":"camp-a",)"
     R"("customerId":"u-1","merchantId":"m-1"}})",
     0xa164c89a0dad004aull, 0xe43bab23c94d7453ull, 0x17087c4052212cb7ull, 0x3d21bc8729acd985ull},
    {R"({"eventId":"e-2","occurredAt":"2024-05-01T10:00:01.5Z","couponIssued":{"campaignId":"camp-a",)"
     R"("customerId":"u-1","couponId":"k/1"}})",
     0x93a633a3184c670full, 0xdc0074f0a3058f64ull, 0x5d8e619ecb070021ull, 0xd99f0192e8394c6eull},
    {R"({"eventId":"e-3","occurredAt":"2024-05-01T10:00:02Z","couponRedeemed":{"couponId":"k/1",)"
     R"("merchantId":"m-1","orderAmount":"27000","discount":"2700"}})",
     0x0af24649989dd278ull, 0x1057345ef3658df2ull, 0xff64401ff5710a98ull, 0xf7d563a3590f8ad9ull},
    {R"({"eventId":"e-4","occurredAt":"2024-05-01T10:00:03Z","campaignDefined":{"campaignId":"camp-b","name":"B",)"
     R"("currency":"KRW","startsAt":"2024-01-01T00:00:00Z","endsAt":"2025-01-01T00:00:00Z","utcOffsetMinutes":540,)"
     R"("funders":[{"funderId":"gov","budget":"1000000","shareBps":5000},{"funderId":"pvt","budget":"1000000",)"
     R"("shareBps":5000}],"eligibility":{"marketIds":["mkt-1"],"merchantIds":["m-1","m-2"],"categories":["food"]},)"
     R"("trigger":"ISSUED","offer":{"percentBps":1000,"maxDiscount":"5000","minOrderAmount":"1000","validDays":7},)"
     R"("limits":{"perCustomer":"2","perMerchantCount":"10","totalCount":"100","perMerchantAmount":"50000",)"
     R"("dailyAmount":"20000"},"messageCash":{"perMerchant":"3000"},"redemptionGraceSeconds":"3600",)"
     R"("alertThresholdsBps":[5000,9000]}})",
     0x6df4f4b761faa6f5ull, 0x6df4f4b761faa6f5ull, 0x799ada6b5c52fb3dull, 0x62db96968141ca74ull},
    {R"({"eventId":"e-5","occurredAt":"2024-05-01T10:00:04Z","messageSent":{"merchantId":"m-1","recipients":"12",)"
     R"("unitCost":"8"}})",
     0xa0133d582aeaf568ull, 0xa0133d582aeaf568ull, 0x1d8af13c17ccf7e2ull, 0xebd78f53e1b1f930ull},
    {R"({"eventId":"e-6","occurredAt":"2024-05-01T10:00:05Z","budgetAdjusted":{"campaignId":"camp-b",)"
     R"("funderId":"gov","delta":"-500"}})",
     0x5215d8ce1d57dbf9ull, 0x5215d8ce1d57dbf9ull, 0x1651dc4dec0c7f2bull, 0xb955382a38d03981ull},
    // Ids of 17 to 32 bytes and of more, copied by each of the canonical
    // form's paths (legacy_content_hash).
    {R"({"eventId":"e-8","occurredAt":"2024-05-01T10:00:07Z","couponIssued":{"campaignId":"buy-local-2023-09",)"
     R"("customerId":"a-customer-id-of-32-bytes-000000","merchantId":"a-merchant-id-of-more-than-32-bytes",)"
     R"("couponId":"coupon/of-24-bytes-000000"}})",
     0xf5b481cdecb44158ull, 0x1bd2da07c27449c4ull, 0xd24bd6471aef1e43ull, 0xdbd7eb882c6be209ull},
    {R"({"eventId":"an-event-id-of-more-than-thirty-two-bytes","occurredAt":"2024-05-01T10:00:06Z",)"
     R"("channelAdded":{"merchantId":"m-1","customerId":"u-2"}})",
     0xf00f615b243eafc3ull, 0xf00f615b243eafc3ull, 0x16b09334ffc97af9ull, 0xc841c1fdc70efd52ull},
    {R"({"eventId":"e-9","occurredAt":"2024-05-01T10:00:08Z","couponRedeemed":{"couponId":"k/1",)"
     R"("merchantId":"m-1","orderAmount":"27000"}})",
     0x47b99d9868afb8c7ull, 0xf1abcb3b277dc9d5ull, 0x77e071ac0db51b60ull, 0xf6d8ece675f094a2ull},
    {R"({"eventId":"e-10","occurredAt":"2024-05-01T10:00:09Z","redemptionReversed":{"couponId":"k/1",)"
     R"("merchantId":"m-1"}})",
     0x66c8c6950d34f8a4ull, 0xb4d9c3a53b6ebac4ull, 0x03012d05d003ea2full, 0xd6c8057b2f5bbb18ull},
};

// A campaign naming 200 merchants: its canonical form is several kB.
TEST(ContentHash, LargeEventsHashAsBefore) {
  std::string merchants;
  for (int i = 0; i < 200; ++i) merchants += (i ? ",\"m-" : "\"m-") + std::to_string(100000 + i) + "\"";
  const std::string json =
      R"({"eventId":"big","occurredAt":"2024-05-01T10:00:00Z","campaignDefined":{"campaignId":"c","name":"C",)"
      R"("currency":"KRW","startsAt":"2024-01-01T00:00:00Z","endsAt":"2025-01-01T00:00:00Z",)"
      R"("funders":[{"funderId":"gov","budget":"1000","shareBps":10000}],"eligibility":{"merchantIds":[)" +
      merchants + R"(]},"trigger":"ISSUED","offer":{"fixedAmount":"100","validDays":7}}})";
  v1::Envelope envelope;
  std::string error, scratch;
  ASSERT_TRUE(json::parse_envelope(json, &envelope, &error)) << error;
  Event event;
  ASSERT_TRUE(decode_envelope(envelope, &event, &error)) << error;
  EXPECT_EQ(content_hash(event, id_keys(event), &scratch), 0x3315a62917ff7f18ull)
      << std::hex << "0x" << content_hash(event, id_keys(event), &scratch);
}

TEST(ContentHash, PersistedHashesNeverChange) {
  std::string scratch(3, 'x');  // left over from an earlier event: must not matter
  for (const Golden& g : kGolden) {
    SCOPED_TRACE(g.json);
    v1::Envelope envelope;
    std::string error;
    ASSERT_TRUE(json::parse_envelope(g.json, &envelope, &error)) << error;
    Event event;
    ASSERT_TRUE(decode_envelope(envelope, &event, &error)) << error;
    const std::uint64_t content = content_hash(event, id_keys(event), &scratch);
    EXPECT_EQ(content, g.content) << std::hex << "0x" << content;
    const std::uint64_t legacy = legacy_content_hash(event, &scratch);
    EXPECT_EQ(legacy, g.legacy) << std::hex << "0x" << legacy;
    const EventIdKey key = event_id_key(event.event_id);
    EXPECT_EQ(key.high, g.key_high) << std::hex << "0x" << key.high;
    EXPECT_EQ(key.low, g.key_low) << std::hex << "0x" << key.low;
  }
}

std::uint64_t hash_of(const std::string& json) {
  v1::Envelope envelope;
  std::string error, scratch;
  EXPECT_TRUE(json::parse_envelope(json, &envelope, &error)) << error;
  Event event;
  EXPECT_TRUE(decode_envelope(envelope, &event, &error)) << error << " in " << json;
  return content_hash(event, id_keys(event), &scratch);
}

// The frequent events hash their ids by key, in fixed-width words: each
// field, and whether an optional one is there (an absent discount against
// one of 0), must still count, and so must the event's shape.
TEST(ContentHash, EveryFieldOfTheFrequentEventsCounts) {
  const std::string at = R"({"eventId":"e","occurredAt":"2024-05-01T10:00:00Z",)";
  const std::string later = R"({"eventId":"e","occurredAt":"2024-05-01T10:00:00.000000001Z",)";
  const std::vector<std::string> events = {
      at + R"("couponIssued":{"campaignId":"c","customerId":"u"}})",
      later + R"("couponIssued":{"campaignId":"c","customerId":"u"}})",
      at + R"("couponIssued":{"campaignId":"d","customerId":"u"}})",
      at + R"("couponIssued":{"campaignId":"c","customerId":"v"}})",
      at + R"("couponIssued":{"campaignId":"u","customerId":"c"}})",
      at + R"("couponIssued":{"campaignId":"c","customerId":"u","merchantId":"m"}})",
      at + R"("couponIssued":{"campaignId":"c","customerId":"u","merchantId":"n"}})",
      at + R"("couponIssued":{"campaignId":"c","customerId":"u","couponId":"m"}})",
      at + R"("couponIssued":{"campaignId":"c","customerId":"u","couponId":"e"}})",
      at + R"("couponIssued":{"campaignId":"c","customerId":"u","merchantId":"m","couponId":"k"}})",
      at + R"("couponRedeemed":{"couponId":"k","merchantId":"m","orderAmount":"100"}})",
      later + R"("couponRedeemed":{"couponId":"k","merchantId":"m","orderAmount":"100"}})",
      at + R"("couponRedeemed":{"couponId":"l","merchantId":"m","orderAmount":"100"}})",
      at + R"("couponRedeemed":{"couponId":"k","merchantId":"n","orderAmount":"100"}})",
      at + R"("couponRedeemed":{"couponId":"k","merchantId":"m","orderAmount":"101"}})",
      at + R"("couponRedeemed":{"couponId":"k","merchantId":"m","orderAmount":"100","discount":"0"}})",
      at + R"("couponRedeemed":{"couponId":"k","merchantId":"m","orderAmount":"100","discount":"10"}})",
      at + R"("couponRedeemed":{"couponId":"k","merchantId":"m","orderAmount":"0"}})",
      at + R"("redemptionReversed":{"couponId":"k","merchantId":"m"}})",
      later + R"("redemptionReversed":{"couponId":"k","merchantId":"m"}})",
      at + R"("redemptionReversed":{"couponId":"l","merchantId":"m"}})",
      at + R"("redemptionReversed":{"couponId":"k","merchantId":"n"}})",
      at + R"("redemptionReversed":{"couponId":"m","merchantId":"k"}})",
  };
  std::map<std::uint64_t, std::string> seen;
  for (const auto& json : events) {
    auto [it, fresh] = seen.emplace(hash_of(json), json);
    EXPECT_TRUE(fresh) << json << "\nhashes as\n" << it->second;
  }
  // The event id is not content: the same event under another id hashes alike.
  EXPECT_EQ(hash_of(events[0]), hash_of(R"({"eventId":"f",)" + events[0].substr(std::string(R"({"eventId":"e",)").size())));
}

// A state written before content_hash took id keys holds legacy content
// hashes: its redelivered events must still be DUPLICATE, and other content
// under their ids still EVENT_ID_CONFLICT.
TEST(ContentHash, StatesWithLegacyHashesStillTellDuplicatesFromConflicts) {
  const std::string at = R"({"eventId":"e-1","occurredAt":"2024-05-01T10:00:00Z",)";
  const std::pair<std::string, std::string> cases[] = {
      {at + R"("couponIssued":{"campaignId":"camp-a","customerId":"u-1","merchantId":"m-1"}})",
       at + R"("couponIssued":{"campaignId":"camp-a","customerId":"u-2","merchantId":"m-1"}})"},
      {at + R"("couponRedeemed":{"couponId":"k/1","merchantId":"m-1","orderAmount":"27000"}})",
       at + R"("couponRedeemed":{"couponId":"k/1","merchantId":"m-1","orderAmount":"27001"}})"},
      {at + R"("redemptionReversed":{"couponId":"k/1","merchantId":"m-1"}})",
       at + R"("redemptionReversed":{"couponId":"k/2","merchantId":"m-1"}})"},
  };
  for (const auto& [stored, other] : cases) {
    SCOPED_TRACE(stored);
    v1::Envelope envelope, other_envelope;
    std::string error, scratch;
    ASSERT_TRUE(json::parse_envelope(stored, &envelope, &error)) << error;
    ASSERT_TRUE(json::parse_envelope(other, &other_envelope, &error)) << error;
    Event event;
    ASSERT_TRUE(decode_envelope(envelope, &event, &error)) << error;
    ASSERT_NE(legacy_content_hash(event, &scratch), content_hash(event, id_keys(event), &scratch));
    for (const v1::Envelope* redelivered : {&envelope, &other_envelope}) {
      Engine engine;
      StateRestorer restorer(&engine);
      restorer.state().seen_events.try_emplace(event_id_key(event.event_id), legacy_content_hash(event, &scratch));
      ASSERT_THAT(restorer.finish(), ::testing::IsEmpty());
      const Verdict& v = engine.decide(*redelivered);
      if (redelivered == &envelope) {
        EXPECT_EQ(v.outcome, Outcome::kDuplicate);
      } else {
        EXPECT_EQ(v.outcome, Outcome::kRejected);
        EXPECT_EQ(v.reason, Reason::kEventIdConflict);
      }
    }
  }
}

}  // namespace
}  // namespace dangol
