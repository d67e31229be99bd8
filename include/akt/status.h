// akt/status.h — errors as values.
//
// Every akt call that can fail in normal operation returns a `Status` or a
// `Result<T>` instead of throwing. A `Status` is a code from the small,
// documented `StatusCode` set plus a human-readable message.
//
//   akt::Result<Pong> r = pid.Ask<Pong>(Ping{}, std::chrono::seconds(1));
//   if (!r.ok()) {
//     if (r.status().code() == akt::StatusCode::kTimeout) { /* retry */ }
//     return r.status();
//   }
//   Use(r.value());
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace akt {

// The complete set of error codes. Each says what happened and what a caller
// should do about it.
enum class StatusCode : int {
  // Success.
  kOk = 0,
  // A deadline passed before the operation completed (Ask, SendSync, Request).
  // The receiver may still process the message; retry only if idempotent.
  kTimeout = 1,
  // No actor by that name, or the PID is empty. Check the name or spawn first.
  kNotFound = 2,
  // The target actor has stopped (or stopped before it processed the
  // message). The message went to dead letters.
  kStopped = 3,
  // A bounded mailbox was full and its policy is to refuse. Back off or drop.
  kMailboxFull = 4,
  // An argument is invalid: a malformed name, a zero timeout, a wrong option.
  // Fix the call; retrying will not help.
  kInvalidArgument = 5,
  // A name is already taken by a live actor. Pick another or look it up.
  kAlreadyExists = 6,
  // The receiver did not handle the message (Receive left it unhandled).
  kUnhandled = 7,
  // The operation is not allowed in the current state (system not started,
  // reply already sent, stopping, ...).
  kFailedPrecondition = 8,
  // The receiving actor failed (threw or reported an error) while handling a
  // request; the message carries the failure's description.
  kActorFailed = 9,
  // The reply arrived but is not of the type the caller asked for.
  kTypeMismatch = 10,
  // The actor system is shutting down or stopped.
  kSystemStopped = 11,
  // The operation was cancelled by the caller (reserved: no call returns it
  // yet; cancellable operations will).
  kCancelled = 12,
  // A resource limit was hit: a full stash, too many requests in flight
  // (Reentrancy::max_in_flight), an open circuit breaker.
  kResourceExhausted = 13,
  // A bug or an invariant violation inside akt. Please report it.
  kInternal = 14,
  // A remote node cannot be reached (connect failed, connection lost, or a
  // reconnect backoff is in force). Retry later.
  kUnavailable = 15,
  // A remote peer broke the protocol (malformed frame, unknown message type,
  // failed handshake).
  kProtocolError = 16,
  // A grain could not be activated: its OnActivate failed (or took longer
  // than the activation timeout) on every attempt.
  kActivationFailed = 17,
};

// Short, stable name of a code ("TIMEOUT", "NOT_FOUND", ...).
std::string_view StatusCodeName(StatusCode code);

// A code plus a message. Cheap to copy when ok (no allocation).
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "TIMEOUT: ask to order-1 timed out after 100ms".
  std::string ToString() const;

  // Explicitly ignore a status that does not matter to the caller.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// One constructor per code: `NotFoundError("no actor named 'x'")`.
Status TimeoutError(std::string message);
Status NotFoundError(std::string message);
Status StoppedError(std::string message);
Status MailboxFullError(std::string message);
Status InvalidArgumentError(std::string message);
Status AlreadyExistsError(std::string message);
Status UnhandledError(std::string message);
Status FailedPreconditionError(std::string message);
Status ActorFailedError(std::string message);
Status TypeMismatchError(std::string message);
Status SystemStoppedError(std::string message);
Status CancelledError(std::string message);
Status ResourceExhaustedError(std::string message);
Status InternalError(std::string message);
Status UnavailableError(std::string message);
Status ProtocolError(std::string message);
Status ActivationFailedError(std::string message);

// One predicate per code: `if (IsNotFound(s)) ...`.
inline bool IsTimeout(const Status& s) { return s.code() == StatusCode::kTimeout; }
inline bool IsNotFound(const Status& s) { return s.code() == StatusCode::kNotFound; }
inline bool IsStopped(const Status& s) { return s.code() == StatusCode::kStopped; }
inline bool IsMailboxFull(const Status& s) { return s.code() == StatusCode::kMailboxFull; }
inline bool IsInvalidArgument(const Status& s) { return s.code() == StatusCode::kInvalidArgument; }
inline bool IsAlreadyExists(const Status& s) { return s.code() == StatusCode::kAlreadyExists; }
inline bool IsUnhandled(const Status& s) { return s.code() == StatusCode::kUnhandled; }
inline bool IsFailedPrecondition(const Status& s) {
  return s.code() == StatusCode::kFailedPrecondition;
}
inline bool IsActorFailed(const Status& s) { return s.code() == StatusCode::kActorFailed; }
inline bool IsTypeMismatch(const Status& s) { return s.code() == StatusCode::kTypeMismatch; }
inline bool IsSystemStopped(const Status& s) { return s.code() == StatusCode::kSystemStopped; }
inline bool IsCancelled(const Status& s) { return s.code() == StatusCode::kCancelled; }
inline bool IsResourceExhausted(const Status& s) {
  return s.code() == StatusCode::kResourceExhausted;
}
inline bool IsInternal(const Status& s) { return s.code() == StatusCode::kInternal; }
inline bool IsUnavailable(const Status& s) { return s.code() == StatusCode::kUnavailable; }
inline bool IsProtocolError(const Status& s) { return s.code() == StatusCode::kProtocolError; }
inline bool IsActivationFailed(const Status& s) {
  return s.code() == StatusCode::kActivationFailed;
}

namespace internal {
// Prints "Result::value() on an error: <status>" to stderr and aborts.
[[noreturn]] void DieOnErrorValue(const Status& status);
}  // namespace internal

// A value or an error. `value()` (and `*`, `->`) on an error is a programming
// bug: it aborts with the error's text, in every build type.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result constructed from an ok Status without a value");
    if (status_.ok()) status_ = Status(StatusCode::kInternal, "Result from ok Status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & {
    if (!ok()) internal::DieOnErrorValue(status_);
    return *value_;
  }
  const T& value() const& {
    if (!ok()) internal::DieOnErrorValue(status_);
    return *value_;
  }
  T&& value() && {
    if (!ok()) internal::DieOnErrorValue(status_);
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The value, or `fallback` on error.
  T value_or(T fallback) const& { return ok() ? *value_ : std::move(fallback); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace akt
