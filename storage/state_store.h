#pragma once
// The RocksDB state store of DESIGN §5: the engine's state, the next input
// offset of every partition and the decision outbox, written in one fsynced
// WriteBatch per batch, and loaded back into an engine whose decisions are
// byte-identical to those of one that never stopped.
//
// Each batch writes only what it changed (the engine's ChangeLog,
// engine/change_log.h), never the state as one blob.
//
// ---------------------------------------------------------------- layout
// One column family. A key is a one-byte table tag and big-endian ids (so
// byte order is numeric order); a value is little-endian fixed-width
// integers and u32-length-prefixed strings (record_codec.h,
// state_records.cc). Format version 1:
//
//   'V'                              u32 format version (1). A store with
//                                    another version is refused at open.
//   'm'                              meta: shard i32, next_seq i64, has_clock
//                                    u8, clock ns i64, decisions by outcome
//                                    4 x i64, next batch number u64; sizes of
//                                    customer ids, grants, friendships u64
//                                    (to size hash tables before loading)
//   'o' partition u32                next input offset i64
//   'x' first seq u64 last seq u64   the outbox of one batch: u32 count,
//                                    {seq i64, partition i32, key, value}*
//   't'                              outbox trimmed through seq i64
//   'f'                              publish floors: u32 count, {decisions
//                                    partition i32, offset i64}*: every
//                                    untrimmed entry of that partition that
//                                    reached the topic is at or after it
//
//   Append-only tables are written as one chunk per batch, so that loading
//   them is a bulk copy rather than millions of point records:
//   'N' kind u8 first u32            interned names first.. of one kind
//                                    (0 campaign, 1 merchant, 2 market,
//                                    3 category, 4 customer): u32 count,
//                                    names
//   'E' batch u64                    event ids first seen in the batch:
//                                    {u64 high, u64 low, u64 content hash}*
//   'W' batch u64                    welcomed (campaign, merchant, customer)
//                                    triples: {u32, u32, u32}*
//   'K' first u32                    coupons first.. granted in the batch, as
//                                    they were at its end: u32 count, coupons
//   'k' index u32                    a coupon's mutable part (status, in
//                                    expiry queue, discount, redeemed at),
//                                    when it changed after its grant batch;
//                                    it overrides the chunk
//   'C' campaign u32                 campaign definition (immutable)
//
//   Mutable records, rewritten whole when changed:
//   'c' campaign u32                 campaign ledger: status, funders'
//                                    balances and crossed thresholds, counts,
//                                    rejections
//   'M' merchant u32                 merchant (merchants never written are
//                                    default)
//   'U' campaign u32 merchant u32    merchant usage: granted count, committed
//   'D' campaign u32 day i64         granted amount of a local day
//   'H' campaign u32 merchant u32    message cash: remaining parts
//   'G' campaign u32 customer u32    coupons ever granted (u32)
//   'F' merchant u32 customer u32    a friendship (empty value; deleted when
//                                    it ends)
//
// Derived tables (coupon index, campaign coupon lists, expiry queue, sorted
// campaign lists) are not stored: StateRestorer (engine/restore.h) rebuilds
// them at load.

#include <atomic>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "storage/status.h"

namespace rocksdb {
class DB;
class WriteBatch;
}

namespace dangol::storage {

inline constexpr std::uint32_t kFormatVersion = 1;

// A batch prepared by StateStore::prepare() and not yet written: the
// engine's changes and the next offsets, as a RocksDB WriteBatch. Movable;
// reusable after write() (its buffer's capacity survives).
class PendingCommit {
 public:
  PendingCommit();
  ~PendingCommit();
  PendingCommit(PendingCommit&&) noexcept;
  PendingCommit& operator=(PendingCommit&&) noexcept;
  bool empty() const;
  std::size_t bytes() const;

 private:
  friend class StateStore;
  std::unique_ptr<rocksdb::WriteBatch> batch_;
};

// A decision waiting to be published (DESIGN §5 step 3).
struct OutboxEntry {
  std::int64_t seq = 0;
  std::int32_t partition = 0;
  std::string key;
  std::string value;
  bool operator==(const OutboxEntry&) const = default;
};

// A batch's outbox as it is stored (the 'x' record above), built entry by
// entry in one buffer: no std::string per decision, and the buffer's
// capacity survives clear(). Its index lets the publisher read each entry's
// key and value in place.
class OutboxBatch {
 public:
  struct Entry {
    std::int64_t seq = 0;
    std::int32_t partition = 0;
    std::uint32_t key_at = 0, key_size = 0, value_at = 0, value_size = 0;
  };

  OutboxBatch() { clear(); }

  void clear() {
    bytes_.assign(sizeof(std::uint32_t), '\0');  // the entry count, patched by add()
    entries_.clear();
  }

  // Appends an entry whose value write_value(std::string* out) appends to
  // `out` (e.g. a protobuf's AppendToString), so it is encoded in place.
  template <class WriteValue>
    requires std::invocable<WriteValue&, std::string*>
  void add(std::int64_t seq, std::int32_t partition, std::string_view key, WriteValue&& write_value) {
    Entry e;
    e.seq = seq;
    e.partition = partition;
    put(seq), put(partition), put(static_cast<std::uint32_t>(key.size()));
    e.key_at = static_cast<std::uint32_t>(bytes_.size());
    e.key_size = static_cast<std::uint32_t>(key.size());
    bytes_.append(key);
    const std::size_t size_at = bytes_.size();
    put(std::uint32_t{0});  // the value's size, patched below
    e.value_at = static_cast<std::uint32_t>(bytes_.size());
    write_value(&bytes_);
    e.value_size = static_cast<std::uint32_t>(bytes_.size() - e.value_at);
    patch(size_at, e.value_size);
    entries_.push_back(e);
    patch(0, static_cast<std::uint32_t>(entries_.size()));
  }
  void add(std::int64_t seq, std::int32_t partition, std::string_view key, std::string_view value) {
    add(seq, partition, key, [value](std::string* out) { out->append(value); });
  }

  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  const std::vector<Entry>& entries() const { return entries_; }
  std::string_view key(const Entry& e) const { return {bytes_.data() + e.key_at, e.key_size}; }
  std::string_view value(const Entry& e) const { return {bytes_.data() + e.value_at, e.value_size}; }
  // The stored record's value: u32 count, {seq i64, partition i32, key, value}*.
  std::string_view record() const { return bytes_; }

 private:
  template <class T>
  void put(T v) {
    bytes_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void patch(std::size_t at, std::uint32_t v) { std::memcpy(bytes_.data() + at, &v, sizeof v); }

  std::string bytes_;
  std::vector<Entry> entries_;
};

class StateStore {
 public:
  // Opens the store in `dir`, creating it if missing. Refuses a store of an
  // unknown format version (NotSupported) or one without a version
  // (Corruption).
  static Status open(const std::string& dir, std::unique_ptr<StateStore>* out);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  struct LoadStats {
    std::int64_t coupons = 0, events = 0, bytes = 0;
    double seconds = 0;
  };
  // Rebuilds `engine` (fresh: nothing decided yet) from the store, turns on
  // its change tracking, and returns the next input offset per partition
  // (empty when the store is new). Must be called before commit(); may be
  // called again with another fresh engine (when the one in memory went
  // ahead of the store, e.g. after a prepared batch was dropped).
  Status load(Engine* engine, std::map<std::int32_t, std::int64_t>* next_offsets, LoadStats* stats);

  // One fsynced WriteBatch: what the engine changed since the last commit
  // (its ChangeLog, cleared on success), the next offsets, and the outbox
  // entries (seqs positive and increasing, above those of earlier commits).
  // On failure nothing is written and the log is kept.
  Status commit(Engine& engine, const std::map<std::int32_t, std::int64_t>& next_offsets,
                const std::vector<OutboxEntry>& outbox);

  // commit() in two halves, so that the engine can decide the next batch
  // while this one is written (campaignd, DESIGN §5):
  //
  // prepare() serializes what the engine changed and the next offsets into
  // `out`, numbers it as the next batch and clears the change log. From
  // then on the batch exists only in `out`: if it is never written, the
  // engine is ahead of the store and must be loaded again. Writes nothing.
  Status prepare(Engine& engine, const std::map<std::int32_t, std::int64_t>& next_offsets, PendingCommit* out);
  // write() adds `outbox` (seqs positive and increasing) and writes the
  // batch, fsynced. It touches only the database, so it may run on another
  // thread than prepare(); batches must be written one at a time, in
  // prepare() order.
  Status write(PendingCommit* pending, const OutboxBatch& outbox);

  // Every outbox entry not yet trimmed, in seq order.
  Status read_outbox(std::vector<OutboxEntry>* out);
  // Drops the entries up to `up_to_seq_inclusive` once they are delivered
  // (a batch's record goes when all its entries are delivered; a trim mark
  // hides the rest), and stores `floors` with the mark in one write: per
  // decisions partition, the offset from which recovery must read the
  // topic to find every untrimmed entry that reached it. Not fsynced: a
  // trim lost in a crash leaves the older mark and floors, which hold for
  // the larger outbox too (recovery finds what is published by reading
  // from the floors, docs/architecture.md).
  Status trim_outbox(std::int64_t up_to_seq_inclusive, const std::map<std::int32_t, std::int64_t>& floors = {});
  // The floors of the last trim (empty for a store trimmed before floors
  // were kept, or never).
  Status read_publish_floors(std::map<std::int32_t, std::int64_t>* floors);

  // A RocksDB checkpoint (hard links where possible) in `target_dir`, which
  // must not exist yet; it opens as a store of the same state.
  Status checkpoint(const std::string& target_dir);

  // Bytes of the last committed WriteBatch, for logging and benchmarks.
  std::size_t last_commit_bytes() const { return last_commit_bytes_.load(); }

 private:
  class Loader;
  explicit StateStore(std::unique_ptr<rocksdb::DB> db);
  Status check_version();
  Status flush_replayed_wal();
  Status build(const Engine& engine, const std::map<std::int32_t, std::int64_t>& next_offsets,
               std::uint64_t batch_number, rocksdb::WriteBatch* batch);
  Status put_outbox(const OutboxBatch& outbox, rocksdb::WriteBatch* batch);
  Status write_batch(rocksdb::WriteBatch* batch);
  Status trimmed_seq(std::int64_t* seq);
  Status scan_outbox_records();
  void note_outbox_record(const OutboxBatch& outbox);

  std::unique_ptr<rocksdb::DB> db_;
  std::string dir_;
  bool loaded_ = false;
  std::uint64_t next_batch_ = 0;  // numbers the append-only chunks
  std::atomic<std::size_t> last_commit_bytes_{0};
  // The outbox records not yet deleted (first, last seq, in seq order) and
  // the trim mark, once trim_outbox() read them.
  std::mutex outbox_mutex_;
  bool outbox_known_ = false;
  std::int64_t trimmed_ = 0;
  std::deque<std::pair<std::uint64_t, std::uint64_t>> outbox_records_;
};

}  // namespace dangol::storage
