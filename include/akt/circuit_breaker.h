// akt/circuit_breaker.h — stop calling something that keeps failing, and
// try it again later.
//
// A breaker starts closed: calls go through and consecutive failures are
// counted. `failure_threshold` failures in a row open it: calls fail fast,
// without running, for `reset_timeout`. Then it is half-open: up to
// `max_half_open_trials` calls go through as trials; that many successes in
// a row close it, and any failure opens it again for another reset_timeout.
//
//   akt::Result<std::shared_ptr<akt::CircuitBreaker>> created = akt::CircuitBreaker::Create(
//       {.failure_threshold = 5, .reset_timeout = 30s, .max_half_open_trials = 1});
//   if (!created.ok()) return created.status();  // kInvalidArgument: an option is out of range
//   std::shared_ptr<akt::CircuitBreaker> breaker = *created;
//   // With PipeTo (akt/pipe_to.h), which runs the protocol below by itself:
//   akt::PipeTo(ctx, ctx.self(), [] { return LoadQuote("ACME"); },
//               akt::PipeOptions().WithCircuitBreaker(breaker))
//       .IgnoreError();
//
// Any other call can be guarded the same way:
//
//   if (std::optional<akt::CircuitBreaker::Ticket> t = breaker->TryAcquire()) {
//     bool ok = CallTheService();
//     ok ? breaker->RecordSuccess(*t) : breaker->RecordFailure(*t);
//   } else {
//     // open: fail fast
//   }
//
// Thread-safe (one mutex; the breaker guards slow calls, not a hot path).
// Times are passed in so the breaker can run on a system's virtual clock in
// tests; PipeTo passes the system's clock. Outside PipeTo the defaults read
// akt::Clock.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include "akt/fwd.h"
#include "akt/status.h"

namespace akt {

struct CircuitBreakerOptions {
  // Consecutive failures that open a closed breaker (>= 1).
  int failure_threshold = 5;
  // How long an open breaker fails fast before it lets trials through (> 0).
  Duration reset_timeout = std::chrono::seconds(10);
  // Calls let through while half-open, and the successes in a row that
  // close it (>= 1).
  int max_half_open_trials = 1;
};

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };

  // The right to make one call; report its outcome exactly once with
  // RecordSuccess / RecordFailure, or give it back with Release if the call
  // never happened. An outcome reported after the breaker changed state since
  // the ticket was taken is ignored (it is about an older period).
  struct Ticket {
    uint64_t generation = 0;
  };

  // kInvalidArgument when an option is out of range.
  static Result<std::shared_ptr<CircuitBreaker>> Create(CircuitBreakerOptions options = {});

  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  // A ticket when a call may go ahead at `now`; nullopt when the breaker is
  // open, or half-open with all its trials taken.
  std::optional<Ticket> TryAcquire(TimePoint now = Clock::now());
  void RecordSuccess(const Ticket& ticket);
  void RecordFailure(const Ticket& ticket, TimePoint now = Clock::now());
  void Release(const Ticket& ticket);

  // The state at `now` (an open breaker whose reset_timeout has passed is
  // half-open).
  State state(TimePoint now = Clock::now()) const;
  // Failures in a row counted while closed.
  int consecutive_failures() const;
  // When an open breaker turns half-open; TimePoint::min() when not open.
  TimePoint open_until() const;
  const CircuitBreakerOptions& options() const { return options_; }

 private:
  explicit CircuitBreaker(CircuitBreakerOptions options) : options_(options) {}
  // Moves an open breaker whose reset_timeout passed to half-open; caller holds mu_.
  void AdvanceLocked(TimePoint now);
  void OpenLocked(TimePoint now);

  const CircuitBreakerOptions options_;
  mutable std::mutex mu_;
  State state_ = State::kClosed;
  uint64_t generation_ = 0;  // bumped at every state change
  TimePoint open_until_ = TimePoint::min();
  int failures_ = 0;         // closed: failures in a row
  int trials_started_ = 0;   // half-open: trials let through
  int trial_successes_ = 0;  // half-open: successes in a row
};

// Short name of a state: "CLOSED", "OPEN", "HALF_OPEN".
std::string_view CircuitBreakerStateName(CircuitBreaker::State state);

}  // namespace akt
