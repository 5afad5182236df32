#pragma once
// Routing of events to partitions (CONTRACT §2).
//
// Keyed events go to the partition the producer's partitioner picks for the
// routing key. We configure librdkafka's `murmur2_random` partitioner, which
// is the Java client's default (murmur2(key) & 0x7fffffff) % partitions, so
// kcat (with -X partitioner=murmur2_random), Java and Go producers put a
// merchant's events where we do. Broadcast events are written once to every
// partition, explicitly, with identical bytes.

#include <cstdint>
#include <string>
#include <string_view>

#include "dangol.pb.h"

namespace dangol::kafka {

// The key written with every copy of a broadcast event.
inline constexpr std::string_view kBroadcastKey = "broadcast";

// campaignDefined, budgetAdjusted and campaignStatusChanged: every shard
// needs them.
bool is_broadcast(const v1::Envelope& e);

// merchantId for merchant-scoped payloads; customerId for a couponIssued
// without merchant; kBroadcastKey for broadcast payloads. An envelope with no
// payload, or whose routing id is empty, is keyed by its eventId: the engine
// will answer INVALID, and the key keeps it on one deterministic partition.
std::string routing_key(const v1::Envelope& e);

// Kafka's murmur2 hash (Java Utils.murmur2, librdkafka rd_murmur2).
std::uint32_t murmur2(std::string_view key);

// The Java client's / librdkafka murmur2_random partition for a non-empty
// key; what the producer does, exposed for tests and for consumers that
// must know where a key lives.
std::int32_t murmur2_partition(std::string_view key, std::int32_t partition_count);

}  // namespace dangol::kafka
