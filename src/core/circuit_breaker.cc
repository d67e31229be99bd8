#include "akt/circuit_breaker.h"

namespace akt {

Result<std::shared_ptr<CircuitBreaker>> CircuitBreaker::Create(CircuitBreakerOptions options) {
  if (options.failure_threshold < 1) {
    return InvalidArgumentError("circuit breaker failure_threshold must be >= 1");
  }
  if (options.reset_timeout <= Duration::zero()) {
    return InvalidArgumentError("circuit breaker reset_timeout must be > 0");
  }
  if (options.max_half_open_trials < 1) {
    return InvalidArgumentError("circuit breaker max_half_open_trials must be >= 1");
  }
  return std::shared_ptr<CircuitBreaker>(new CircuitBreaker(options));
}

void CircuitBreaker::AdvanceLocked(TimePoint now) {
  if (state_ == State::kOpen && now >= open_until_) {
    state_ = State::kHalfOpen;
    ++generation_;
    trials_started_ = 0;
    trial_successes_ = 0;
  }
}

void CircuitBreaker::OpenLocked(TimePoint now) {
  state_ = State::kOpen;
  ++generation_;
  open_until_ = now + options_.reset_timeout;
  failures_ = 0;
}

std::optional<CircuitBreaker::Ticket> CircuitBreaker::TryAcquire(TimePoint now) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked(now);
  switch (state_) {
    case State::kClosed:
      return Ticket{generation_};
    case State::kOpen:
      return std::nullopt;
    case State::kHalfOpen:
      if (trials_started_ >= options_.max_half_open_trials) return std::nullopt;
      ++trials_started_;
      return Ticket{generation_};
  }
  return std::nullopt;
}

void CircuitBreaker::RecordSuccess(const Ticket& ticket) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ticket.generation != generation_) return;
  if (state_ == State::kClosed) {
    failures_ = 0;
  } else if (state_ == State::kHalfOpen) {
    if (++trial_successes_ >= options_.max_half_open_trials) {
      state_ = State::kClosed;
      ++generation_;
      failures_ = 0;
      open_until_ = TimePoint::min();
    }
  }
}

void CircuitBreaker::RecordFailure(const Ticket& ticket, TimePoint now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ticket.generation != generation_) return;
  if (state_ == State::kClosed) {
    if (++failures_ >= options_.failure_threshold) OpenLocked(now);
  } else if (state_ == State::kHalfOpen) {
    OpenLocked(now);
  }
}

void CircuitBreaker::Release(const Ticket& ticket) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ticket.generation != generation_) return;
  if (state_ == State::kHalfOpen && trials_started_ > 0) --trials_started_;
}

CircuitBreaker::State CircuitBreaker::state(TimePoint now) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ == State::kOpen && now >= open_until_) return State::kHalfOpen;
  return state_;
}

int CircuitBreaker::consecutive_failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

TimePoint CircuitBreaker::open_until() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_ == State::kOpen ? open_until_ : TimePoint::min();
}

std::string_view CircuitBreakerStateName(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::kClosed:
      return "CLOSED";
    case CircuitBreaker::State::kOpen:
      return "OPEN";
    case CircuitBreaker::State::kHalfOpen:
      return "HALF_OPEN";
  }
  return "UNKNOWN";
}

}  // namespace akt
