#include "services/campaignd/merge.h"

#include <algorithm>
#include <functional>
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
  // A partition that may still have earlier records holds everyone back.
  // Whether it does cannot change within one take (the caller answers
  // from what the last fetch said), so an empty partition is asked once,
  // here or when the take empties it.
  for (std::int32_t p : assigned) {
    const auto i = static_cast<std::size_t>(p);
    if ((i >= buffers_.size() || buffers_[i].empty()) && blocks(p)) return p;
  }
  // The heads in a min-heap by (time, partition, offset): a take costs
  // log(partitions) a record, not a scan of every partition.
  using Key = std::tuple<std::int64_t, std::int32_t, std::int64_t>;
  auto key = [](const MergeItem& m) { return Key{m.time_ns, m.partition, m.offset}; };
  std::vector<Key>& heap = heap_;
  heap.clear();
  for (const auto& buffer : buffers_) {
    if (!buffer.empty()) heap.push_back(key(buffer.front()));
  }
  std::make_heap(heap.begin(), heap.end(), std::greater<>());
  while (out->size() < limit && !heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const std::int32_t p = std::get<1>(heap.back());
    heap.pop_back();
    auto& buffer = buffers_[static_cast<std::size_t>(p)];
    pop(buffer);
    dead_letters(buffer);
    if (buffer.empty()) {
      if (blocks(p)) return p;
      continue;
    }
    heap.push_back(key(buffer.front()));
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
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
