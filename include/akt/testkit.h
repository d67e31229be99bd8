// akt/testkit.h — test probes: an actor your test holds and asserts on.
//
// A TestProbe is a real actor with its own PID. Give its PID to the actors
// under test (as a collaborator, a subscriber, a reply-to address); it keeps
// everything it receives, in order, and the test takes the messages out with
// the Expect* calls, each with a deadline:
//
// doc-test: context=headers wrap=function
//   akt::testkit::TestProbe probe(system);
//   auto greeter = system.Spawn<Greeter>("greeter", probe.pid());
//   greeter->Tell(Greet{"ada"}).IgnoreError();
//
//   akt::Result<Greeting> g = probe.ExpectMessage<Greeting>(1s);
//   ASSERT_TRUE(g.ok()) << g.status().ToString();
//   EXPECT_EQ(g->text, "hello ada");
//   akt::Status none = probe.ExpectNoMessage(100ms);
//   EXPECT_TRUE(none.ok()) << none.ToString();
//
// The results are akt::Result / akt::Status values whose ToString() says what
// was expected and what came instead ("probe p: expected Greeting, got
// Ping"), so the testkit needs no test framework and reads well in
// GoogleTest's EXPECT_TRUE(r.ok()) << r.status().ToString().
//
// It works with a real ActorSystem (the test thread blocks until a message or
// the deadline, woken as soon as a message arrives) and with
// akt::testing::DeterministicSystem (waiting runs the actors on the test
// thread and advances virtual time, like a blocking Ask does there).
//
// Every Expect* takes the next message off the probe's queue, whether or not
// it is what was expected. Failures carry kTimeout (nothing arrived in time),
// kTypeMismatch (a message of another type arrived) or kFailedPrecondition
// (the right type with another value, a message that should not have come,
// or one that came too early). A probe is driven by one thread (the test's),
// never from inside an actor.
#pragma once

#include <chrono>
#include <concepts>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "akt/fwd.h"
#include "akt/message.h"
#include "akt/pid.h"
#include "akt/status.h"

namespace akt::testkit {

class TestProbe {
 public:
  static constexpr Duration kDefaultTimeout = std::chrono::seconds(3);

  // Spawns the probe's actor in `system` (started), named `name` or
  // anonymous. If that fails, status() says why and every call returns it.
  explicit TestProbe(ActorSystem& system, std::string name = {});
  // Stops the probe's actor; messages not taken are dropped (their askers
  // time out).
  ~TestProbe();
  TestProbe(TestProbe&&) noexcept;
  TestProbe& operator=(TestProbe&&) noexcept;
  TestProbe(const TestProbe&) = delete;
  TestProbe& operator=(const TestProbe&) = delete;

  // Ok, or why the probe's actor could not be spawned.
  const Status& status() const;
  const PID& pid() const;

  // ---- Expectations: each takes the next message ----

  // The next message, whatever its type.
  Result<Message> ExpectAnyMessage(Duration timeout = kDefaultTimeout);
  // The next message, which must be a T.
  template <typename T>
  Result<T> ExpectMessage(Duration timeout = kDefaultTimeout);
  // The next message, which must be a T equal to `expected`. The failure
  // message prints both values when T can be written to a std::ostream.
  template <typename T>
  requires std::equality_comparable<T> Status ExpectMessage(const T& expected,
                                                            Duration timeout = kDefaultTimeout);
  // The next message, which must be one of the types T...
  template <typename... T>
  Result<Message> ExpectAnyMessageOfType(Duration timeout = kDefaultTimeout);
  // The next message, which must arrive no sooner than `min` and no later
  // than `max` after this call (one already waiting arrived too early).
  Result<Message> ExpectMessageWithin(Duration min, Duration max);
  template <typename T>
  Result<T> ExpectMessageWithin(Duration min, Duration max);
  // Ok if no message arrives for `duration` (on the deterministic fixture:
  // while the actors run and virtual time moves on by `duration`).
  Status ExpectNoMessage(Duration duration);
  // Watches `actor` and expects the next message to be its Terminated.
  Status ExpectTerminated(const PID& actor, Duration timeout = kDefaultTimeout);

  // ---- Acting as an actor ----

  // Sends `msg` to `to` with the probe as the sender, so replies come back
  // to the probe.
  Status Send(const PID& to, Message msg);
  // Answers the message the last Expect* took: completes its asker's Ask or
  // Request, or tells its sender. kFailedPrecondition when it has neither
  // or was answered already.
  Status Reply(Message reply);
  // The sender of the message the last Expect* took (empty if none).
  const PID& LastSender() const;
  // Death watch from the probe: Terminated{actor} will arrive as a message.
  // Registered when this returns.
  Status Watch(const PID& actor);
  Status Unwatch(const PID& actor);

 private:
  struct Impl;
  Result<Message> Next(Duration min, Duration max, std::string_view wanted);
  Status WrongType(std::string_view wanted, const Message& got) const;
  Status WrongValue(const std::string& expected, const std::string& got) const;
  template <typename T>
  static std::string Show(const T& v);

  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------
// Implementation of the templates.

template <typename T>
std::string TestProbe::Show(const T& v) {
  if constexpr (requires(std::ostream & os, const T& x) { os << x; }) {
    std::ostringstream os;
    os << v;
    return os.str();
  } else {
    return "a " + std::string(::akt::internal::TypeNameOf<T>()) + " (not printable)";
  }
}

template <typename T>
Result<T> TestProbe::ExpectMessage(Duration timeout) {
  Result<Message> m = Next(Duration::zero(), timeout, ::akt::internal::TypeNameOf<T>());
  if (!m.ok()) return m.status();
  if (T* v = m->template As<T>()) return std::move(*v);
  return WrongType(::akt::internal::TypeNameOf<T>(), *m);
}

template <typename T>
requires std::equality_comparable<T> Status TestProbe::ExpectMessage(const T& expected,
                                                                     Duration timeout) {
  Result<T> got = ExpectMessage<T>(timeout);
  if (!got.ok()) return got.status();
  if (*got == expected) return Status();
  return WrongValue(Show(expected), Show(*got));
}

template <typename... T>
Result<Message> TestProbe::ExpectAnyMessageOfType(Duration timeout) {
  static_assert(sizeof...(T) > 0, "name at least one type");
  std::string wanted = "one of";
  ((wanted += " ", wanted += ::akt::internal::TypeNameOf<T>(), wanted += ","), ...);
  wanted.pop_back();
  Result<Message> m = Next(Duration::zero(), timeout, wanted);
  if (!m.ok()) return m;
  if ((m->template Is<T>() || ...)) return m;
  return WrongType(wanted, *m);
}

template <typename T>
Result<T> TestProbe::ExpectMessageWithin(Duration min, Duration max) {
  Result<Message> m = Next(min, max, ::akt::internal::TypeNameOf<T>());
  if (!m.ok()) return m.status();
  if (T* v = m->template As<T>()) return std::move(*v);
  return WrongType(::akt::internal::TypeNameOf<T>(), *m);
}

}  // namespace akt::testkit
