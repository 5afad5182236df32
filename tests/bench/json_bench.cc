// ns/op of the hand-written JSON codec against protobuf 3.21's util on the
// messages `campaignctl replay` handles most: a small merchant-scoped event,
// a rich campaign definition, and a decision granting a co-funded coupon.

#include <benchmark/benchmark.h>
#include <google/protobuf/util/json_util.h>

#include <string>

#include "proto/json_codec.h"

namespace {

using dangol::v1::Decision;
using dangol::v1::Envelope;

const std::string kChannelAdded =
    R"({"eventId":"ev-000123","occurredAt":"2023-08-01T09:00:00+09:00",)"
    R"("channelAdded":{"merchantId":"m-001","customerId":"c-42"}})";

const std::string kCampaignDefined =
    R"({"eventId":"ev-1","occurredAt":"2023-08-01T09:00:00+09:00","campaignDefined":{)"
    R"("campaignId":"festival","name":"Festival","currency":"KRW","startsAt":"2023-08-01T00:00:00Z",)"
    R"("endsAt":"2023-09-01T00:00:00Z","utcOffsetMinutes":540,"funders":[{"funderId":"kakao",)"
    R"("budget":"1000000","shareBps":5000},{"funderId":"market","budget":1000000,"shareBps":5000}],)"
    R"("eligibility":{"marketIds":["mk-1"]},"trigger":"ISSUED","offer":{"percentBps":1000,)"
    R"("maxDiscount":"5000","validDays":30},"limits":{"perCustomer":1},"alertThresholdsBps":[5000,8000]}})";

Decision coupon_granted_decision() {
  Decision d;
  d.set_event_id("ev-000123");
  d.set_seq(17);
  d.set_partition(3);
  d.set_offset(1234);
  d.mutable_occurred_at()->set_seconds(1690848000);
  auto* granted = d.add_effects()->mutable_coupon_granted();
  granted->set_coupon_id("festival/c-42/1");
  granted->set_campaign_id("festival");
  granted->set_merchant_id("m-001");
  granted->set_customer_id("c-42");
  granted->set_reserved(2000);
  granted->mutable_expires_at()->set_seconds(1693440000);
  for (const char* funder : {"kakao", "market"}) {
    auto* share = granted->add_split();
    share->set_funder_id(funder);
    share->set_amount(1000);
  }
  return d;
}

void BM_ParseEnvelope_Ours(benchmark::State& state, const std::string& json) {
  Envelope e;
  std::string error;
  for (auto _ : state) benchmark::DoNotOptimize(dangol::json::parse_envelope(json, &e, &error));
}

void BM_ParseEnvelope_Protobuf(benchmark::State& state, const std::string& json) {
  Envelope e;
  for (auto _ : state) {
    e.Clear();
    benchmark::DoNotOptimize(google::protobuf::util::JsonStringToMessage(json, &e).ok());
  }
}

void BM_AppendDecision_Ours(benchmark::State& state) {
  const Decision d = coupon_granted_decision();
  std::string out;
  for (auto _ : state) {
    out.clear();
    dangol::json::append_decision(d, &out);
    benchmark::DoNotOptimize(out.data());
  }
}

void BM_AppendDecision_Protobuf(benchmark::State& state) {
  const Decision d = coupon_granted_decision();
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  for (auto _ : state) {
    out.clear();
    benchmark::DoNotOptimize(google::protobuf::util::MessageToJsonString(d, &out, options).ok());
  }
}

BENCHMARK_CAPTURE(BM_ParseEnvelope_Ours, channel_added, kChannelAdded);
BENCHMARK_CAPTURE(BM_ParseEnvelope_Protobuf, channel_added, kChannelAdded);
BENCHMARK_CAPTURE(BM_ParseEnvelope_Ours, campaign_defined, kCampaignDefined);
BENCHMARK_CAPTURE(BM_ParseEnvelope_Protobuf, campaign_defined, kCampaignDefined);
BENCHMARK(BM_AppendDecision_Ours);
BENCHMARK(BM_AppendDecision_Protobuf);

}  // namespace

BENCHMARK_MAIN();
