// akt/supervisor.h — what happens when an actor fails.
//
// An actor fails when Receive or PreStart throws, or when it reports an error
// with `ctx.Err(...)`. Its supervisor (given at spawn, one per child) picks a
// directive from rules keyed by the kind of error:
//
//   auto sup = akt::Supervisor()
//       .WithStrategy(akt::Strategy::kOneForOne)
//       .WithDirective<std::invalid_argument>(akt::Directive::kResume)
//       .WithDirective(akt::StatusCode::kUnhandled, akt::Directive::kResume)
//       .WithAnyErrorDirective(akt::Directive::kRestart)
//       .WithRetry(3, std::chrono::seconds(10))
//       .WithBackoff(10ms, 1s);
//   akt::Result<akt::PID> w1 = system.SpawnWith<Worker>("w1", akt::SpawnOptions().WithSupervisor(sup));
//
// Rules are tried in the order they were added; the any-error rule last.
// `Supervisor()` starts with the default rules (see its constructor); call
// ClearRules() to start empty. An error that no rule matches *suspends* the
// actor: it keeps its mailbox but processes nothing until `pid.Reinstate()`
// (or it is stopped/restarted).
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "akt/fwd.h"
#include "akt/status.h"

namespace akt {

enum class Directive {
  kStop,      // stop the actor (and its children)
  kResume,    // drop the failing message, keep the state, go on
  kRestart,   // a fresh instance (PostStop, factory, PreStart); mailbox kept
  kEscalate,  // fail the parent with this error; the parent's supervisor decides
};

enum class Strategy {
  kOneForOne,  // the directive applies to the failing actor only
  kOneForAll,  // Stop/Restart apply to the failing actor and all its siblings
};

// The error an actor reports with `ctx.Err(status)`; rules keyed by a
// StatusCode match it.
class ActorError : public std::runtime_error {
 public:
  explicit ActorError(Status status)
      : std::runtime_error(status.ToString()), status_(std::move(status)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// Raised inside an actor by `pid.Kill()`.
class ActorKilledError : public std::runtime_error {
 public:
  ActorKilledError() : std::runtime_error("actor killed") {}
};

class Supervisor {
 public:
  // The default: OneForOne; ActorKilledError -> Stop; any other error ->
  // Restart, at most 10 restarts within 10 s (then Stop), no backoff.
  Supervisor();

  Supervisor& WithStrategy(Strategy s) {
    strategy_ = s;
    return *this;
  }
  // Rule for errors of C++ type E (or derived from E).
  template <typename E>
  Supervisor& WithDirective(Directive d) {
    rules_.push_back({[](const std::exception_ptr& e) {
                        try {
                          std::rethrow_exception(e);
                        } catch (const E&) {
                          return true;
                        } catch (...) {
                          return false;
                        }
                      },
                      d});
    return *this;
  }
  // Rule for `ActorError`s (from ctx.Err(status)) carrying `code`.
  Supervisor& WithDirective(StatusCode code, Directive d);
  // Rule for any error no other rule matched. Without it, such errors suspend.
  Supervisor& WithAnyErrorDirective(Directive d) {
    any_ = d;
    return *this;
  }
  // Removes every rule (including the default ones) and the any-error rule.
  Supervisor& ClearRules() {
    rules_.clear();
    any_.reset();
    return *this;
  }
  // Restart at most `max_retries` times within `window`; one more failure in
  // the window stops the actor. max_retries < 0 means unlimited.
  Supervisor& WithRetry(int max_retries, Duration window) {
    max_retries_ = max_retries;
    window_ = window;
    return *this;
  }
  // Delay restarts: initial, doubling per consecutive restart, capped at max.
  Supervisor& WithBackoff(Duration initial, Duration max) {
    backoff_initial_ = initial;
    backoff_max_ = max;
    return *this;
  }

  // The directive for `error`, or nullopt when no rule matches (suspend).
  std::optional<Directive> Decide(const std::exception_ptr& error) const;

  Strategy strategy() const { return strategy_; }
  int max_retries() const { return max_retries_; }
  Duration window() const { return window_; }
  Duration backoff_initial() const { return backoff_initial_; }
  Duration backoff_max() const { return backoff_max_; }

 private:
  struct Rule {
    std::function<bool(const std::exception_ptr&)> matches;
    Directive directive;
  };
  Strategy strategy_ = Strategy::kOneForOne;
  std::vector<Rule> rules_;
  std::optional<Directive> any_;
  int max_retries_ = 10;
  Duration window_ = std::chrono::seconds(10);
  Duration backoff_initial_{0};
  Duration backoff_max_{0};
};

// A readable description of an exception_ptr ("std::invalid_argument: bad").
std::string DescribeError(const std::exception_ptr& error);

}  // namespace akt
