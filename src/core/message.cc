#include "akt/message.h"

#include <cxxabi.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>

namespace akt {

std::string_view internal::DemangledTypeName(const char* mangled) {
  // Interned forever: type names are few and referenced by string_view.
  static std::mutex mu;
  static auto* names = new std::unordered_map<const char*, std::string>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = names->find(mangled);
  if (it != names->end()) return it->second;
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = (status == 0 && d != nullptr) ? d : mangled;
  std::free(d);
  return names->emplace(mangled, std::move(name)).first->second;
}

std::string_view Message::TypeName() const { return ops_ ? ops_->name() : "<empty>"; }

}  // namespace akt
