#include "akt/status.h"

#include <cstdio>
#include <cstdlib>

namespace akt {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kTimeout:
      return "TIMEOUT";
    case StatusCode::kNotFound:
      return "NOT_FOUND";
    case StatusCode::kStopped:
      return "STOPPED";
    case StatusCode::kMailboxFull:
      return "MAILBOX_FULL";
    case StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case StatusCode::kAlreadyExists:
      return "ALREADY_EXISTS";
    case StatusCode::kUnhandled:
      return "UNHANDLED";
    case StatusCode::kFailedPrecondition:
      return "FAILED_PRECONDITION";
    case StatusCode::kActorFailed:
      return "ACTOR_FAILED";
    case StatusCode::kTypeMismatch:
      return "TYPE_MISMATCH";
    case StatusCode::kSystemStopped:
      return "SYSTEM_STOPPED";
    case StatusCode::kCancelled:
      return "CANCELLED";
    case StatusCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case StatusCode::kInternal:
      return "INTERNAL";
    case StatusCode::kUnavailable:
      return "UNAVAILABLE";
    case StatusCode::kProtocolError:
      return "PROTOCOL_ERROR";
    case StatusCode::kActivationFailed:
      return "ACTIVATION_FAILED";
  }
  return "UNKNOWN";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s(StatusCodeName(code_));
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

Status TimeoutError(std::string m) { return Status(StatusCode::kTimeout, std::move(m)); }
Status NotFoundError(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
Status StoppedError(std::string m) { return Status(StatusCode::kStopped, std::move(m)); }
Status MailboxFullError(std::string m) { return Status(StatusCode::kMailboxFull, std::move(m)); }
Status InvalidArgumentError(std::string m) {
  return Status(StatusCode::kInvalidArgument, std::move(m));
}
Status AlreadyExistsError(std::string m) {
  return Status(StatusCode::kAlreadyExists, std::move(m));
}
Status FailedPreconditionError(std::string m) {
  return Status(StatusCode::kFailedPrecondition, std::move(m));
}
Status UnavailableError(std::string m) { return Status(StatusCode::kUnavailable, std::move(m)); }
Status UnhandledError(std::string m) { return Status(StatusCode::kUnhandled, std::move(m)); }
Status ActorFailedError(std::string m) { return Status(StatusCode::kActorFailed, std::move(m)); }
Status TypeMismatchError(std::string m) { return Status(StatusCode::kTypeMismatch, std::move(m)); }
Status CancelledError(std::string m) { return Status(StatusCode::kCancelled, std::move(m)); }
Status ResourceExhaustedError(std::string m) {
  return Status(StatusCode::kResourceExhausted, std::move(m));
}
Status InternalError(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }
Status ProtocolError(std::string m) { return Status(StatusCode::kProtocolError, std::move(m)); }
Status ActivationFailedError(std::string m) {
  return Status(StatusCode::kActivationFailed, std::move(m));
}

namespace internal {
void DieOnErrorValue(const Status& status) {
  std::fprintf(stderr, "akt: Result::value() on an error: %s\n", status.ToString().c_str());
  std::fflush(stderr);
  std::abort();
}
}  // namespace internal
Status SystemStoppedError(std::string m) {
  return Status(StatusCode::kSystemStopped, std::move(m));
}

}  // namespace akt
