// Stash: Stash, Unstash, UnstashAll; capacity; what happens at stop/restart.
#include <akt/testing/deterministic.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;

struct Open {};
struct Close {};
struct Work {
  int n;
};
struct Log {};
struct UnstashOne {};

// While closed, stashes work; when opened, processes the stash in order.
class Gate : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](const Open&) {
          open_ = true;
          ctx.UnstashAll();
        },
        [&](const Close&) { open_ = false; },
        [&](const UnstashOne&) { last_status_ = ctx.Unstash(); },
        [&](const Work& w) {
          if (open_) {
            log_.push_back(w.n);
            return;
          }
          Status s = ctx.Stash();
          if (!s.ok()) refused_.push_back(s.code());
        },
        [&](const Log&) { ctx.Reply(log_).IgnoreError(); },
        [&](const std::string&) { ctx.Reply(refused_).IgnoreError(); });
  }
  bool open_ = false;
  std::vector<int> log_;
  std::vector<StatusCode> refused_;
  Status last_status_;
};

TEST(Stash, UnstashAllReplaysInOrderBeforeNewerMessages) {
  testing::DeterministicSystem d;
  auto gate = d.system().SpawnWith<Gate>("gate", SpawnOptions().WithStash(10));
  ASSERT_TRUE(gate.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(gate->Tell(Work{i}).ok());
  ASSERT_TRUE(gate->Tell(Open{}).ok());
  ASSERT_TRUE(gate->Tell(Work{3}).ok());
  d.RunUntilIdle();
  auto log = gate->Ask<std::vector<int>>(Log{}, 1s);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log, (std::vector<int>{0, 1, 2, 3}));
}

TEST(Stash, UnstashPutsBackOnlyTheOldest) {
  testing::DeterministicSystem d;
  auto gate = d.system().SpawnWith<Gate>("gate", SpawnOptions().WithStash(10));
  ASSERT_TRUE(gate.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(gate->Tell(Work{i}).ok());
  d.RunUntilIdle();
  // Still closed: the unstashed message is stashed again, at the back.
  ASSERT_TRUE(gate->Tell(UnstashOne{}).ok());
  ASSERT_TRUE(gate->Tell(Open{}).ok());
  d.RunUntilIdle();
  auto log = gate->Ask<std::vector<int>>(Log{}, 1s);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log, (std::vector<int>{1, 2, 0}));
}

TEST(Stash, AFullStashRefusesWithResourceExhausted) {
  testing::DeterministicSystem d;
  auto gate = d.system().SpawnWith<Gate>("gate", SpawnOptions().WithStash(2));
  ASSERT_TRUE(gate.ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(gate->Tell(Work{i}).ok());
  auto refused = gate->Ask<std::vector<StatusCode>>(std::string("refused"), 1s);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(*refused, (std::vector<StatusCode>{StatusCode::kResourceExhausted,
                                               StatusCode::kResourceExhausted}));
}

TEST(Stash, WithoutAStashStashIsRefused) {
  testing::DeterministicSystem d;
  auto gate = d.system().Spawn<Gate>("gate");
  ASSERT_TRUE(gate.ok());
  ASSERT_TRUE(gate->Tell(Work{1}).ok());
  auto refused = gate->Ask<std::vector<StatusCode>>(std::string("refused"), 1s);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(*refused, (std::vector<StatusCode>{StatusCode::kFailedPrecondition}));
}

TEST(Stash, StashedMessagesBecomeDeadLettersWhenTheActorStops) {
  testing::DeterministicSystem d;
  auto gate = d.system().SpawnWith<Gate>("gate", SpawnOptions().WithStash(10));
  ASSERT_TRUE(gate.ok());
  ASSERT_TRUE(gate->Tell(Work{1}).ok());
  d.RunUntilIdle();
  EXPECT_EQ(gate->ProcessedCount(), 1u);
  uint64_t before = d.system().DeadLetterCount(DeadLetterReason::kStopped);
  gate->Stop();
  d.RunUntilIdle();
  EXPECT_EQ(d.system().DeadLetterCount(DeadLetterReason::kStopped), before + 1);
}

TEST(Stash, ARestartReplaysTheStashToTheNewInstance) {
  testing::DeterministicSystem d;
  auto gate = d.system().SpawnWith<Gate>("gate", SpawnOptions().WithStash(10));
  ASSERT_TRUE(gate.ok());
  ASSERT_TRUE(gate->Tell(Work{7}).ok());
  d.RunUntilIdle();
  gate->Restart();
  d.RunUntilIdle();
  ASSERT_TRUE(gate->Tell(Open{}).ok());  // the new instance stashed 7 again...
  d.RunUntilIdle();
  auto log = gate->Ask<std::vector<int>>(Log{}, 1s);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log, (std::vector<int>{7}));  // ...and then processed it
}

}  // namespace
}  // namespace akt
