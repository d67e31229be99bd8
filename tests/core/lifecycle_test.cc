// Lifecycle: names, lookup by name, parents and children, stopping (one actor
// and the whole system), restarting, PoisonPill, and what an actor reports
// about itself.
#include <akt/testing/deterministic.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "event_log.h"
#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;
using akt::testing::DeterministicSystem;
using test::Echo;
using test::EventLog;
using test::Ping;
using test::Pong;

struct Add {
  int n = 0;
};
struct Get {};

// Counts its PreStarts and PostStops through shared counters.
struct Counts {
  std::atomic<int> pre_starts{0};
  std::atomic<int> post_stops{0};
  std::atomic<int> sum{0};  // of every Add any instance processed
};

class Counter : public Actor {
 public:
  explicit Counter(std::shared_ptr<Counts> counts) : counts_(std::move(counts)) {}
  Status PreStart(Context&) override {
    counts_->pre_starts++;
    return Status();
  }
  Status PostStop(Context&) override {
    counts_->post_stops++;
    return Status();
  }
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](const Add& a) {
          total_ += a.n;
          counts_->sum += a.n;
        },
        [&](const Get&) { ctx.Reply(total_).IgnoreError(); });
  }

 private:
  std::shared_ptr<Counts> counts_;
  int total_ = 0;
};

class LifecycleTest : public ::testing::Test {
 protected:
  ActorSystem& system() { return d_.system(); }

  DeterministicSystem d_;
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
};

// ---------------------------------------------------------------------------
// Names.

TEST_F(LifecycleTest, AnEmptyNameSpawnsAnAnonymousActorNamedByItsId) {
  Result<PID> first = system().Spawn<Echo>("");
  Result<PID> second = system().Spawn<Echo>("");
  ASSERT_TRUE(first.ok() && second.ok());

  EXPECT_EQ(first->Name(), "$" + std::to_string(first->Id()));
  EXPECT_EQ(second->Name(), "$" + std::to_string(second->Id()));
  EXPECT_NE(first->Id(), second->Id());
  EXPECT_EQ(first->Address(), "akt://test/" + std::string(first->Name()));
  // Anonymous actors are not in the registry.
  EXPECT_EQ(system().ActorOf(first->Name()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(first->Ask<Pong>(Ping{1}, 1s).value_or(Pong{-1}).n, 1);
}

TEST_F(LifecycleTest, InvalidNamesAreRejectedWithInvalidArgument) {
  const std::string invalid[] = {
      std::string(256, 'a'),  // too long
      "has space",           "slash/name",          "colon:name", "star*",    "-leading-dash",
      ".leading-dot",        "_leading-underscore", "$5",         "akt.mine", "akt.user",
      "caf\xC3\xA9",
  };
  for (const std::string& name : invalid) {
    Result<PID> pid = system().Spawn<Echo>(name);
    EXPECT_FALSE(pid.ok()) << name;
    EXPECT_EQ(pid.status().code(), StatusCode::kInvalidArgument) << name;
  }
  EXPECT_EQ(system().ActorCount(), 0u);
}

TEST_F(LifecycleTest, ValidNamesAreAccepted) {
  const std::string valid[] = {
      std::string(255, 'a'), "a", "9lives", "order-1", "order_1", "shop.orders", "akt", "aktor",
  };
  for (const std::string& name : valid) {
    Result<PID> pid = system().Spawn<Echo>(name);
    ASSERT_TRUE(pid.ok()) << name << ": " << pid.status().ToString();
    EXPECT_EQ(pid->Name(), name);
  }
}

TEST_F(LifecycleTest, ADuplicateNameIsAlreadyExists) {
  Result<PID> first = system().Spawn<Echo>("unique");
  ASSERT_TRUE(first.ok());

  Result<PID> second = system().Spawn<Echo>("unique");

  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(system().ActorOf("unique").value_or(PID()), *first);  // untouched
  EXPECT_TRUE(first->IsRunning());
  EXPECT_EQ(system().ActorCount(), 1u);
}

TEST_F(LifecycleTest, NamesAreUniqueAcrossTheWholeTreeNotPerParent) {
  struct SpawnChild {
    std::string name;
  };
  class Spawner : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](const SpawnChild& s) {
        ctx.Reply(ctx.Spawn<Echo>(s.name).status().code()).IgnoreError();
      });
    }
  };
  ASSERT_TRUE(system().Spawn<Echo>("taken").ok());
  Result<PID> spawner = system().Spawn<Spawner>("spawner");
  ASSERT_TRUE(spawner.ok());

  Result<StatusCode> code = spawner->Ask<StatusCode>(SpawnChild{"taken"}, 1s);

  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, StatusCode::kAlreadyExists);
}

TEST_F(LifecycleTest, ANameCanBeReusedOnceItsActorStopped) {
  Result<PID> first = system().Spawn<Echo>("reusable");
  ASSERT_TRUE(first.ok());
  first->Stop();
  ASSERT_TRUE(first->AwaitTermination(1s));

  Result<PID> second = system().Spawn<Echo>("reusable");

  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_NE(*second, *first);
  EXPECT_EQ(system().ActorOf("reusable").value_or(PID()), *second);
}

TEST(LifecycleConcurrencyTest, ANameIsFreeAsSoonAsAwaitTerminationSeesItsActorGone) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  for (int i = 0; i < 500; ++i) {
    Result<PID> pid = system.Spawn<Echo>("again");
    ASSERT_TRUE(pid.ok()) << "round " << i << ": " << pid.status().ToString();
    pid->Stop();
    ASSERT_TRUE(test::WaitFor([&] { return pid->AwaitTermination(Duration::zero()); }))
        << "round " << i;
  }
}

// ---------------------------------------------------------------------------
// Lookup and sending by name.

TEST_F(LifecycleTest, ActorsAreFoundAndAddressedByName) {
  Result<PID> pid = system().Spawn<Counter>("counter", counts_);
  ASSERT_TRUE(pid.ok());

  Result<PID> found = system().ActorOf("counter");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, *pid);
  EXPECT_EQ(found->Address(), "akt://test/counter");

  EXPECT_TRUE(system().SendAsync("counter", Add{4}).ok());
  EXPECT_TRUE(system().SendAsync("counter", Add{5}).ok());
  Result<Message> total = system().SendSync("counter", Get{}, 1s);
  ASSERT_TRUE(total.ok()) << total.status().ToString();
  ASSERT_TRUE(total->Is<int>());
  EXPECT_EQ(*total->As<int>(), 9);

  EXPECT_EQ(system().ActorOf("nobody").status().code(), StatusCode::kNotFound);
}

TEST_F(LifecycleTest, AStoppedActorIsNoLongerFoundByName) {
  Result<PID> pid = system().Spawn<Echo>("echo");
  ASSERT_TRUE(pid.ok());
  pid->Stop();
  ASSERT_TRUE(pid->AwaitTermination(1s));

  EXPECT_EQ(system().ActorOf("echo").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(system().SendAsync("echo", Ping{}).code(), StatusCode::kNotFound);
  EXPECT_EQ(system().SendSync("echo", Ping{}, 1s).status().code(), StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------
// Parents and children.

// Spawns the children that `tree` lists under its own name; records its
// PostStop in `log`.
struct StopLog {
  std::mutex mu;
  std::vector<std::string> names;

  std::vector<std::string> Names() {
    std::lock_guard<std::mutex> lock(mu);
    return names;
  }
};
using Tree = std::map<std::string, std::vector<std::string>>;

class Node : public Actor {
 public:
  Node(std::shared_ptr<const Tree> tree, std::shared_ptr<StopLog> log)
      : tree_(std::move(tree)), log_(std::move(log)) {}
  Status PreStart(Context& ctx) override {
    auto it = tree_->find(std::string(ctx.self().Name()));
    if (it == tree_->end()) return Status();
    for (const std::string& child : it->second) {
      Result<PID> c = ctx.Spawn<Node>(child, tree_, log_);
      if (!c.ok()) return c.status();
    }
    return Status();
  }
  Status PostStop(Context& ctx) override {
    std::lock_guard<std::mutex> lock(log_->mu);
    log_->names.push_back(std::string(ctx.self().Name()));
    return Status();
  }
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const Get&) {
      std::vector<std::string> names;
      for (const PID& c : ctx.Children()) names.emplace_back(c.Name());
      std::sort(names.begin(), names.end());
      ctx.Reply(names).IgnoreError();
    });
  }

 private:
  std::shared_ptr<const Tree> tree_;
  std::shared_ptr<StopLog> log_;
};

std::size_t IndexOf(const std::vector<std::string>& v, const std::string& s) {
  return static_cast<std::size_t>(std::find(v.begin(), v.end(), s) - v.begin());
}

TEST_F(LifecycleTest, ChildrenKnowTheirParentAndParentsTheirChildren) {
  auto tree = std::make_shared<const Tree>(Tree{{"parent", {"kid-a", "kid-b"}}});
  auto log = std::make_shared<StopLog>();
  Result<PID> parent = system().Spawn<Node>("parent", tree, log);
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();

  Result<PID> kid = system().ActorOf("kid-a");
  ASSERT_TRUE(kid.ok());
  EXPECT_EQ(kid->Parent(), *parent);
  EXPECT_TRUE(parent->Parent().empty());  // top level
  EXPECT_EQ(parent->Ask<std::vector<std::string>>(Get{}, 1s).value_or({}),
            (std::vector<std::string>{"kid-a", "kid-b"}));
}

TEST_F(LifecycleTest, StoppingAParentStopsItsChildrenFirst) {
  auto tree = std::make_shared<const Tree>(Tree{{"parent", {"kid"}}, {"kid", {"grandkid"}}});
  auto log = std::make_shared<StopLog>();
  Result<PID> parent = system().Spawn<Node>("parent", tree, log);
  ASSERT_TRUE(parent.ok());
  Result<PID> grandkid = system().ActorOf("grandkid");
  ASSERT_TRUE(grandkid.ok());

  parent->Stop();
  d_.RunUntilIdle();

  EXPECT_EQ(log->Names(), (std::vector<std::string>{"grandkid", "kid", "parent"}));
  EXPECT_TRUE(grandkid->AwaitTermination(1s));
  EXPECT_EQ(system().ActorCount(), 0u);
}

TEST(LifecycleConcurrencyTest, SystemStopStopsChildrenBeforeParentsAndRunsEveryPostStop) {
  auto tree = std::make_shared<const Tree>(Tree{
      {"a", {"b", "b2"}},
      {"b", {"c", "c2"}},
      {"b2", {"c3"}},
      {"d", {"e"}},
  });
  auto log = std::make_shared<StopLog>();
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  ASSERT_TRUE(system.Spawn<Node>("a", tree, log).ok());
  ASSERT_TRUE(system.Spawn<Node>("d", tree, log).ok());
  ASSERT_TRUE(system.Spawn<Node>("f", tree, log).ok());
  ASSERT_EQ(system.ActorCount(), 9u);

  ASSERT_TRUE(system.Stop().ok());

  std::vector<std::string> order = log->Names();
  ASSERT_EQ(order.size(), 9u);
  for (const auto& [parent, children] : *tree) {
    for (const std::string& child : children) {
      EXPECT_LT(IndexOf(order, child), IndexOf(order, parent)) << child << " before " << parent;
    }
  }
  EXPECT_LT(IndexOf(order, "f"), order.size());
  EXPECT_EQ(system.ActorCount(), 0u);
  EXPECT_FALSE(system.running());
}

// ---------------------------------------------------------------------------
// System stop.

// Takes Pings and never answers them.
class Silent : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([](const Ping&) {});
  }
};

TEST(LifecycleConcurrencyTest, SystemStopFailsAPendingAskInsteadOfLeavingItHanging) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  Result<PID> pid = system.Spawn<Silent>("silent");
  ASSERT_TRUE(pid.ok());
  Result<Message> reply = Status(StatusCode::kInternal, "not answered");
  Clock::duration waited{};
  std::thread asker([&] {
    auto start = Clock::now();
    reply = pid->Ask(Ping{}, 60s);
    waited = Clock::now() - start;
  });
  // The Ping was taken and will never be answered. (EXPECT, not ASSERT: the
  // asker thread must be joined whatever happens.)
  EXPECT_TRUE(test::WaitFor([&] { return pid->ProcessedCount() == 1; }));

  ASSERT_TRUE(system.Stop().ok());
  asker.join();

  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kSystemStopped) << reply.status().ToString();
  EXPECT_LT(waited, 30s);
}

// Blocks in its first message until released.
struct Hold {
  std::atomic<bool>* entered;
  std::atomic<bool>* release;
};
class Holder : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [](const Hold& h) {
          *h.entered = true;
          test::WaitFor([&] { return h.release->load(); }, 20s);
        },
        [&](const Ping& p) { ctx.Reply(Pong{p.n}).IgnoreError(); });
  }
};

TEST(LifecycleConcurrencyTest, StopFailsAnAskStillQueuedWithStoppedWithoutWaitingForItsTimeout) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  Result<PID> pid = system.Spawn<Holder>("holder");
  ASSERT_TRUE(pid.ok());
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  ASSERT_TRUE(pid->Tell(Hold{&entered, &release}).ok());
  ASSERT_TRUE(test::WaitFor([&] { return entered.load(); }));
  Result<Message> reply = Status(StatusCode::kInternal, "not answered");
  Clock::duration waited{};
  std::thread asker([&] {
    auto start = Clock::now();
    reply = pid->Ask(Ping{}, 60s);
    waited = Clock::now() - start;
  });
  EXPECT_TRUE(test::WaitFor([&] { return pid->MailboxSize() == 1; }));  // the Ask is queued

  pid->Stop();     // jumps ahead of the queued Ping
  release = true;  // the holder finishes its turn, then stops
  asker.join();

  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kStopped) << reply.status().ToString();
  EXPECT_LT(waited, 30s);
  EXPECT_TRUE(pid->AwaitTermination(5s));
  EXPECT_EQ(system.DeadLetterCount(DeadLetterReason::kStopped), 1u);
}

TEST_F(LifecycleTest, SystemStopIsIdempotentAndRefusesNewWork) {
  Result<PID> pid = system().Spawn<Echo>("echo");
  ASSERT_TRUE(pid.ok());

  ASSERT_TRUE(system().Stop().ok());
  EXPECT_TRUE(system().Stop().ok());

  EXPECT_FALSE(system().running());
  EXPECT_FALSE(pid->IsRunning());
  Result<PID> late = system().Spawn<Echo>("late");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), StatusCode::kSystemStopped);
  EXPECT_EQ(pid->Tell(Ping{}).code(), StatusCode::kStopped);
  EXPECT_EQ(pid->Ask(Ping{}, 1s).status().code(), StatusCode::kSystemStopped);
}

TEST(LifecycleStartTest, SpawningBeforeStartFailsWithFailedPrecondition) {
  ActorSystem system(test::QuietOptions());

  Result<PID> pid = system.Spawn<Echo>("early");

  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(system.Start().ok());
  EXPECT_EQ(system.Start().code(), StatusCode::kFailedPrecondition);  // only once
  EXPECT_TRUE(system.Spawn<Echo>("early").ok());
}

// ---------------------------------------------------------------------------
// Stop, Restart, PoisonPill, AwaitTermination.

TEST_F(LifecycleTest, StopEndsTheActorAndRunsPostStopOnce) {
  Result<PID> pid = system().Spawn<Counter>("c", counts_);
  ASSERT_TRUE(pid.ok());
  EXPECT_TRUE(pid->IsRunning());

  pid->Stop();
  pid->Stop();  // a second request changes nothing
  EXPECT_TRUE(pid->AwaitTermination(1s));

  EXPECT_FALSE(pid->IsRunning());
  EXPECT_EQ(counts_->post_stops, 1);
  EXPECT_EQ(pid->Uptime(), Duration::zero());
  EXPECT_EQ(system().ActorCount(), 0u);
}

TEST_F(LifecycleTest, AwaitTerminationReturnsFalseWhileTheActorRuns) {
  Result<PID> pid = system().Spawn<Echo>("echo");
  ASSERT_TRUE(pid.ok());
  TimePoint before = d_.Now();

  EXPECT_FALSE(pid->AwaitTermination(250ms));

  EXPECT_EQ(d_.Now() - before, 250ms);  // it waited the whole time
  EXPECT_TRUE(pid->IsRunning());
}

TEST_F(LifecycleTest, RestartRunsPostStopAndPreStartAndResetsTheStateButKeepsTheMailbox) {
  Result<PID> pid = system().Spawn<Counter>("c", counts_);
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(pid->Tell(Add{10}).ok());
  d_.RunUntilIdle();

  pid->Restart();
  ASSERT_TRUE(pid->Tell(Add{1}).ok());  // queued behind the restart
  d_.RunUntilIdle();

  EXPECT_EQ(pid->RestartCount(), 1u);
  EXPECT_EQ(counts_->pre_starts, 2);
  EXPECT_EQ(counts_->post_stops, 1);
  EXPECT_EQ(pid->Ask<int>(Get{}, 1s).value_or(-1), 1);
  EXPECT_TRUE(pid->IsRunning());
}

TEST_F(LifecycleTest, RestartStopsTheChildrenAndPreStartRecreatesThem) {
  auto tree = std::make_shared<const Tree>(Tree{{"parent", {"kid"}}});
  auto log = std::make_shared<StopLog>();
  Result<PID> parent = system().Spawn<Node>("parent", tree, log);
  ASSERT_TRUE(parent.ok());
  Result<PID> old_kid = system().ActorOf("kid");
  ASSERT_TRUE(old_kid.ok());

  parent->Restart();
  d_.RunUntilIdle();

  EXPECT_TRUE(old_kid->AwaitTermination(1s));
  EXPECT_EQ(log->Names(), (std::vector<std::string>{"kid", "parent"}));
  Result<PID> new_kid = system().ActorOf("kid");
  ASSERT_TRUE(new_kid.ok());
  EXPECT_NE(*new_kid, *old_kid);
  EXPECT_EQ(new_kid->Parent(), *parent);
}

TEST_F(LifecycleTest, PoisonPillStopsTheActorAfterTheMessagesQueuedBeforeIt) {
  Result<PID> pid = system().Spawn<Counter>("c", counts_);
  ASSERT_TRUE(pid.ok());

  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(pid->Tell(Add{i}).ok());
  ASSERT_TRUE(pid->Tell(PoisonPill{}).ok());
  ASSERT_TRUE(pid->Tell(Add{100}).ok());
  ASSERT_TRUE(pid->Tell(Add{200}).ok());
  d_.RunUntilIdle();

  EXPECT_TRUE(pid->AwaitTermination(1s));
  EXPECT_EQ(counts_->sum, 6);  // 1 + 2 + 3; nothing after the pill
  EXPECT_EQ(counts_->post_stops, 1);
  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kStopped), 2u);
}

TEST_F(LifecycleTest, TellingAStoppedActorReturnsStoppedAndMakesADeadLetter) {
  Result<PID> pid = system().Spawn<Counter>("c", counts_);
  ASSERT_TRUE(pid.ok());
  pid->Stop();
  ASSERT_TRUE(pid->AwaitTermination(1s));
  EventLog<DeadLetter> dead(system());

  EXPECT_EQ(pid->Tell(Add{1}).code(), StatusCode::kStopped);

  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kStopped), 1u);
  ASSERT_EQ(dead.Count(), 1u);
  EXPECT_EQ(dead.events()[0].recipient, *pid);
  EXPECT_EQ(counts_->sum, 0);
}

// ---------------------------------------------------------------------------
// Introspection.

// Each Work message takes at least `busy` of CPU time.
struct Work {
  Duration busy;
};
class Worker : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([](const Work& w) {
      auto until = Clock::now() + w.busy;
      while (Clock::now() < until) {
      }
    });
  }
};

TEST(LifecycleConcurrencyTest, IntrospectionReportsWhatTheActorDid) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  Result<PID> pid = system.Spawn<Worker>("worker");
  ASSERT_TRUE(pid.ok());
  EXPECT_TRUE(pid->IsRunning());
  EXPECT_FALSE(pid->IsSuspended());
  EXPECT_EQ(pid->ProcessedCount(), 0u);
  EXPECT_EQ(pid->RestartCount(), 0u);
  EXPECT_EQ(pid->LatestProcessingDuration(), Duration::zero());
  Duration first_uptime = pid->Uptime();
  EXPECT_GT(first_uptime, Duration::zero());

  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pid->Tell(Work{200us}).ok());

  EXPECT_TRUE(test::WaitFor([&] { return pid->ProcessedCount() == 3; }));
  EXPECT_TRUE(test::WaitFor([&] { return pid->LatestProcessingDuration() >= 200us; }))
      << pid->LatestProcessingDuration().count() << "ns";
  EXPECT_GT(pid->Uptime(), first_uptime);

  pid->Restart();
  EXPECT_TRUE(test::WaitFor([&] { return pid->RestartCount() == 1; }));
  EXPECT_TRUE(pid->IsRunning());

  pid->Stop();
  ASSERT_TRUE(pid->AwaitTermination(5s));
  EXPECT_FALSE(pid->IsRunning());
  EXPECT_EQ(pid->Uptime(), Duration::zero());
}

TEST_F(LifecycleTest, AnEmptyPIDNamesNoActor) {
  PID none;

  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.Tell(Ping{}).code(), StatusCode::kNotFound);
  EXPECT_EQ(none.Ask(Ping{}, 1s).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(none.IsRunning());
  EXPECT_TRUE(none.AwaitTermination(1s));
  EXPECT_EQ(none.Name(), "");
}

}  // namespace
}  // namespace akt
