// Behaviors: Become, BecomeStacked, UnBecomeStacked, UnBecome.
#include <akt/testing/deterministic.h>

#include <string>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;

struct Who {};
struct Push {
  std::string name;
};
struct Replace {
  std::string name;
};
struct Pop {};
struct Reset {};
struct Boom {};

// Answers Who with the name of the current behavior.
class Chameleon : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override { Handle(ctx, "receive"); }

 private:
  void Handle(ReceiveContext& ctx, const std::string& me) {
    ctx.Match([&](const Who&) { ctx.Reply(me).IgnoreError(); },
              [&](const Push& p) { ctx.BecomeStacked(Named(p.name)); },
              [&](const Replace& r) { ctx.Become(Named(r.name)); },
              [&](const Pop&) { ctx.UnBecomeStacked(); }, [&](const Reset&) { ctx.UnBecome(); },
              [&](const Boom&) { throw std::runtime_error("boom"); });
  }
  Behavior Named(std::string name) {
    return [this, name](ReceiveContext& ctx) { Handle(ctx, name); };
  }
};

class BehaviorTest : public ::testing::Test {
 protected:
  std::string Who_() {
    auto r = pid_.Ask<std::string>(Who{}, 1s);
    return r.ok() ? *r : r.status().ToString();
  }
  testing::DeterministicSystem d_;
  PID pid_ = *d_.system().Spawn<Chameleon>("chameleon");
};

TEST_F(BehaviorTest, BecomeStackedPushesAndUnBecomeStackedPops) {
  EXPECT_EQ(Who_(), "receive");
  ASSERT_TRUE(pid_.Tell(Push{"a"}).ok());
  EXPECT_EQ(Who_(), "a");
  ASSERT_TRUE(pid_.Tell(Push{"b"}).ok());
  EXPECT_EQ(Who_(), "b");
  ASSERT_TRUE(pid_.Tell(Pop{}).ok());
  EXPECT_EQ(Who_(), "a");
  ASSERT_TRUE(pid_.Tell(Pop{}).ok());
  EXPECT_EQ(Who_(), "receive");
  ASSERT_TRUE(pid_.Tell(Pop{}).ok());  // popping an empty stack is harmless
  EXPECT_EQ(Who_(), "receive");
}

TEST_F(BehaviorTest, BecomeReplacesTheCurrentBehaviorOnly) {
  ASSERT_TRUE(pid_.Tell(Push{"a"}).ok());
  ASSERT_TRUE(pid_.Tell(Push{"b"}).ok());
  ASSERT_TRUE(pid_.Tell(Replace{"c"}).ok());
  EXPECT_EQ(Who_(), "c");
  ASSERT_TRUE(pid_.Tell(Pop{}).ok());
  EXPECT_EQ(Who_(), "a");  // b was replaced by c, a is still below
}

TEST_F(BehaviorTest, UnBecomeGoesBackToReceive) {
  ASSERT_TRUE(pid_.Tell(Push{"a"}).ok());
  ASSERT_TRUE(pid_.Tell(Push{"b"}).ok());
  ASSERT_TRUE(pid_.Tell(Reset{}).ok());
  EXPECT_EQ(Who_(), "receive");
}

TEST_F(BehaviorTest, ARestartStartsAgainFromReceive) {
  ASSERT_TRUE(pid_.Tell(Push{"a"}).ok());
  EXPECT_EQ(Who_(), "a");
  ASSERT_TRUE(pid_.Tell(Boom{}).ok());  // default supervisor: restart
  d_.RunUntilIdle();
  EXPECT_EQ(pid_.RestartCount(), 1u);
  EXPECT_EQ(Who_(), "receive");
}

}  // namespace
}  // namespace akt
