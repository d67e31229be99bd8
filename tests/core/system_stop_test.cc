// ActorSystem::Stop and the messages still queued: the drain (actors work off
// what is queued, and what they send each other, before they stop), no drain
// (drain_timeout 0: what is queued goes to dead letters), and a turn that
// outlives shutdown_timeout (every message still ends processed or in dead
// letters).
#include <akt/testing/deterministic.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;
using akt::testing::DeterministicSystem;

struct Add {};
struct Ask {};
// Holds its turn until `release` returns true (at most 20 s).
struct Hold {
  std::function<bool()> release;
  std::atomic<bool>* entered;
};

// Counts the Adds it processed; answers Ask with the count so far.
class Counter : public Actor {
 public:
  explicit Counter(std::shared_ptr<std::atomic<int>> adds) : adds_(std::move(adds)) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const Add&) { ++*adds_; },
              [&](const Ask&) { ctx.Reply(adds_->load()).IgnoreError(); },
              [&](const Hold& h) {
                h.entered->store(true);
                EXPECT_TRUE(test::WaitFor(h.release, 20s));
              });
  }

 private:
  std::shared_ptr<std::atomic<int>> adds_;
};

struct Hop {
  int remaining = 0;
};
// Passes Hop{n} on to its peer as Hop{n - 1} until 0, counting every hop.
class Relay : public Actor {
 public:
  explicit Relay(std::shared_ptr<std::atomic<int>> hops) : hops_(std::move(hops)) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const PID& peer) { peer_ = peer; },
              [&](const Hop& h) {
                ++*hops_;
                if (h.remaining > 0) ctx.Tell(peer_, Hop{h.remaining - 1}).IgnoreError();
              });
  }

 private:
  std::shared_ptr<std::atomic<int>> hops_;
  PID peer_;
};

// Keeps every line logged, for tests that wait on one.
class RecordingLogger : public Logger {
 public:
  void Log(LogLevel, std::string_view line) override {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.emplace_back(line);
  }
  LogLevel level() const override { return LogLevel::kTrace; }
  bool Saw(std::string_view part) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& l : lines_) {
      if (l.find(part) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

TEST(SystemStop, DrainsEveryQueuedMessageBeforeTheActorsStop) {
  constexpr int kTells = 20'000;
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  auto adds = std::make_shared<std::atomic<int>>(0);
  Result<PID> pid = system.Spawn<Counter>("counter", adds);
  ASSERT_TRUE(pid.ok());
  for (int i = 0; i < kTells; ++i) ASSERT_TRUE(pid->Tell(Add{}).ok());

  ASSERT_TRUE(system.Stop().ok());

  uint64_t dead = system.DeadLetterCount(DeadLetterReason::kStopped);
  EXPECT_EQ(adds->load() + static_cast<int>(dead), kTells);
  EXPECT_EQ(adds->load(), kTells);  // the default drain leaves nothing queued
  EXPECT_EQ(dead, 0u);
}

TEST(SystemStop, DrainsWhatActorsSendEachOther) {
  DeterministicSystem d;
  auto hops = std::make_shared<std::atomic<int>>(0);
  Result<PID> a = d.system().Spawn<Relay>("a", hops);
  Result<PID> b = d.system().Spawn<Relay>("b", hops);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->Tell(*b).ok());
  ASSERT_TRUE(b->Tell(*a).ok());
  ASSERT_TRUE(a->Tell(Hop{1000}).ok());  // nothing has run yet

  ASSERT_TRUE(d.system().Stop().ok());

  EXPECT_EQ(hops->load(), 1001);
  EXPECT_EQ(d.system().DeadLetterCount(), 0u);
}

TEST(SystemStop, WithoutADrainWhatIsQueuedGoesToDeadLetters) {
  SystemOptions o = DeterministicSystem::DefaultOptions();
  o.drain_timeout = Duration::zero();
  DeterministicSystem d(o);
  auto adds = std::make_shared<std::atomic<int>>(0);
  Result<PID> pid = d.system().Spawn<Counter>("counter", adds);
  ASSERT_TRUE(pid.ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(pid->Tell(Add{}).ok());

  ASSERT_TRUE(d.system().Stop().ok());

  // The counter was already runnable: it takes one turn (one message: the
  // deterministic throughput is 1) before the stop reaches it; no drain
  // means no more than that.
  EXPECT_EQ(adds->load(), 1);
  EXPECT_EQ(d.system().DeadLetterCount(DeadLetterReason::kStopped), 9u);
}

TEST(SystemStop, WithoutADrainASlowActorFinishesItsTurnAndTheRestIsDeadLettered) {
  constexpr int kTells = 1000;
  SystemOptions o = test::QuietOptions();
  o.drain_timeout = Duration::zero();
  ActorSystem system(o);
  ASSERT_TRUE(system.Start().ok());
  auto adds = std::make_shared<std::atomic<int>>(0);
  Result<PID> slow = system.Spawn<Counter>("slow", adds);
  // Top-level actors are told to stop in spawn order: once the witness has
  // stopped, the slow actor's stop is queued too.
  Result<PID> witness = system.Spawn<test::Echo>("witness");
  ASSERT_TRUE(slow.ok() && witness.ok());
  std::atomic<bool> entered{false};
  PID w = *witness;
  ASSERT_TRUE(slow->Tell(Hold{[w] { return !w.IsRunning(); }, &entered}).ok());
  ASSERT_TRUE(test::WaitFor([&] { return entered.load(); }));
  for (int i = 0; i < kTells; ++i) ASSERT_TRUE(slow->Tell(Add{}).ok());
  Result<Message> asked = Status(StatusCode::kInternal, "not answered");
  std::thread asker([&] { asked = slow->Ask(Ask{}, 30s); });
  EXPECT_TRUE(test::WaitFor([&] { return slow->MailboxSize() == kTells + 1; }));

  ASSERT_TRUE(system.Stop().ok());
  asker.join();

  EXPECT_EQ(adds->load(), 0);
  EXPECT_EQ(system.DeadLetterCount(DeadLetterReason::kStopped), uint64_t{kTells} + 1);
  EXPECT_EQ(asked.status().code(), StatusCode::kStopped) << asked.status().ToString();
}

TEST(SystemStop, EveryMessageIsAccountedForWhenATurnOutlivesTheShutdownTimeout) {
  constexpr int kTells = 1000;
  auto logger = std::make_shared<RecordingLogger>();
  SystemOptions o = test::QuietOptions(/*workers=*/1);
  o.logger = logger;
  o.drain_timeout = 20ms;
  o.shutdown_timeout = 50ms;
  ActorSystem system(o);
  ASSERT_TRUE(system.Start().ok());
  auto stuck_adds = std::make_shared<std::atomic<int>>(0);
  auto starved_adds = std::make_shared<std::atomic<int>>(0);
  Result<PID> stuck = system.Spawn<Counter>("stuck", stuck_adds);
  Result<PID> starved = system.Spawn<Counter>("starved", starved_adds);
  ASSERT_TRUE(stuck.ok() && starved.ok());
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  ASSERT_TRUE(stuck->Tell(Hold{[&] { return release.load(); }, &entered}).ok());
  ASSERT_TRUE(test::WaitFor([&] { return entered.load(); }));  // the only worker is held
  for (int i = 0; i < kTells; ++i) {
    ASSERT_TRUE(stuck->Tell(Add{}).ok());
    ASSERT_TRUE(starved->Tell(Add{}).ok());
  }

  Status stopped;
  std::thread stopper([&] { stopped = system.Stop(); });
  EXPECT_TRUE(test::WaitFor([&] { return logger->Saw("did not stop within the shutdown timeout"); }));
  release = true;  // the turn ends long after the shutdown timeout
  stopper.join();

  EXPECT_EQ(stopped.code(), StatusCode::kTimeout) << stopped.ToString();
  EXPECT_TRUE(test::WaitFor([&] {
    return stuck_adds->load() + starved_adds->load() +
               static_cast<int>(system.DeadLetterCount(DeadLetterReason::kStopped)) ==
           2 * kTells;
  }));
}

}  // namespace
}  // namespace akt
