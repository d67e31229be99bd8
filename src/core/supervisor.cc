#include "akt/supervisor.h"

#include <cxxabi.h>

namespace akt {

Supervisor::Supervisor() {
  WithDirective<ActorKilledError>(Directive::kStop);
  WithAnyErrorDirective(Directive::kRestart);
}

Supervisor& Supervisor::WithDirective(StatusCode code, Directive d) {
  rules_.push_back({[code](const std::exception_ptr& e) {
                      try {
                        std::rethrow_exception(e);
                      } catch (const ActorError& a) {
                        return a.status().code() == code;
                      } catch (...) {
                        return false;
                      }
                    },
                    d});
  return *this;
}

std::optional<Directive> Supervisor::Decide(const std::exception_ptr& error) const {
  for (const Rule& r : rules_) {
    if (r.matches(error)) return r.directive;
  }
  return any_;
}

std::string DescribeError(const std::exception_ptr& error) {
  if (!error) return "unknown error";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    int status = 0;
    char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
    std::string out = (status == 0 && name != nullptr) ? name : typeid(e).name();
    std::free(name);
    return out + ": " + e.what();
  } catch (...) {
    return "non-standard exception";
  }
}

}  // namespace akt
