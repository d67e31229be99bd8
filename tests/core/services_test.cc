// Coordinated shutdown hooks, extensions, dependencies and metrics.
#include <akt/testing/deterministic.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;

TEST(ShutdownHooks, RunInOrderBeforeActorsStop) {
  std::vector<std::string> order;
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  class Recorder : public Actor {
   public:
    explicit Recorder(std::vector<std::string>* order) : order_(order) {}
    void Receive(ReceiveContext&) override {}
    Status PostStop(Context&) override {
      order_->push_back("actor stopped");
      return Status();
    }
    std::vector<std::string>* order_;
  };
  ASSERT_TRUE(system.Spawn<Recorder>("r", &order).ok());
  ASSERT_TRUE(system
                  .AddShutdownHook("first",
                                   [&] {
                                     order.push_back("first");
                                     return Status();
                                   })
                  .ok());
  ASSERT_TRUE(system
                  .AddShutdownHook("second",
                                   [&] {
                                     order.push_back("second");
                                     return Status();
                                   })
                  .ok());
  ASSERT_TRUE(system.Stop().ok());
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second", "actor stopped"}));
  EXPECT_EQ(system.AddShutdownHook("late", [] { return Status(); }).code(),
            StatusCode::kFailedPrecondition);
}

struct HookCase {
  HookRecovery recovery;
  int retries;
  int failures_before_success;  // how often the middle hook fails first
  int expected_calls;
  bool expect_last_runs;
  bool expect_ok;
};

std::string HookCaseName(const ::testing::TestParamInfo<HookCase>& info) {
  static const char* const kNames[] = {"Fail", "RetryThenFail", "Skip", "RetryThenSkip"};
  return std::string(kNames[static_cast<int>(info.param.recovery)]) + "_" +
         std::to_string(info.param.retries) + "retries_" +
         std::to_string(info.param.failures_before_success) + "failures";
}

class ShutdownHookRecovery : public ::testing::TestWithParam<HookCase> {};

TEST_P(ShutdownHookRecovery, FollowsItsPolicy) {
  const HookCase& c = GetParam();
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  int calls = 0;
  bool last_ran = false;
  ShutdownHookOptions opts;
  opts.recovery = c.recovery;
  opts.retries = c.retries;
  ASSERT_TRUE(system
                  .AddShutdownHook(
                      "flaky",
                      [&] {
                        return ++calls > c.failures_before_success
                                   ? Status()
                                   : Status(StatusCode::kInternal, "not yet");
                      },
                      opts)
                  .ok());
  ASSERT_TRUE(system
                  .AddShutdownHook("last",
                                   [&] {
                                     last_ran = true;
                                     return Status();
                                   })
                  .ok());
  Status s = system.Stop();
  EXPECT_EQ(calls, c.expected_calls);
  EXPECT_EQ(last_ran, c.expect_last_runs);
  EXPECT_EQ(s.ok(), c.expect_ok) << s.ToString();
  EXPECT_FALSE(system.running());  // the system stops either way
}

INSTANTIATE_TEST_SUITE_P(
    Policies, ShutdownHookRecovery,
    ::testing::Values(HookCase{HookRecovery::kFail, 0, 1, 1, false, false},
                      HookCase{HookRecovery::kSkip, 0, 1, 1, true, true},
                      HookCase{HookRecovery::kRetryThenFail, 2, 2, 3, true, true},
                      HookCase{HookRecovery::kRetryThenFail, 2, 5, 3, false, false},
                      HookCase{HookRecovery::kRetryThenSkip, 1, 5, 2, true, true}),
    HookCaseName);

class Db : public Extension {
 public:
  std::string_view ID() const override { return "db"; }
  int queries = 0;
};

class Greeting : public Dependency {
 public:
  explicit Greeting(std::string text) : text_(std::move(text)) {}
  std::string_view ID() const override { return "greeting"; }
  std::string_view TypeName() const override { return "Greeting"; }
  Result<std::string> Serialize() const override { return text_; }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

TEST(Extensions, ActorsFindThemByIdAndIdsAreUnique) {
  testing::DeterministicSystem d;
  auto db = std::make_shared<Db>();
  ASSERT_TRUE(d.system().RegisterExtension(db).ok());
  EXPECT_EQ(d.system().RegisterExtension(std::make_shared<Db>()).code(),
            StatusCode::kAlreadyExists);
  class User : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      auto found = ctx.GetExtension<Db>("db");
      if (found) found->queries++;
      ctx.Reply(found != nullptr && ctx.GetExtension("nope") == nullptr).IgnoreError();
    }
  };
  auto user = d.system().Spawn<User>("user");
  ASSERT_TRUE(user.ok());
  EXPECT_TRUE(*user->Ask<bool>(1, 1s));
  EXPECT_EQ(db->queries, 1);
}

TEST(Dependencies, AreInjectedKeptAcrossRestartsAndRestorable) {
  testing::DeterministicSystem d;
  ASSERT_TRUE(d.system()
                  .RegisterDependencyType(
                      "Greeting",
                      [](std::string_view bytes) -> Result<std::shared_ptr<Dependency>> {
                        return std::shared_ptr<Dependency>(
                            std::make_shared<Greeting>(std::string(bytes)));
                      })
                  .ok());
  class Greeter : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      if (ctx.Is<int>()) throw std::runtime_error("restart me");
      auto g = ctx.GetDependency<Greeting>("greeting");
      ctx.Reply(g ? g->text() : std::string("none")).IgnoreError();
    }
  };
  auto greeter = d.system().SpawnWith<Greeter>(
      "greeter", SpawnOptions().WithDependencies({std::make_shared<Greeting>("hello")}));
  ASSERT_TRUE(greeter.ok());
  EXPECT_EQ(*greeter->Ask<std::string>(std::string("hi"), 1s), "hello");
  ASSERT_TRUE(greeter->Tell(1).ok());
  d.RunUntilIdle();
  ASSERT_EQ(greeter->RestartCount(), 1u);
  EXPECT_EQ(*greeter->Ask<std::string>(std::string("hi"), 1s), "hello");

  // What a remote spawn will do: serialise, restore by type name.
  Greeting original("bonjour");
  auto restored = d.system().RestoreDependency(original.TypeName(), *original.Serialize());
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(std::dynamic_pointer_cast<Greeting>(*restored)->text(), "bonjour");
  EXPECT_EQ(d.system().RestoreDependency("Unknown", "").status().code(), StatusCode::kNotFound);
}

TEST(Metrics, ActorAndSystemFiguresFollowWhatHappened) {
  testing::DeterministicSystem d;
  class Worker : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      if (ctx.Is<int>()) throw std::runtime_error("fail");
      if (ctx.Is<std::string>()) ctx.Stash().IgnoreError();
    }
  };
  auto w = d.system().SpawnWith<Worker>("w", SpawnOptions().WithStash(8));
  ASSERT_TRUE(w.ok());
  SystemMetrics before = d.system().Metrics();
  EXPECT_EQ(before.actor_count, 1u);
  EXPECT_EQ(before.spawned, 1u);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(w->Tell(std::string("keep")).ok());
  ASSERT_TRUE(w->Tell(1).ok());
  ASSERT_TRUE(w->Tell(2.0).ok());
  EXPECT_EQ(w->Metrics().mailbox_size, 5u);
  // Run the three stashes and the failure, not the restart's replay.
  for (int i = 0; i < 4; ++i) d.Step();
  ActorMetrics m = w->Metrics();
  EXPECT_EQ(m.processed, 4u);
  EXPECT_EQ(m.failures, 1u);
  EXPECT_EQ(m.restarts, 1u);
  EXPECT_EQ(m.mailbox_size, 1u);
  SystemMetrics after = d.system().Metrics();
  EXPECT_EQ(after.failures, 1u);
  EXPECT_EQ(after.restarts, 1u);
  w->Stop();
  d.RunUntilIdle();
  SystemMetrics end = d.system().Metrics();
  EXPECT_EQ(end.actor_count, 0u);
  EXPECT_EQ(end.stopped, 1u);
  EXPECT_EQ(end.dead_letters, 4u);  // the three replayed stashed strings and the double, at stop
}

}  // namespace
}  // namespace akt
