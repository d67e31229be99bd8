// Actor name rules, shared by spawn and (later) remote lookups.
#pragma once

#include <string_view>

#include "akt/status.h"

namespace akt::internal {

constexpr std::size_t kMaxActorNameLength = 255;
constexpr std::string_view kReservedPrefix = "akt.";

// 1..255 characters of [A-Za-z0-9_.-], starting with a letter or digit, not
// starting with the reserved "akt." prefix.
Status ValidateActorName(std::string_view name);

}  // namespace akt::internal
