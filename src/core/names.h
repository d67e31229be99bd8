// Actor name rules, shared by spawn and (later) remote lookups.
#pragma once

#include <string>
#include <string_view>

#include "akt/status.h"

namespace akt::internal {

constexpr std::size_t kMaxActorNameLength = 255;
constexpr std::string_view kReservedPrefix = "akt.";

// 1..255 characters of [A-Za-z0-9_.-], starting with a letter or digit, not
// starting with the reserved "akt." prefix.
Status ValidateActorName(std::string_view name);

// 1..255 of [A-Za-z0-9_-]: an actor system's name (and a cluster's).
bool ValidSystemName(std::string_view name);

// `text` in single quotes, for error messages ('orders' ...). Appended, not
// "'" + std::string(text): GCC 12 warns (-Wrestrict) on that once inlined.
inline std::string Quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.append(1, '\'').append(text).append(1, '\'');
  return out;
}

}  // namespace akt::internal
