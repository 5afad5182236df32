#include "services/kafka/routing.h"

namespace dangol::kafka {

bool is_broadcast(const v1::Envelope& e) {
  switch (e.payload_case()) {
    case v1::Envelope::kCampaignDefined:
    case v1::Envelope::kBudgetAdjusted:
    case v1::Envelope::kCampaignStatusChanged:
      return true;
    default:
      return false;
  }
}

namespace {

const std::string& routing_id(const v1::Envelope& e) {
  static const std::string kNone;
  switch (e.payload_case()) {
    case v1::Envelope::kMerchantEnrolled: return e.merchant_enrolled().merchant_id();
    case v1::Envelope::kChannelOpened: return e.channel_opened().merchant_id();
    case v1::Envelope::kChannelAdded: return e.channel_added().merchant_id();
    case v1::Envelope::kChannelBlocked: return e.channel_blocked().merchant_id();
    case v1::Envelope::kCouponRedeemed: return e.coupon_redeemed().merchant_id();
    case v1::Envelope::kRedemptionReversed: return e.redemption_reversed().merchant_id();
    case v1::Envelope::kMessageSent: return e.message_sent().merchant_id();
    case v1::Envelope::kCouponIssued: {
      const auto& c = e.coupon_issued();
      return c.has_merchant_id() && !c.merchant_id().empty() ? c.merchant_id() : c.customer_id();
    }
    default: return kNone;
  }
}

}  // namespace

std::string routing_key(const v1::Envelope& e) {
  if (is_broadcast(e)) return std::string(kBroadcastKey);
  const std::string& id = routing_id(e);
  return id.empty() ? e.event_id() : id;
}

std::uint32_t murmur2(std::string_view key) {
  // Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), seed
  // 0x9747b28c, as librdkafka's rd_murmur2.
  const std::uint32_t m = 0x5bd1e995;
  const int r = 24;
  const auto len = static_cast<std::uint32_t>(key.size());
  std::uint32_t h = 0x9747b28c ^ len;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  std::size_t i = 0;
  for (; i + 4 <= key.size(); i += 4) {
    std::uint32_t k = std::uint32_t(data[i]) | std::uint32_t(data[i + 1]) << 8 | std::uint32_t(data[i + 2]) << 16 |
                      std::uint32_t(data[i + 3]) << 24;
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (key.size() & 3) {
    case 3: h ^= std::uint32_t(data[i + 2]) << 16; [[fallthrough]];
    case 2: h ^= std::uint32_t(data[i + 1]) << 8; [[fallthrough]];
    case 1: h ^= std::uint32_t(data[i]); h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

std::int32_t murmur2_partition(std::string_view key, std::int32_t partition_count) {
  const std::uint32_t h = murmur2(key);
  return static_cast<std::int32_t>((h & 0x7fffffff) % static_cast<std::uint32_t>(partition_count));
}

}  // namespace dangol::kafka
