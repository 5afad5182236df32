#pragma once
// Invariant checks that stay on in every build (STYLE habit 2): a broken
// invariant is a bug, and continuing would corrupt a ledger. They never depend
// on NDEBUG.

#include <cstdio>
#include <cstdlib>

namespace dangol::detail {
[[noreturn]] inline void assert_failed(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "dangol: invariant violated: %s (%s) at %s:%d\n", msg, expr, file, line);
  std::fflush(stderr);
  std::abort();
}
}  // namespace dangol::detail

#define DANGOL_ASSERT(cond, msg)                                                \
  do {                                                                          \
    if (__builtin_expect(!(cond), 0)) {                                         \
      ::dangol::detail::assert_failed(#cond, __FILE__, __LINE__, (msg));        \
    }                                                                           \
  } while (0)
