#pragma once
// Byte-level helpers for the state store's records (layout: state_store.h).
// Values are little-endian fixed-width integers and length-prefixed strings,
// decoded by memcpy: loading a million coupons is dominated by building the
// tables, not by parsing. Keys are big-endian so that RocksDB's byte order is
// numeric order (coupons load in index order, the outbox in seq order).

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace dangol::storage::codec {

static_assert(std::endian::native == std::endian::little, "records are memcpy'd little-endian");

// Appends to a value.
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  template <class T>
  void fixed(T v) {
    static_assert(std::is_integral_v<T>);
    out_->append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void u8(std::uint8_t v) { fixed(v); }
  void u32(std::uint32_t v) { fixed(v); }
  void i32(std::int32_t v) { fixed(v); }
  void i64(std::int64_t v) { fixed(v); }
  void u64(std::uint64_t v) { fixed(v); }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_->append(s);
  }
  void raw(const void* p, std::size_t n) { out_->append(static_cast<const char*>(p), n); }

 private:
  std::string* out_;
};

// Reads a value. A read past the end yields zeros and makes ok() false, so a
// decoder checks once at the end instead of after every field.
class Reader {
 public:
  explicit Reader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}
  template <class T>
  T fixed() {
    T v{};
    if (!take(sizeof v)) return v;
    std::memcpy(&v, p_ - sizeof v, sizeof v);
    return v;
  }
  std::uint8_t u8() { return fixed<std::uint8_t>(); }
  std::uint32_t u32() { return fixed<std::uint32_t>(); }
  std::int32_t i32() { return fixed<std::int32_t>(); }
  std::int64_t i64() { return fixed<std::int64_t>(); }
  std::uint64_t u64() { return fixed<std::uint64_t>(); }
  std::string_view str() {
    std::uint32_t n = u32();
    if (!take(n)) return {};
    return {p_ - n, n};
  }
  // `n` raw bytes, or null when fewer are left.
  const char* raw(std::size_t n) { return take(n) ? p_ - n : nullptr; }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && p_ == end_; }  // everything read, nothing left

 private:
  bool take(std::size_t n) {
    if (!ok_ || static_cast<std::size_t>(end_ - p_) < n) {
      ok_ = false;
      return false;
    }
    p_ += n;
    return true;
  }
  const char* p_;
  const char* end_;
  bool ok_ = true;
};

// std::byteswap is C++23.
inline std::uint32_t byteswap(std::uint32_t v) { return __builtin_bswap32(v); }
inline std::uint64_t byteswap(std::uint64_t v) { return __builtin_bswap64(v); }

// Keys: a one-byte table tag, then big-endian ids.
class Key {
 public:
  explicit Key(char tag) { bytes_.push_back(tag); }
  Key& u8(std::uint8_t v) {
    bytes_.push_back(static_cast<char>(v));
    return *this;
  }
  Key& u32(std::uint32_t v) { return be(v); }
  Key& u64(std::uint64_t v) { return be(v); }
  // Signed values with the sign bit flipped, so negative days sort first.
  Key& i64(std::int64_t v) { return be(static_cast<std::uint64_t>(v) ^ (std::uint64_t{1} << 63)); }
  const std::string& bytes() const { return bytes_; }
  operator std::string_view() const { return bytes_; }

 private:
  template <class T>
  Key& be(T v) {
    T big = byteswap(v);
    bytes_.append(reinterpret_cast<const char*>(&big), sizeof big);
    return *this;
  }
  std::string bytes_;
};

// Reads the big-endian id at `offset` of a key (after the tag).
template <class T>
T key_id(std::string_view key, std::size_t offset) {
  T big{};
  if (key.size() >= offset + sizeof big) std::memcpy(&big, key.data() + offset, sizeof big);
  return byteswap(big);
}

}  // namespace dangol::storage::codec
