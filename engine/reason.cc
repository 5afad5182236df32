#include "engine/reason.h"

namespace dangol {

std::optional<Reason> reason_from_name(std::string_view name) {
  for (int i = 0; i < static_cast<int>(Reason::kCount); ++i) {
    auto r = static_cast<Reason>(i);
    if (reason_name(r) == name) return r;
  }
  return std::nullopt;
}

}  // namespace dangol
