#pragma once
// The allocator the binaries run on (services/malloc/CMakeLists.txt).

#include <string>

namespace dangol {

// For the startup log: "jemalloc 5.3.0 (thp always)", or what stands in
// its place in a sanitizer build.
std::string allocator_description();

}  // namespace dangol
