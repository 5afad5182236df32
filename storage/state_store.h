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

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "storage/status.h"

namespace rocksdb {
class DB;
class WriteBatch;
}

namespace dangol::storage {

inline constexpr std::uint32_t kFormatVersion = 1;

// A decision waiting to be published (DESIGN §5 step 3).
struct OutboxEntry {
  std::int64_t seq = 0;
  std::int32_t partition = 0;
  std::string key;
  std::string value;
  bool operator==(const OutboxEntry&) const = default;
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
  // (empty when the store is new). Must be called once before commit().
  Status load(Engine* engine, std::map<std::int32_t, std::int64_t>* next_offsets, LoadStats* stats);

  // One fsynced WriteBatch: what the engine changed since the last commit
  // (its ChangeLog, cleared on success), the next offsets, and the outbox
  // entries (seqs positive and increasing, above those of earlier commits).
  // On failure nothing is written and the log is kept.
  Status commit(Engine& engine, const std::map<std::int32_t, std::int64_t>& next_offsets,
                const std::vector<OutboxEntry>& outbox);

  // Every outbox entry not yet trimmed, in seq order.
  Status read_outbox(std::vector<OutboxEntry>* out);
  // Drops the entries up to `up_to_seq_inclusive` once they are delivered
  // (a batch's record goes when all its entries are delivered; a trim mark
  // hides the rest). Not fsynced: a trim lost in a crash only re-publishes
  // entries that recovery skips by seq anyway (DESIGN §5).
  Status trim_outbox(std::int64_t up_to_seq_inclusive);

  // A RocksDB checkpoint (hard links where possible) in `target_dir`, which
  // must not exist yet; it opens as a store of the same state.
  Status checkpoint(const std::string& target_dir);

  // Bytes of the last committed WriteBatch, for logging and benchmarks.
  std::size_t last_commit_bytes() const { return last_commit_bytes_; }

 private:
  class Loader;
  explicit StateStore(std::unique_ptr<rocksdb::DB> db);
  Status check_version();
  Status put_outbox(const std::vector<OutboxEntry>& outbox, rocksdb::WriteBatch* batch);
  Status trimmed_seq(std::int64_t* seq);

  std::unique_ptr<rocksdb::DB> db_;
  bool loaded_ = false;
  std::uint64_t next_batch_ = 0;  // numbers the append-only chunks
  std::size_t last_commit_bytes_ = 0;
};

}  // namespace dangol::storage
