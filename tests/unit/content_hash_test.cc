// The idempotency hashes are persisted in the state store (seen event ids
// with their content hashes), so they must never change between versions:
// a changed content hash would turn every redelivered event of a running
// shard into EVENT_ID_CONFLICT. These golden values pin both hashes for one
// event of each shape, optional fields present and absent.

#include "engine/content_hash.h"

#include <gtest/gtest.h>

#include <string>

#include "engine/decode.h"
#include "proto/json_codec.h"

namespace dangol {
namespace {

struct Golden {
  const char* json;
  std::uint64_t content;
  std::uint64_t key_high, key_low;
};

const Golden kGolden[] = {
    {R"({"eventId":"e-1","occurredAt":"2024-05-01T10:00:00Z","couponIssued":{"campaignId":"camp-a",)"
     R"("customerId":"u-1","merchantId":"m-1"}})",
     0xe43bab23c94d7453ull, 0x17087c4052212cb7ull, 0x3d21bc8729acd985ull},
    {R"({"eventId":"e-2","occurredAt":"2024-05-01T10:00:01.5Z","couponIssued":{"campaignId":"camp-a",)"
     R"("customerId":"u-1","couponId":"k/1"}})",
     0xdc0074f0a3058f64ull, 0x5d8e619ecb070021ull, 0xd99f0192e8394c6eull},
    {R"({"eventId":"e-3","occurredAt":"2024-05-01T10:00:02Z","couponRedeemed":{"couponId":"k/1",)"
     R"("merchantId":"m-1","orderAmount":"27000","discount":"2700"}})",
     0x1057345ef3658df2ull, 0xff64401ff5710a98ull, 0xf7d563a3590f8ad9ull},
    {R"({"eventId":"e-4","occurredAt":"2024-05-01T10:00:03Z","campaignDefined":{"campaignId":"camp-b","name":"B",)"
     R"("currency":"KRW","startsAt":"2024-01-01T00:00:00Z","endsAt":"2025-01-01T00:00:00Z","utcOffsetMinutes":540,)"
     R"("funders":[{"funderId":"gov","budget":"1000000","shareBps":5000},{"funderId":"pvt","budget":"1000000",)"
     R"("shareBps":5000}],"eligibility":{"marketIds":["mkt-1"],"merchantIds":["m-1","m-2"],"categories":["food"]},)"
     R"("trigger":"ISSUED","offer":{"percentBps":1000,"maxDiscount":"5000","minOrderAmount":"1000","validDays":7},)"
     R"("limits":{"perCustomer":"2","perMerchantCount":"10","totalCount":"100","perMerchantAmount":"50000",)"
     R"("dailyAmount":"20000"},"messageCash":{"perMerchant":"3000"},"redemptionGraceSeconds":"3600",)"
     R"("alertThresholdsBps":[5000,9000]}})",
     0x6df4f4b761faa6f5ull, 0x799ada6b5c52fb3dull, 0x62db96968141ca74ull},
    {R"({"eventId":"e-5","occurredAt":"2024-05-01T10:00:04Z","messageSent":{"merchantId":"m-1","recipients":"12",)"
     R"("unitCost":"8"}})",
     0xa0133d582aeaf568ull, 0x1d8af13c17ccf7e2ull, 0xebd78f53e1b1f930ull},
    {R"({"eventId":"e-6","occurredAt":"2024-05-01T10:00:05Z","budgetAdjusted":{"campaignId":"camp-b",)"
     R"("funderId":"gov","delta":"-500"}})",
     0x5215d8ce1d57dbf9ull, 0x1651dc4dec0c7f2bull, 0xb955382a38d03981ull},
    // Ids of 17 to 32 bytes and of more, copied by each of the canonical
    // form's paths.
    {R"({"eventId":"e-8","occurredAt":"2024-05-01T10:00:07Z","couponIssued":{"campaignId":"buy-local-2023-09",)"
     R"("customerId":"a-customer-id-of-32-bytes-000000","merchantId":"a-merchant-id-of-more-than-32-bytes",)"
     R"("couponId":"coupon/of-24-bytes-000000"}})",
     0x1bd2da07c27449c4ull, 0xd24bd6471aef1e43ull, 0xdbd7eb882c6be209ull},
    {R"({"eventId":"an-event-id-of-more-than-thirty-two-bytes","occurredAt":"2024-05-01T10:00:06Z",)"
     R"("channelAdded":{"merchantId":"m-1","customerId":"u-2"}})",
     0xf00f615b243eafc3ull, 0x16b09334ffc97af9ull, 0xc841c1fdc70efd52ull},
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
  EXPECT_EQ(content_hash(event, &scratch), 0x3315a62917ff7f18ull) << std::hex << "0x" << content_hash(event, &scratch);
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
    EXPECT_EQ(content_hash(event, &scratch), g.content) << std::hex << "0x" << content_hash(event, &scratch);
    const EventIdKey key = event_id_key(event.event_id);
    EXPECT_EQ(key.high, g.key_high) << std::hex << "0x" << key.high;
    EXPECT_EQ(key.low, g.key_low) << std::hex << "0x" << key.low;
  }
}

}  // namespace
}  // namespace dangol
