#pragma once
// Plain values read from and written to any byte position (ids, buffers).
// memcpy of a fixed size compiles to one load or store.

#include <cstring>

namespace dangol {

template <class T>
T load_unaligned(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class T>
void store_unaligned(char* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

}  // namespace dangol
