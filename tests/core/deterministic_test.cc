// The deterministic fixture: exact, repeatable message orders without sleeps.
#include <akt/testing/deterministic.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;

struct Hop {
  int remaining;
};

// Logs every message it gets into a shared trace.
class Tracer : public Actor {
 public:
  Tracer(std::string name, std::vector<std::string>* trace)
      : name_(std::move(name)), trace_(trace) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const PID& next) { next_ = next; },
              [&](const Hop& h) {
                trace_->push_back(name_ + ":" + std::to_string(h.remaining));
                if (h.remaining > 0) ctx.Tell(next_, Hop{h.remaining - 1}).IgnoreError();
              });
  }

 private:
  std::string name_;
  std::vector<std::string>* trace_;
  PID next_;
};

TEST(Deterministic, StepRunsOneMessageAtATimeInArrivalOrder) {
  testing::DeterministicSystem d;
  std::vector<std::string> trace;
  auto a = d.system().Spawn<Tracer>("a", std::string("a"), &trace);
  auto b = d.system().Spawn<Tracer>("b", std::string("b"), &trace);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->Tell(*b).ok());
  ASSERT_TRUE(b->Tell(*a).ok());
  d.RunUntilIdle();
  ASSERT_TRUE(a->Tell(Hop{3}).ok());
  ASSERT_TRUE(b->Tell(Hop{1}).ok());
  ASSERT_TRUE(d.Step());
  EXPECT_EQ(trace, (std::vector<std::string>{"a:3"}));
  d.RunUntilIdle();
  // b re-queues behind a (which b made runnable) after each one-message turn.
  EXPECT_EQ(trace, (std::vector<std::string>{"a:3", "b:1", "a:0", "b:2", "a:1", "b:0"}));
  EXPECT_FALSE(d.Step());
}

TEST(Deterministic, SameProgramGivesTheSameTraceEveryTime) {
  std::vector<std::string> first;
  for (int run = 0; run < 3; ++run) {
    testing::DeterministicSystem d;
    std::vector<std::string> trace;
    std::vector<PID> ring;
    for (int i = 0; i < 4; ++i) {
      ring.push_back(
          *d.system().Spawn<Tracer>("t" + std::to_string(i), "t" + std::to_string(i), &trace));
    }
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(ring[i].Tell(ring[(i + 1) % 4]).ok());
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(ring[i].Tell(Hop{5 + i}).ok());
    d.RunUntilIdle();
    if (run == 0) {
      first = trace;
      EXPECT_EQ(first.size(), 4u * 5 + 0 + 1 + 2 + 3 + 4);
    } else {
      EXPECT_EQ(trace, first);
    }
  }
}

TEST(Deterministic, TimeMovesOnlyWhenTheTestAdvancesIt) {
  testing::DeterministicSystem d;
  TimePoint t0 = d.Now();
  d.RunUntilIdle();
  EXPECT_EQ(d.Now(), t0);
  d.Advance(250ms);
  EXPECT_EQ(d.Now() - t0, 250ms);
}

TEST(Deterministic, AskFromTheTestThreadRunsTheActors) {
  testing::DeterministicSystem d;
  auto echo = d.system().Spawn<test::Echo>("echo");
  ASSERT_TRUE(echo.ok());
  auto r = echo->Ask<test::Pong>(test::Ping{9}, 1s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->n, 9);
}

TEST(Deterministic, AskTimesOutInVirtualTime) {
  class Silent : public Actor {
   public:
    void Receive(ReceiveContext&) override {}
  };
  testing::DeterministicSystem d;
  auto s = d.system().Spawn<Silent>("s");
  ASSERT_TRUE(s.ok());
  TimePoint t0 = d.Now();
  auto wall = std::chrono::steady_clock::now();
  auto r = s->Ask(1, 1h);
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(d.Now() - t0, 1h);  // virtual hour passed
  EXPECT_LT(std::chrono::steady_clock::now() - wall, 10s);
}

}  // namespace
}  // namespace akt
