#include "names.h"

#include <string>

namespace akt::internal {

Status ValidateActorName(std::string_view name) {
  if (name.empty()) return InvalidArgumentError("actor name is empty");
  if (name.size() > kMaxActorNameLength) {
    return InvalidArgumentError("actor name is longer than 255 characters");
  }
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0])) {
    return InvalidArgumentError("actor name '" + std::string(name) +
                                "' must start with a letter or digit");
  }
  for (char c : name) {
    if (!alnum(c) && c != '_' && c != '-' && c != '.') {
      return InvalidArgumentError("actor name '" + std::string(name) +
                                  "' may only contain letters, digits, '_', '-' and '.'");
    }
  }
  if (name.substr(0, kReservedPrefix.size()) == kReservedPrefix) {
    return InvalidArgumentError("actor names starting with 'akt.' are reserved for the system");
  }
  return Status();
}

bool ValidSystemName(std::string_view name) {
  return !name.empty() && name.size() <= 255 &&
         name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789-_") == std::string_view::npos;
}

}  // namespace akt::internal
