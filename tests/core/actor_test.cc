#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;
using test::Ping;
using test::Pong;

struct Add {
  int64_t n;
};
struct Get {};

class Counter : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const Add& a) { total_ += a.n; },
              [&](const Get&) { ctx.Reply(total_).IgnoreError(); });
  }

 private:
  int64_t total_ = 0;
};

class ActorTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(system_.Start().ok()); }
  ActorSystem system_{test::QuietOptions()};
};

TEST_F(ActorTest, TellsAreProcessedInOrderAndAskSeesTheirEffect) {
  Result<PID> pid = system_.Spawn<Counter>("counter");
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  for (int i = 1; i <= 100; ++i) ASSERT_TRUE(pid->Tell(Add{i}).ok());
  Result<int64_t> total = pid->Ask<int64_t>(Get{}, 5s);
  ASSERT_TRUE(total.ok()) << total.status().ToString();
  EXPECT_EQ(*total, 5050);
  EXPECT_TRUE(test::WaitFor([&] { return pid->ProcessedCount() == 101; }));
}

TEST_F(ActorTest, MessagesAreMovedNotCopied) {
  struct MoveOnly {
    std::unique_ptr<std::string> text;
  };
  std::atomic<bool> got{false};
  class Sink : public Actor {
   public:
    explicit Sink(std::atomic<bool>* got) : got_(got) {}
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](MoveOnly& m) {
        std::unique_ptr<std::string> mine = std::move(m.text);
        *got_ = mine && *mine == "payload";
      });
    }
    std::atomic<bool>* got_;
  };
  auto pid = system_.Spawn<Sink>("sink", &got);
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(pid->Tell(MoveOnly{std::make_unique<std::string>("payload")}).ok());
  EXPECT_TRUE(test::WaitFor([&] { return got.load(); }));
}

// Two actors play ping-pong with Tell + Reply (the reply goes to the sender).
class Player : public Actor {
 public:
  Player(int rounds, std::atomic<int>* done) : rounds_(rounds), done_(done) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const PID& partner) { ctx.Tell(partner, Ping{0}).IgnoreError(); },
              [&](const Ping& p) { ctx.Reply(Pong{p.n}).IgnoreError(); },
              [&](const Pong& p) {
                if (p.n + 1 == rounds_) {
                  done_->store(p.n + 1);
                } else {
                  ctx.Reply(Ping{p.n + 1}).IgnoreError();
                }
              });
  }

 private:
  int rounds_;
  std::atomic<int>* done_;
};

TEST_F(ActorTest, ReplyToATellGoesBackToTheSender) {
  std::atomic<int> done{0};
  auto a = system_.Spawn<Player>("a", 1000, &done);
  auto b = system_.Spawn<Player>("b", 1000, &done);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->Tell(*b).ok());
  EXPECT_TRUE(test::WaitFor([&] { return done.load() == 1000; }));
  EXPECT_TRUE(test::WaitFor([&] { return a->ProcessedCount() + b->ProcessedCount() == 2001u; }));
}

TEST_F(ActorTest, ForwardKeepsTheOriginalRequester) {
  class Front : public Actor {
   public:
    explicit Front(PID back) : back_(std::move(back)) {}
    void Receive(ReceiveContext& ctx) override { ctx.Forward(back_).IgnoreError(); }
    PID back_;
  };
  auto back = system_.Spawn<test::Echo>("back");
  ASSERT_TRUE(back.ok());
  auto front = system_.Spawn<Front>("front", *back);
  ASSERT_TRUE(front.ok());
  Result<Pong> r = front->Ask<Pong>(Ping{41}, 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->n, 41);
}

TEST_F(ActorTest, BatchTellKeepsOrderAndBatchAskAnswersEach) {
  auto counter = system_.Spawn<Counter>("batch");
  ASSERT_TRUE(counter.ok());
  std::vector<Message> adds;
  for (int i = 0; i < 10; ++i) adds.emplace_back(Add{i});
  ASSERT_TRUE(counter->BatchTell(std::move(adds)).ok());
  auto echo = system_.Spawn<test::Echo>("echo");
  ASSERT_TRUE(echo.ok());
  std::vector<Message> pings;
  for (int i = 0; i < 20; ++i) pings.emplace_back(Ping{i});
  std::vector<Result<Message>> replies = echo->BatchAsk(std::move(pings), 5s);
  ASSERT_EQ(replies.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(replies[i].ok()) << i;
    EXPECT_EQ(replies[i]->As<Pong>()->n, i);
  }
  EXPECT_EQ(*counter->Ask<int64_t>(Get{}, 5s), 45);
}

TEST_F(ActorTest, ChildrenKnowTheirParentAndAreListed) {
  class Parent : public Actor {
   public:
    Status PreStart(Context& ctx) override {
      for (int i = 0; i < 3; ++i) {
        auto c = ctx.Spawn<Counter>("child-" + std::to_string(i));
        if (!c.ok()) return c.status();
      }
      return Status();
    }
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](const Get&) { ctx.Reply(ctx.Children()).IgnoreError(); });
    }
  };
  auto parent = system_.Spawn<Parent>("parent");
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();
  auto children = parent->Ask<std::vector<PID>>(Get{}, 5s);
  ASSERT_TRUE(children.ok());
  ASSERT_EQ(children->size(), 3u);
  for (const PID& c : *children) EXPECT_EQ(c.Parent(), *parent);
  EXPECT_TRUE(parent->Parent().empty());
  auto found = system_.ActorOf("child-1");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->Parent(), *parent);
}

TEST_F(ActorTest, AnonymousActorsGetGeneratedNamesAndAreNotRegistered) {
  auto a = system_.Spawn<Counter>("");
  auto b = system_.Spawn<Counter>("");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->Name()[0], '$');
  EXPECT_NE(a->Name(), b->Name());
  EXPECT_FALSE(system_.ActorOf(a->Name()).ok());
  EXPECT_EQ(a->Address(), "akt://test/" + std::string(a->Name()));
}

TEST_F(ActorTest, PidIsSafeToUseAfterTheActorStopped) {
  auto pid = system_.Spawn<Counter>("short-lived");
  ASSERT_TRUE(pid.ok());
  PID copy = *pid;
  copy.Stop();
  ASSERT_TRUE(copy.AwaitTermination(5s));
  EXPECT_FALSE(copy.IsRunning());
  EXPECT_EQ(copy.Tell(Add{1}).code(), StatusCode::kStopped);
  EXPECT_EQ(copy.Ask(Get{}, 1s).status().code(), StatusCode::kStopped);
  EXPECT_EQ(copy.Uptime(), Duration::zero());
}

TEST_F(ActorTest, EmptyPidReportsNotFound) {
  PID none;
  EXPECT_FALSE(none);
  EXPECT_EQ(none.Tell(Add{1}).code(), StatusCode::kNotFound);
  EXPECT_EQ(none.Ask(Get{}, 1s).status().code(), StatusCode::kNotFound);
}

TEST_F(ActorTest, IntrospectionReportsRealFigures) {
  class Slow : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      auto until = std::chrono::steady_clock::now() + 300us;
      while (std::chrono::steady_clock::now() < until) {
      }
      ctx.Reply(1).IgnoreError();
    }
  };
  auto pid = system_.Spawn<Slow>("slow");
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(pid->Ask(Get{}, 5s).ok());
  // The figures are published at the end of the turn, just after the reply.
  ASSERT_TRUE(test::WaitFor([&] { return pid->ProcessedCount() == 1; }));
  // A turn of at least 300 us, measured with the cycle counter (its rate is
  // calibrated against steady_clock, so the figure is an estimate: it once
  // read just under the turn's length on a loaded 2-core VM).
  EXPECT_GE(pid->LatestProcessingDuration(), 200us);
  EXPECT_LT(pid->LatestProcessingDuration(), 5s);
  EXPECT_GT(pid->Uptime(), Duration::zero());
  EXPECT_EQ(pid->RestartCount(), 0u);
  EXPECT_TRUE(pid->IsRunning());
  EXPECT_EQ(pid->MailboxSize(), 0u);
}

}  // namespace
}  // namespace akt
