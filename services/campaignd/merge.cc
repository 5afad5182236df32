#include "services/campaignd/merge.h"

#include <tuple>

namespace dangol::campaignd {

void EventTimeMerge::add(MergeItem item) {
  const auto p = static_cast<std::size_t>(item.partition);
  if (p >= buffers_.size()) buffers_.resize(p + 1);
  buffers_[p].push_back(std::move(item));
  ++buffered_;
}

std::int32_t EventTimeMerge::take(std::size_t max, const std::vector<std::int32_t>& assigned,
                                  const std::function<bool(std::int32_t)>& blocks, std::vector<MergeItem>* out) {
  const std::size_t limit = out->size() + max;
  auto pop = [&](std::deque<MergeItem>& buffer) {
    out->push_back(std::move(buffer.front()));
    buffer.pop_front();
    --buffered_;
  };
  // Dead letters are due once they head their partition, whatever the time.
  auto dead_letters = [&](std::deque<MergeItem>& buffer) {
    while (!buffer.empty() && !buffer.front().decodable && out->size() < limit) pop(buffer);
  };
  for (auto& buffer : buffers_) dead_letters(buffer);
  // Whether a partition blocks does not change within one take (the caller
  // answers from what the last fetch said): ask once per partition.
  std::vector<std::int8_t> blocking(buffers_.size() > 0 ? buffers_.size() : 1, -1);
  auto blocks_once = [&](std::int32_t p) {
    const auto i = static_cast<std::size_t>(p);
    if (i >= blocking.size()) blocking.resize(i + 1, -1);
    if (blocking[i] < 0) blocking[i] = blocks(p) ? 1 : 0;
    return blocking[i] == 1;
  };
  while (out->size() < limit) {
    // A partition that may still have earlier records holds everyone back.
    for (std::int32_t p : assigned) {
      const auto i = static_cast<std::size_t>(p);
      if ((i >= buffers_.size() || buffers_[i].empty()) && blocks_once(p)) return p;
    }
    std::deque<MergeItem>* next = nullptr;
    for (auto& buffer : buffers_) {
      if (buffer.empty()) continue;
      const MergeItem& head = buffer.front();
      if (next == nullptr || std::tie(head.time_ns, head.partition, head.offset) <
                                 std::tie(next->front().time_ns, next->front().partition, next->front().offset)) {
        next = &buffer;
      }
    }
    if (next == nullptr) return -1;  // all buffers empty, none blocking
    pop(*next);
    dead_letters(*next);
  }
  return -1;
}

std::size_t EventTimeMerge::buffered(std::int32_t partition) const {
  const auto p = static_cast<std::size_t>(partition);
  return p < buffers_.size() ? buffers_[p].size() : 0;
}

std::int64_t EventTimeMerge::next_offset(std::int32_t partition) const {
  const auto p = static_cast<std::size_t>(partition);
  return p >= buffers_.size() || buffers_[p].empty() ? -1 : buffers_[p].back().offset + 1;
}

void EventTimeMerge::clear() {
  buffers_.clear();
  buffered_ = 0;
}

}  // namespace dangol::campaignd
