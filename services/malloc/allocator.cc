#include "services/malloc/allocator.h"

#ifdef DANGOL_JEMALLOC
#include <jemalloc/jemalloc.h>

#include <string_view>

// jemalloc reads these settings at its first allocation; MALLOC_CONF in the
// environment still overrides them.
//
// thp:always backs jemalloc's memory with transparent huge pages (where the
// kernel allows them on madvise, as Debian's does). campaignd's state and
// librdkafka's prefetched messages grow by hundreds of MB from an empty
// process, and faulting that in 4 KiB at a time cost more CPU than deciding
// the events: in the end-to-end benchmark (tests/bench/campaignd_bench.sh,
// paired runs) campaignd used about a fifth less CPU with it and caught up
// in 1.15-1.33 s instead of 1.48-1.63 s on glibc. It rounds the resident
// size up a little (a 1M-event replay: 191 against 181 MB on glibc).
extern "C" {
const char* malloc_conf = "thp:always,metadata_thp:auto";
}

namespace dangol {

std::string allocator_description() {
  const char* version = nullptr;
  const char* thp = nullptr;
  std::size_t size = sizeof(const char*);
  if (mallctl("version", &version, &size, nullptr, 0) != 0) return "jemalloc (version unknown)";
  size = sizeof(const char*);
  if (mallctl("opt.thp", &thp, &size, nullptr, 0) != 0) thp = "unknown";
  const std::string_view v(version);
  return "jemalloc " + std::string(v.substr(0, v.find('-'))) + " (thp " + thp + ")";
}

}  // namespace dangol

#else

namespace dangol {

std::string allocator_description() { return "the sanitizer's allocator"; }

}  // namespace dangol

#endif
