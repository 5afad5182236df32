#include "storage/state_store.h"

#include <sys/statvfs.h>

#include <filesystem>

#include <rocksdb/db.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <span>
#include <thread>

#include "engine/restore.h"
#include "storage/record_codec.h"
#include "storage/state_records.h"

namespace dangol::storage {
namespace {

using codec::Key;
using codec::Reader;
using codec::Writer;

// Table tags (state_store.h).
constexpr char kVersionTag = 'V', kMetaTag = 'm', kOffsetTag = 'o', kOutboxTag = 'x', kTrimmedTag = 't',
               kFloorsTag = 'f',
               kNamesTag = 'N',
               kEventsTag = 'E', kWelcomedTag = 'W', kCouponChunkTag = 'K', kCouponOverlayTag = 'k',
               kDefinitionTag = 'C', kLedgerTag = 'c', kMerchantTag = 'M', kUsageTag = 'U', kDailyTag = 'D',
               kCashTag = 'H', kGrantsTag = 'G', kFriendshipTag = 'F';

enum NameKind : std::uint8_t { kCampaignNames, kMerchantNames, kMarketNames, kCategoryNames, kCustomerNames };

using EventEntry = ChangeLog::EventEntry;
static_assert(sizeof(EventEntry) == 24 && std::is_trivially_copyable_v<EventEntry>,
              "event chunks are arrays of {high, low, content hash}");
using Triple = std::array<std::uint32_t, 3>;
static_assert(sizeof(Triple) == 12);

// Bounds on what one record may hold, so that a corrupt length cannot make
// the loader allocate without limit.
constexpr std::uint32_t kMaxChunkEntries = 1 << 24;

Status from_rocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return Status::OK();
  std::string message = std::string(context) + ": " + s.ToString();
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return Status::Busy(std::move(message));
  if (s.IsCorruption()) return Status::Corruption(std::move(message));
  if (s.IsNotSupported()) return Status::NotSupported(std::move(message));
  if (s.IsInvalidArgument()) return Status::InvalidArgument(std::move(message));
  return Status::IOError(std::move(message));
}

// The memtable's size (store_options()): a flush writes a table of up to
// this much, so a commit needs that room besides its own bytes.
constexpr std::uint64_t kWriteBufferBytes = 16 << 20;
// What a commit keeps free besides its batch: a memtable flush, and a
// margin for the manifest and the WAL's next file.
constexpr std::uint64_t kReserveBytes = kWriteBufferBytes + (4 << 20);

std::string mebibytes(std::uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

// Bytes an unprivileged writer may still use on the filesystem of `dir`;
// false if that cannot be told (then RocksDB finds out on its own).
bool free_bytes(const std::string& dir, std::uint64_t* out) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return false;
  *out = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  return true;
}

// A write that fails for space inside RocksDB can abort the process
// (Debian's build keeps its assertions, and a failed append followed by a
// sync trips one), so campaignd checks the room first and stops with a
// status instead: nothing is lost, as the batch was never written.
Status ensure_room(const std::string& dir, std::uint64_t bytes, std::string_view what) {
  std::uint64_t free = 0;
  if (!free_bytes(dir, &free)) return Status::OK();
  const std::uint64_t need = bytes + kReserveBytes;
  if (free >= need) return Status::OK();
  return Status::IOError("no space left on device: " + dir + " has " + mebibytes(free) + " free, and " +
                         std::string(what) + " needs " + mebibytes(need) + " (" + mebibytes(bytes) +
                         " plus room for a memtable flush); free space or move the state dir to a larger disk");
}

// Bytes of the WALs in `dir`, which opening replays into a table.
std::uint64_t wal_bytes(const std::string& dir) {
  std::error_code ec;
  std::uint64_t total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".log") total += entry.file_size(ec);
  }
  return total;
}

rocksdb::Options store_options() {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.IncreaseParallelism(2);
  options.max_background_jobs = 2;
  // After a crash, the replayed WAL goes to the memtable, and open() then
  // writes it out as one L0 file (the memtable below is slow to read):
  // recovery is on the critical path (ready within 2 s of kill -9).
  options.avoid_flush_during_recovery = true;
  // The unflushed tail bounds the replay: a small memtable keeps it to a
  // few batches.
  options.write_buffer_size = kWriteBufferBytes;
  options.max_total_wal_size = 64 << 20;
  options.level_compaction_dynamic_level_bytes = true;
  // Event-id chunks are random hashes; LZ4 costs little where it gains nothing
  // and decompresses fast where it does (coupon ids, names). Not on flush:
  // L0 files live until the next compaction, and compressing them took
  // about a tenth of campaignd's CPU in the end-to-end benchmark, on the
  // cores that decide.
  options.compression = rocksdb::kLZ4Compression;
  options.compression_per_level = {rocksdb::kNoCompression, rocksdb::kLZ4Compression};
  // Compactions wait until load() is done: after a crash they would take
  // both cores from the loader (load() turns them on).
  options.disable_auto_compactions = true;
  // A batch writes thousands of small records. Inserting one into the
  // default skiplist memtable costs about 2 us (a cache miss per level),
  // as much as deciding an event; a vector memtable appends it, and sorts
  // once, at flush (in the background). Reading one is slow (it sorts a
  // copy), but the store reads only at startup, after open() flushed what
  // the WAL replay put there, and when recovering from a failed delivery.
  // Vectors take one writer at a time.
  options.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
  options.allow_concurrent_memtable_write = false;
  return options;
}

std::string_view view(const rocksdb::Slice& s) { return {s.data(), s.size()}; }
rocksdb::Slice slice(std::string_view s) { return {s.data(), s.size()}; }

// Writes one batch's changes into a WriteBatch: the records the log names,
// as they are in the state now.
class ChangeWriter {
 public:
  ChangeWriter(const State& state, const ChangeLog& log, std::uint64_t batch, rocksdb::WriteBatch* wb)
      : s_(state), log_(log), batch_(batch), wb_(wb) {}

  Status write() {
    write_meta();
    write_names();
    write_chunks();
    write_campaigns();
    write_merchants();
    write_coupons();
    write_campaign_maps();
    write_customer_tables();
    return status_;
  }

 private:
  void put(const Key& key, std::string_view value) {
    if (status_.ok()) status_ = from_rocks(wb_->Put(slice(key), slice(value)), "state batch put");
  }
  void del(const Key& key) {
    if (status_.ok()) status_ = from_rocks(wb_->Delete(slice(key)), "state batch delete");
  }
  std::string& fresh_value() {
    value_.clear();
    return value_;
  }

  // The log may name a record many times; each is written once.
  template <class T>
  static std::vector<T> unique(const std::vector<T>& marks) {
    std::vector<T> out(marks);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  void write_meta() {
    Writer w(&fresh_value());
    w.i32(s_.shard), w.i64(s_.next_seq), w.u8(s_.has_clock), w.i64(s_.clock.nanos());
    for (std::int64_t n : s_.outcomes) w.i64(n);
    w.u64(batch_ + 1);
    // Table sizes, so that loading sizes its tables once. (The grant count is
    // kept for the record's format; loading no longer needs it.)
    w.u64(s_.customer_ids.size()), w.u64(s_.customer_grants.size()), w.u64(s_.friendships.size());
    put(Key(kMetaTag), value_);
  }

  template <class IndexT>
  void write_names(NameKind kind, const Interner<IndexT>& names, std::uint32_t from) {
    const auto size = static_cast<std::uint32_t>(names.size());
    if (from >= size) return;
    Writer w(&fresh_value());
    w.u32(size - from);
    for (std::uint32_t i = from; i < size; ++i) w.str(names.name(IndexT{i}));
    put(Key(kNamesTag).u8(kind).u32(from), value_);
  }
  void write_names() {
    const Watermarks& since = log_.since;
    write_names(kCampaignNames, s_.campaign_ids, since.campaign_ids);
    write_names(kMerchantNames, s_.merchant_ids, since.merchant_ids);
    write_names(kMarketNames, s_.market_ids, since.market_ids);
    write_names(kCategoryNames, s_.category_ids, since.category_ids);
    write_names(kCustomerNames, s_.customer_ids, since.customer_ids);
  }

  // Event ids and welcomed triples never change once added. The event ids
  // of the batch are the idempotency log's entries past the watermark,
  // written as they lie in memory.
  void write_chunks() {
    if (log_.since.events < s_.seen_events.size()) {
      std::string& value = fresh_value();
      s_.seen_events.for_each_run(log_.since.events, [&](const EventEntry* run, std::size_t n) {
        value.append(reinterpret_cast<const char*>(run), n * sizeof(EventEntry));
      });
      put(Key(kEventsTag).u64(batch_), value);
    }
    if (!log_.welcomed.empty()) {
      put(Key(kWelcomedTag).u64(batch_), {reinterpret_cast<const char*>(log_.welcomed.data()),
                                          log_.welcomed.size() * sizeof(Triple)});
    }
  }

  void write_campaigns() {
    const auto size = static_cast<std::uint32_t>(s_.campaigns.size());
    for (std::uint32_t i = log_.since.campaigns; i < size; ++i) {
      records::put_campaign_definition(s_.campaigns[i], &fresh_value());
      put(Key(kDefinitionTag).u32(i), value_);
      records::put_campaign_ledger(s_.campaigns[i], &fresh_value());
      put(Key(kLedgerTag).u32(i), value_);
    }
    for (std::uint32_t i : unique(log_.campaigns)) {
      if (i >= log_.since.campaigns) continue;  // written above
      records::put_campaign_ledger(s_.campaigns[i], &fresh_value());
      put(Key(kLedgerTag).u32(i), value_);
    }
  }

  void write_merchants() {
    for (std::uint32_t m : unique(log_.merchants)) {
      records::put_merchant(s_.merchants[m], &fresh_value());
      put(Key(kMerchantTag).u32(m), value_);
    }
  }

  // New coupons go out as one chunk; older ones that changed as overlays.
  void write_coupons() {
    const auto size = static_cast<std::uint32_t>(s_.coupons.size());
    const std::uint32_t from = log_.since.coupons;
    if (from < size) {
      Writer w(&fresh_value());
      w.u32(size - from);
      for (std::uint32_t i = from; i < size; ++i) records::put_coupon(s_.coupons[i], w);
      put(Key(kCouponChunkTag).u32(from), value_);
    }
    for (std::uint32_t i : unique(log_.coupons)) {
      if (i >= from) continue;  // in the chunk
      Writer w(&fresh_value());
      records::put_coupon_mutable(s_.coupons[i], w);
      put(Key(kCouponOverlayTag).u32(i), value_);
    }
  }

  void write_campaign_maps() {
    for (std::uint64_t key : unique(log_.merchant_usage)) {
      const MerchantUsage* usage = s_.merchant_usages.find(CampaignIdx{static_cast<std::uint32_t>(key >> 32)},
                                                           MerchantIdx{static_cast<std::uint32_t>(key)});
      DANGOL_ASSERT(usage != nullptr, "change log names a merchant usage that does not exist");
      records::put_usage(*usage, &fresh_value());
      put(Key(kUsageTag).u64(key), value_);
    }
    for (const DailyTotalKey& day : unique(log_.daily_totals)) {
      const Campaign& c = s_.campaigns[day.campaign];
      auto it = c.granted_by_local_day.find(day.local_day);
      DANGOL_ASSERT(it != c.granted_by_local_day.end(), "change log names a daily total that does not exist");
      Writer(&fresh_value()).i64(it->second.minor());
      put(Key(kDailyTag).u32(day.campaign).i64(day.local_day), value_);
    }
    for (std::uint64_t key : unique(log_.message_cash)) {
      const Campaign& c = s_.campaigns[key >> 32];
      auto it = c.message_cash.find(MerchantIdx{static_cast<std::uint32_t>(key)});
      DANGOL_ASSERT(it != c.message_cash.end(), "change log names message cash that does not exist");
      records::put_parts(it->second.remaining, &fresh_value());
      put(Key(kCashTag).u64(key), value_);
    }
  }

  void write_customer_tables() {
    for (std::uint64_t key : unique(log_.customer_grants)) {
      const std::uint32_t count = s_.customer_grants.count(key);
      DANGOL_ASSERT(count > 0, "change log names a customer grant that does not exist");
      Writer(&fresh_value()).u32(count);
      put(Key(kGrantsTag).u64(key), value_);
    }
    // In order: a friendship ended and made again within the batch exists.
    for (const FriendshipChange& f : log_.friendships) {
      if (f.added) {
        put(Key(kFriendshipTag).u64(f.key), {});
      } else {
        del(Key(kFriendshipTag).u64(f.key));
      }
    }
  }

  const State& s_;
  const ChangeLog& log_;
  const std::uint64_t batch_;
  rocksdb::WriteBatch* wb_;
  std::string value_;  // reused for every record
  Status status_;
};

}  // namespace

// ------------------------------------------------------------------ loading

// Reads every table into a fresh engine's state, then lets StateRestorer
// rebuild the derived ones.
class StateStore::Loader {
 public:
  Loader(rocksdb::DB* db, Engine* engine) : db_(db), restorer_(engine), s_(restorer_.state()) {}

  // Three threads: building the hash tables dominates loading, and the
  // campaign, merchant and coupon tables, the customer-keyed tables and the
  // event ids share nothing. (On two cores a third thread still helps: the
  // event ids take about half as long as each of the other two, so with
  // three the cores stay busy to the end.)
  Status run(std::uint64_t* next_batch) {
    Status st = load_meta(next_batch);
    if (!st.ok()) return st;
    Status customer_st, events_st;
    std::int64_t customer_bytes = 0, events_bytes = 0;
    std::thread customers([&] { customer_st = load_customer_side(&customer_bytes); });
    std::thread events([&] { events_st = load_events(&events_bytes); });
    st = load_campaign_side();
    customers.join();
    events.join();
    bytes_ += customer_bytes + events_bytes;
    if (st.ok()) st = customer_st;
    if (st.ok()) st = events_st;
    if (!st.ok()) return st;
    std::vector<std::string> problems = restorer_.finish();
    if (!problems.empty()) return Status::Corruption("state store: " + problems.front());
    return Status::OK();
  }

  std::int64_t bytes() const { return bytes_; }

 private:
  // Calls f(key, value) for every record of table `tag`, in key order; f
  // returns false for a malformed record.
  template <class F>
  Status scan(char tag, const char* table, F&& f) {
    return scan(tag, table, &bytes_, std::forward<F>(f));
  }
  // `bytes` counts what was read (one counter per loading thread).
  template <class F>
  Status scan(char tag, const char* table, std::int64_t* bytes, F&& f) {
    rocksdb::ReadOptions read;
    read.fill_cache = false;  // read once at startup
    read.readahead_size = 4 << 20;
    const char prefix[2] = {tag, 0};
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read));
    for (it->Seek(rocksdb::Slice(prefix, 1)); it->Valid() && it->key()[0] == tag; it->Next()) {
      *bytes += static_cast<std::int64_t>(it->key().size() + it->value().size());
      if (!f(view(it->key()), view(it->value()))) {
        return Status::Corruption(std::string("state store: malformed ") + table + " record");
      }
    }
    return from_rocks(it->status(), std::string("state store: reading ") + table);
  }

  Status load_campaign_side() {
    Status st = load_names(kCampaignNames, &s_.campaign_ids, "campaign names", &bytes_);
    if (st.ok()) st = load_names(kMerchantNames, &s_.merchant_ids, "merchant names", &bytes_);
    if (st.ok()) st = load_names(kMarketNames, &s_.market_ids, "market names", &bytes_);
    if (st.ok()) st = load_names(kCategoryNames, &s_.category_ids, "category names", &bytes_);
    if (st.ok()) st = load_campaigns();
    if (st.ok()) st = load_merchants();
    if (st.ok()) st = load_coupons();
    if (st.ok()) st = load_campaign_maps();
    if (!st.ok()) return st;
    std::vector<std::string> problems;
    restorer_.index_coupons(&problems);
    return problems.empty() ? Status::OK() : Status::Corruption("state store: " + problems.front());
  }

  Status load_customer_side(std::int64_t* bytes) {
    s_.customer_ids.reserve(sizes_.customers);
    s_.customer_grants.reserve(sizes_.customers);
    s_.friendships.reserve(sizes_.friendships);
    Status st = load_names(kCustomerNames, &s_.customer_ids, "customer names", bytes);
    if (st.ok()) st = load_customer_tables(bytes);
    return st;
  }

  Status load_meta(std::uint64_t* next_batch) {
    bool found = false;
    const std::int32_t shard = s_.shard;
    Status st = scan(kMetaTag, "meta", [&](std::string_view, std::string_view value) {
      Reader r(value);
      s_.shard = r.i32(), s_.next_seq = r.i64(), s_.has_clock = r.u8(), s_.clock = Instant::from_nanos(r.i64());
      for (std::int64_t& n : s_.outcomes) n = r.i64();
      *next_batch = r.u64();
      sizes_.customers = r.u64();
      (void)r.u64();  // the grant counts: CustomerGrants is sized by customers
      sizes_.friendships = r.u64();
      found = true;
      return r.done();
    });
    if (st.ok() && found && s_.shard != shard) {
      return Status::InvalidArgument("state store holds shard " + std::to_string(s_.shard) +
                                     ", the engine is shard " + std::to_string(shard));
    }
    return st;
  }

  template <class IndexT>
  Status load_names(NameKind kind, Interner<IndexT>* names, const char* table, std::int64_t* bytes) {
    return scan(kNamesTag, table, bytes, [&](std::string_view key, std::string_view value) {
      if (static_cast<std::uint8_t>(key[1]) != kind) return true;  // another kind
      if (codec::key_id<std::uint32_t>(key, 2) != names->size()) return false;  // a gap
      Reader r(value);
      std::uint32_t n = r.u32();
      if (n > kMaxChunkEntries) return false;
      for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
        std::string_view name = r.str();
        if (r.ok()) names->add(name);
      }
      return r.done();
    });
  }
  Status load_campaigns() {
    Status st = scan(kDefinitionTag, "campaign definition", [&](std::string_view key, std::string_view value) {
      if (codec::key_id<std::uint32_t>(key, 1) != s_.campaigns.size()) return false;
      return records::get_campaign_definition(value, &s_.campaigns.emplace_back());
    });
    if (!st.ok()) return st;
    return scan(kLedgerTag, "campaign ledger", [&](std::string_view key, std::string_view value) {
      std::uint32_t i = codec::key_id<std::uint32_t>(key, 1);
      return i < s_.campaigns.size() && records::get_campaign_ledger(value, &s_.campaigns[i]);
    });
  }

  Status load_merchants() {
    return scan(kMerchantTag, "merchant", [&](std::string_view key, std::string_view value) {
      std::uint32_t m = codec::key_id<std::uint32_t>(key, 1);
      if (m >= s_.merchant_ids.size()) return false;
      if (m >= s_.merchants.size()) s_.merchants.resize(m + 1);
      return records::get_merchant(value, &s_.merchants[m]);
    });
  }

  Status load_coupons() {
    Status st = scan(kCouponChunkTag, "coupon chunk", [&](std::string_view key, std::string_view value) {
      if (codec::key_id<std::uint32_t>(key, 1) != s_.coupons.size()) return false;  // a gap
      Reader r(value);
      std::uint32_t n = r.u32();
      if (n > kMaxChunkEntries) return false;
      for (std::uint32_t i = 0; i < n && r.ok(); ++i) records::get_coupon(r, &s_.coupons.emplace_back());
      return r.done();
    });
    if (!st.ok()) return st;
    return scan(kCouponOverlayTag, "coupon overlay", [&](std::string_view key, std::string_view value) {
      std::uint32_t i = codec::key_id<std::uint32_t>(key, 1);
      if (i >= s_.coupons.size()) return false;
      Reader r(value);
      records::get_coupon_mutable(r, &s_.coupons[i]);
      return r.done();
    });
  }

  Campaign* campaign_of(std::string_view key) {
    std::uint32_t c = codec::key_id<std::uint32_t>(key, 1);
    return c < s_.campaigns.size() ? &s_.campaigns[c] : nullptr;
  }

  Status load_campaign_maps() {
    Status st = scan(kUsageTag, "merchant usage", [&](std::string_view key, std::string_view value) {
      const CampaignIdx c{codec::key_id<std::uint32_t>(key, 1)};
      const MerchantIdx m{codec::key_id<std::uint32_t>(key, 5)};
      // Usages are kept by merchant index: a merchant the names do not know
      // is a corrupt record, not a table to size.
      return c.value < s_.campaigns.size() && m.value < s_.merchant_ids.size() &&
             records::get_usage(value, &s_.merchant_usages.get(c, m));
    });
    if (st.ok()) st = scan(kDailyTag, "daily total", [&](std::string_view key, std::string_view value) {
      Campaign* c = campaign_of(key);
      auto day = static_cast<std::int64_t>(codec::key_id<std::uint64_t>(key, 5) ^ (std::uint64_t{1} << 63));
      Reader r(value);
      if (c != nullptr) c->granted_by_local_day[day] = Money(r.i64());
      return c != nullptr && r.done();
    });
    if (st.ok()) st = scan(kCashTag, "message cash", [&](std::string_view key, std::string_view value) {
      Campaign* c = campaign_of(key);
      MerchantIdx m{codec::key_id<std::uint32_t>(key, 5)};
      return c != nullptr && records::get_parts(value, &c->message_cash[m].remaining);
    });
    return st;
  }

  Status load_customer_tables(std::int64_t* bytes) {
    Status st = scan(kGrantsTag, "customer grants", bytes, [&](std::string_view key, std::string_view value) {
      // Counts are kept by customer index: a customer the names do not know
      // is a corrupt record, not an array to size.
      const std::uint64_t k = codec::key_id<std::uint64_t>(key, 1);
      if (static_cast<std::uint32_t>(k) >= s_.customer_ids.size()) return false;
      Reader r(value);
      s_.customer_grants.set(k, r.u32());
      return r.done();
    });
    if (st.ok()) st = scan(kFriendshipTag, "friendship", bytes, [&](std::string_view key, std::string_view) {
      s_.friendships.insert(codec::key_id<std::uint64_t>(key, 1));
      return true;
    });
    if (st.ok()) st = scan(kWelcomedTag, "welcomed", bytes, [&](std::string_view, std::string_view value) {
      if (value.size() % sizeof(Triple) != 0) return false;
      for (std::size_t at = 0; at < value.size(); at += sizeof(Triple)) {
        Triple t;
        std::memcpy(t.data(), value.data() + at, sizeof t);
        s_.welcomed.insert(t);
      }
      return true;
    });
    return st;
  }

  Status load_events(std::int64_t* bytes) {
    return scan(kEventsTag, "event ids", bytes, [&](std::string_view, std::string_view value) {
      if (value.size() % sizeof(EventEntry) != 0) return false;
      for (std::size_t at = 0; at < value.size(); at += sizeof(EventEntry)) {
        EventEntry e;
        std::memcpy(&e, value.data() + at, sizeof e);
        if (!s_.seen_events.try_emplace(e.key, e.value).second) return false;  // stored twice
      }
      return true;
    });
  }

  rocksdb::DB* db_;
  StateRestorer restorer_;
  State& s_;
  std::int64_t bytes_ = 0;  // read by the campaign-side thread
  struct {
    std::uint64_t customers = 0, friendships = 0;
  } sizes_;
};

// ------------------------------------------------------------------ the store

PendingCommit::PendingCommit() = default;
PendingCommit::~PendingCommit() = default;
PendingCommit::PendingCommit(PendingCommit&&) noexcept = default;
PendingCommit& PendingCommit::operator=(PendingCommit&&) noexcept = default;
bool PendingCommit::empty() const { return !batch_ || batch_->Count() == 0; }
std::size_t PendingCommit::bytes() const { return batch_ ? batch_->GetDataSize() : 0; }

StateStore::StateStore(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {}

StateStore::~StateStore() {
  if (db_) db_->Close().PermitUncheckedError();  // nothing to do about it here; writes were fsynced
}

Status StateStore::open(const std::string& dir, std::unique_ptr<StateStore>* out) {
  if (std::filesystem::exists(dir)) {
    if (Status st = ensure_room(dir, wal_bytes(dir), "opening the store"); !st.ok()) return st;
  }
  rocksdb::DB* raw = nullptr;
  Status st = from_rocks(rocksdb::DB::Open(store_options(), dir, &raw), "opening state store " + dir);
  if (!st.ok()) return st;
  std::unique_ptr<StateStore> store(new StateStore(std::unique_ptr<rocksdb::DB>(raw)));
  store->dir_ = dir;
  st = store->flush_replayed_wal();
  if (st.ok()) st = store->check_version();
  if (!st.ok()) return st;
  *out = std::move(store);
  return Status::OK();
}

// What the WAL replay put in the memtable goes to an L0 file first: the
// loader reads every table, and reading a vector memtable sorts it again for
// every iterator (store_options()).
Status StateStore::flush_replayed_wal() {
  std::uint64_t entries = 0;
  if (!db_->GetIntProperty(rocksdb::DB::Properties::kNumEntriesActiveMemTable, &entries) || entries == 0) {
    return Status::OK();
  }
  rocksdb::FlushOptions flush;
  flush.wait = true;
  return from_rocks(db_->Flush(flush), "state store: flushing the replayed log");
}

// A new store gets the current version; an existing one must have it.
Status StateStore::check_version() {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Key(kVersionTag).bytes(), &value);
  if (s.IsNotFound()) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (it->Valid()) return Status::Corruption("state store has records but no format version");
    Status st = from_rocks(it->status(), "state store: checking emptiness");
    if (!st.ok()) return st;
    std::string version;
    Writer(&version).u32(kFormatVersion);
    rocksdb::WriteOptions sync;
    sync.sync = true;
    return from_rocks(db_->Put(sync, Key(kVersionTag).bytes(), version), "state store: writing format version");
  }
  Status st = from_rocks(s, "state store: reading format version");
  if (!st.ok()) return st;
  Reader r(value);
  std::uint32_t version = r.u32();
  if (!r.done()) return Status::Corruption("state store: malformed format version record");
  if (version != kFormatVersion) {
    return Status::NotSupported("state store format version " + std::to_string(version) +
                                " is not supported (this build reads version " + std::to_string(kFormatVersion) +
                                ")");
  }
  return Status::OK();
}

Status StateStore::load(Engine* engine, std::map<std::int32_t, std::int64_t>* next_offsets, LoadStats* stats) {
  const auto& s = engine->state();
  if (s.next_seq != 1 || !s.campaigns.empty() || s.seen_events.size() != 0) {
    return Status::InvalidArgument("state store: load() needs a fresh engine");
  }
  const auto start = std::chrono::steady_clock::now();
  Loader loader(db_.get(), engine);
  Status st = loader.run(&next_batch_);
  if (!st.ok()) return st;
  next_offsets->clear();
  std::int64_t offset_bytes = 0;
  rocksdb::ReadOptions read;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read));
  for (it->Seek(Key(kOffsetTag).bytes()); it->Valid() && it->key()[0] == kOffsetTag; it->Next()) {
    Reader r(view(it->value()));
    (*next_offsets)[static_cast<std::int32_t>(codec::key_id<std::uint32_t>(view(it->key()), 1))] = r.i64();
    if (!r.done()) return Status::Corruption("state store: malformed offset record");
    offset_bytes += static_cast<std::int64_t>(it->key().size() + it->value().size());
  }
  st = from_rocks(it->status(), "state store: reading offsets");
  if (!st.ok()) return st;
  st = from_rocks(db_->SetOptions({{"disable_auto_compactions", "false"}}), "state store: resuming compactions");
  if (!st.ok()) return st;
  engine->track_changes(true);
  {
    // Now, while the memtable is empty: trim_outbox() needs them.
    std::lock_guard lock(outbox_mutex_);
    st = scan_outbox_records();
  }
  if (!st.ok()) return st;
  loaded_ = true;
  if (stats != nullptr) {
    stats->coupons = static_cast<std::int64_t>(engine->state().coupons.size());
    stats->events = static_cast<std::int64_t>(engine->state().seen_events.size());
    stats->bytes = loader.bytes() + offset_bytes;
    stats->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return Status::OK();
}

Status StateStore::commit(Engine& engine, const std::map<std::int32_t, std::int64_t>& next_offsets,
                          const std::vector<OutboxEntry>& outbox) {
  if (!loaded_) return Status::InvalidArgument("state store: commit() before load()");
  if (!engine.tracking_changes()) return Status::InvalidArgument("state store: the engine does not track changes");
  OutboxBatch entries;
  for (const OutboxEntry& e : outbox) entries.add(e.seq, e.partition, e.key, std::string_view(e.value));
  rocksdb::WriteBatch batch;
  Status st = build(engine, next_offsets, next_batch_, &batch);
  if (st.ok()) st = put_outbox(entries, &batch);
  if (st.ok()) st = ensure_room(dir_, batch.GetDataSize(), "a commit");
  if (st.ok()) st = write_batch(&batch);
  if (!st.ok()) return st;
  note_outbox_record(entries);
  engine.clear_changes();
  ++next_batch_;
  return Status::OK();
}

Status StateStore::prepare(Engine& engine, const std::map<std::int32_t, std::int64_t>& next_offsets,
                           PendingCommit* out) {
  if (!loaded_) return Status::InvalidArgument("state store: prepare() before load()");
  if (!engine.tracking_changes()) return Status::InvalidArgument("state store: the engine does not track changes");
  if (!out->batch_) out->batch_ = std::make_unique<rocksdb::WriteBatch>();
  out->batch_->Clear();
  Status st = build(engine, next_offsets, next_batch_, out->batch_.get());
  if (!st.ok()) return st;
  engine.clear_changes();
  ++next_batch_;
  return Status::OK();
}

Status StateStore::write(PendingCommit* pending, const OutboxBatch& outbox) {
  if (pending->empty()) return Status::InvalidArgument("state store: write() of a batch that was not prepared");
  Status st = ensure_room(dir_, pending->bytes() + outbox.record().size(), "a commit");
  if (st.ok()) st = put_outbox(outbox, pending->batch_.get());
  if (st.ok()) st = write_batch(pending->batch_.get());
  if (st.ok()) note_outbox_record(outbox);
  pending->batch_->Clear();
  return st;
}

// The engine's changes and the next offsets, as of batch `batch_number`.
Status StateStore::build(const Engine& engine, const std::map<std::int32_t, std::int64_t>& next_offsets,
                         std::uint64_t batch_number, rocksdb::WriteBatch* batch) {
  Status st = ChangeWriter(engine.state(), engine.changes(), batch_number, batch).write();
  std::string value;
  for (const auto& [partition, offset] : next_offsets) {
    if (!st.ok()) break;
    value.clear();
    Writer(&value).i64(offset);
    st = from_rocks(batch->Put(Key(kOffsetTag).u32(static_cast<std::uint32_t>(partition)).bytes(), value),
                    "state batch put");
  }
  return st;
}

Status StateStore::write_batch(rocksdb::WriteBatch* batch) {
  rocksdb::WriteOptions sync;
  sync.sync = true;
  Status st = from_rocks(db_->Write(sync, batch), "state store: committing batch");
  if (st.ok()) last_commit_bytes_ = batch->GetDataSize();
  return st;
}

// The outbox of a batch is one record, keyed by its first and last seq:
// one memtable entry instead of ten thousand, at commit and in WAL replay.
Status StateStore::put_outbox(const OutboxBatch& outbox, rocksdb::WriteBatch* batch) {
  if (outbox.empty()) return Status::OK();
  std::int64_t previous = 0;
  for (const OutboxBatch::Entry& e : outbox.entries()) {
    if (e.seq <= previous) return Status::InvalidArgument("state store: outbox seqs must be positive and increasing");
    previous = e.seq;
  }
  const Key key = Key(kOutboxTag)
                      .u64(static_cast<std::uint64_t>(outbox.entries().front().seq))
                      .u64(static_cast<std::uint64_t>(previous));
  return from_rocks(batch->Put(key.bytes(), slice(outbox.record())), "state batch put");
}

Status StateStore::trimmed_seq(std::int64_t* seq) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Key(kTrimmedTag).bytes(), &value);
  *seq = 0;
  if (s.IsNotFound()) return Status::OK();
  Status st = from_rocks(s, "state store: reading outbox trim mark");
  if (!st.ok()) return st;
  Reader r(value);
  *seq = r.i64();
  return r.done() ? Status::OK() : Status::Corruption("state store: malformed outbox trim mark");
}

Status StateStore::read_outbox(std::vector<OutboxEntry>* out) {
  out->clear();
  std::int64_t trimmed = 0;
  Status st = trimmed_seq(&trimmed);
  if (!st.ok()) return st;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(Key(kOutboxTag).bytes()); it->Valid() && it->key()[0] == kOutboxTag; it->Next()) {
    Reader r(view(it->value()));
    const std::uint32_t n = r.u32();
    for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
      OutboxEntry e;
      e.seq = r.i64(), e.partition = r.i32(), e.key = r.str(), e.value = r.str();
      if (r.ok() && e.seq > trimmed) out->push_back(std::move(e));
    }
    if (!r.done()) return Status::Corruption("state store: malformed outbox record");
  }
  std::stable_sort(out->begin(), out->end(), [](const OutboxEntry& a, const OutboxEntry& b) { return a.seq < b.seq; });
  return from_rocks(it->status(), "state store: reading outbox");
}

// Raises the trim mark and drops the batch records wholly at or below it.
Status StateStore::trim_outbox(std::int64_t up_to_seq_inclusive, const std::map<std::int32_t, std::int64_t>& floors) {
  std::lock_guard lock(outbox_mutex_);
  if (!outbox_known_) {
    Status st = scan_outbox_records();
    if (!st.ok()) return st;
  }
  if (up_to_seq_inclusive <= trimmed_ && floors.empty()) return Status::OK();
  if (Status st = ensure_room(dir_, 1 << 20, "trimming the outbox"); !st.ok()) return st;
  rocksdb::WriteBatch batch;
  std::string mark;
  Writer(&mark).i64(std::max(up_to_seq_inclusive, trimmed_));
  Status st = from_rocks(batch.Put(Key(kTrimmedTag).bytes(), mark), "state store: outbox trim mark");
  if (st.ok() && !floors.empty()) {
    std::string value;
    Writer w(&value);
    w.u32(static_cast<std::uint32_t>(floors.size()));
    for (const auto& [partition, offset] : floors) w.i32(partition), w.i64(offset);
    st = from_rocks(batch.Put(Key(kFloorsTag).bytes(), value), "state store: publish floors");
  }
  std::size_t dropped = 0;
  for (const auto& [first, last] : outbox_records_) {
    if (!st.ok() || static_cast<std::int64_t>(last) > up_to_seq_inclusive) break;  // in seq order
    st = from_rocks(batch.Delete(Key(kOutboxTag).u64(first).u64(last).bytes()), "state store: outbox trim");
    ++dropped;
  }
  if (st.ok()) st = from_rocks(db_->Write(rocksdb::WriteOptions(), &batch), "state store: trimming outbox");
  if (!st.ok()) return st;
  trimmed_ = std::max(up_to_seq_inclusive, trimmed_);
  outbox_records_.erase(outbox_records_.begin(), outbox_records_.begin() + static_cast<std::ptrdiff_t>(dropped));
  return Status::OK();
}

Status StateStore::read_publish_floors(std::map<std::int32_t, std::int64_t>* floors) {
  floors->clear();
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Key(kFloorsTag).bytes(), &value);
  if (s.IsNotFound()) return Status::OK();
  Status st = from_rocks(s, "state store: reading publish floors");
  if (!st.ok()) return st;
  Reader r(value);
  const std::uint32_t n = r.u32();
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    const std::int32_t partition = r.i32();
    const std::int64_t offset = r.i64();
    (*floors)[partition] = offset;
  }
  return r.done() ? Status::OK() : Status::Corruption("state store: malformed publish floors");
}

// Reads the trim mark and the keys of the outbox records once; from then on
// trim_outbox() and write() keep them, so that trimming needs no iterator
// (which would step over the tombstone of every record trimmed before).
Status StateStore::scan_outbox_records() {
  Status st = trimmed_seq(&trimmed_);
  if (!st.ok()) return st;
  outbox_records_.clear();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(Key(kOutboxTag).bytes()); it->Valid() && it->key()[0] == kOutboxTag; it->Next()) {
    outbox_records_.emplace_back(codec::key_id<std::uint64_t>(view(it->key()), 1),
                                 codec::key_id<std::uint64_t>(view(it->key()), 9));
  }
  st = from_rocks(it->status(), "state store: reading outbox");
  outbox_known_ = st.ok();
  return st;
}

void StateStore::note_outbox_record(const OutboxBatch& outbox) {
  if (outbox.empty()) return;
  std::lock_guard lock(outbox_mutex_);
  if (outbox_known_) {
    outbox_records_.emplace_back(static_cast<std::uint64_t>(outbox.entries().front().seq),
                                 static_cast<std::uint64_t>(outbox.entries().back().seq));
  }
}

Status StateStore::checkpoint(const std::string& target_dir) {
  rocksdb::Checkpoint* raw = nullptr;
  Status st = from_rocks(rocksdb::Checkpoint::Create(db_.get(), &raw), "state store: preparing checkpoint");
  if (!st.ok()) return st;
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return from_rocks(checkpoint->CreateCheckpoint(target_dir), "state store: checkpoint to " + target_dir);
}

}  // namespace dangol::storage
