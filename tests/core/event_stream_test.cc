#include <akt/testing/deterministic.h>

#include <atomic>
#include <thread>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;

struct Note {
  int n;
};

TEST(EventStream, UnsubscribeWaitsForARunningCallbackAndStopsLaterOnes) {
  EventStream stream;
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  std::atomic<int> calls{0};
  Subscription sub = stream.Subscribe([&](const Message&) {
    calls++;
    entered = true;
    while (!release.load()) std::this_thread::yield();
  });
  std::thread publisher([&] { stream.Publish(Note{1}); });
  ASSERT_TRUE(test::WaitFor([&] { return entered.load(); }));
  std::atomic<bool> unsubscribed{false};
  std::thread remover([&] {
    sub.Unsubscribe();
    unsubscribed = true;
  });
  // While the callback runs, Unsubscribe must not return.
  EXPECT_FALSE(test::WaitFor([&] { return unsubscribed.load(); }, 50ms));
  release = true;
  remover.join();
  publisher.join();
  EXPECT_TRUE(unsubscribed.load());
  stream.Publish(Note{2});
  EXPECT_EQ(calls.load(), 1);
  EXPECT_FALSE(stream.has_subscribers());
}

TEST(EventStream, ACallbackMayUnsubscribeItself) {
  EventStream stream;
  Subscription sub;
  int calls = 0;
  sub = stream.Subscribe([&](const Message&) {
    calls++;
    sub.Unsubscribe();
  });
  stream.Publish(Note{1});
  stream.Publish(Note{2});
  EXPECT_EQ(calls, 1);
}

TEST(Match, AHandlerTakingMessageCatchesEverythingElse) {
  testing::DeterministicSystem d;
  class CatchAll : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](const Note& n) { ctx.Reply(std::string("note")).IgnoreError(); },
                [&](Message& m) { ctx.Reply(std::string(m.TypeName())).IgnoreError(); });
    }
  };
  auto pid = d.system().Spawn<CatchAll>("c");
  ASSERT_TRUE(pid.ok());
  EXPECT_EQ(*pid->Ask<std::string>(Note{1}, 1s), "note");
  EXPECT_EQ(*pid->Ask<std::string>(3.5, 1s), "double");
  EXPECT_EQ(d.system().DeadLetterCount(), 0u);
}

TEST(Ask, IsRefusedInsideAnActorEvenOnTheDeterministicFixture) {
  testing::DeterministicSystem d;
  class Asker : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      ctx.Reply(static_cast<int>(ctx.self().Ask(1, 1s).status().code())).IgnoreError();
    }
  };
  auto pid = d.system().Spawn<Asker>("asker");
  ASSERT_TRUE(pid.ok());
  EXPECT_EQ(*pid->Ask<int>(0, 1s), static_cast<int>(StatusCode::kFailedPrecondition));
}

TEST(ActorSystemOptions, InvalidNameIsRefusedAtStart) {
  SystemOptions o = test::QuietOptions();
  o.name = "bad name!";
  ActorSystem system(o);
  EXPECT_EQ(system.Start().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace akt
