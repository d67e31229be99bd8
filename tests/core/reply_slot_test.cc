// The reply slot and its pool: the two pool bugs GoAkt v3.14 fixed cannot
// happen here.
#include "reply_slot.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace akt::internal {
namespace {

using namespace std::chrono_literals;

TimePoint Past() { return Clock::now() - 1s; }

TEST(ReplySlot, ReplyWinsAndTheErrorPathCannotAlsoComplete) {
  SlotPool pool(4);
  ReplySlot* s = pool.Acquire();
  EXPECT_TRUE(s->Complete(Message(std::string("reply"))));
  EXPECT_FALSE(s->Fail(Status(StatusCode::kActorFailed, "late failure")));
  EXPECT_FALSE(s->Complete(Message(std::string("second reply"))));
  Result<Message> r = s->Wait(Clock::now() + 1s, 0ns);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->As<std::string>(), "reply");
  s->Release();
  s->Release();
}

TEST(ReplySlot, ErrorWinsAndALaterReplyIsRefused) {
  SlotPool pool(4);
  ReplySlot* s = pool.Acquire();
  EXPECT_TRUE(s->Fail(StoppedError("gone")));
  EXPECT_FALSE(s->Complete(Message(1)));
  Result<Message> r = s->Wait(Clock::now() + 1s, 0ns);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kStopped);
  s->Release();
  s->Release();
}

TEST(ReplySlot, SlotAbandonedAtTimeoutIsNotReusedWhileALateReplyCanStillArrive) {
  SlotPool pool(4);
  ReplySlot* old_slot = pool.Acquire();
  uint64_t old_generation = old_slot->generation();
  // The asker times out and lets go; the envelope (the replier) still holds it.
  Result<Message> r = old_slot->Wait(Past(), 0ns);
  ASSERT_EQ(r.status().code(), StatusCode::kTimeout);
  old_slot->Release();
  EXPECT_EQ(pool.free_count(), 0u);
  EXPECT_EQ(pool.in_use_count(), 1u);

  // A new request must get a different slot.
  ReplySlot* fresh = pool.Acquire();
  EXPECT_NE(fresh, old_slot);

  // The late reply for the old request is refused, and cannot reach `fresh`.
  EXPECT_FALSE(old_slot->Complete(Message(std::string("stale"))));
  EXPECT_FALSE(fresh->done());
  EXPECT_TRUE(fresh->Complete(Message(std::string("new"))));
  Result<Message> got = fresh->Wait(Clock::now() + 1s, 0ns);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got->As<std::string>(), "new");
  fresh->Release();
  fresh->Release();

  // Only when the replier lets go does the old slot return, fresh and empty.
  old_slot->Release();
  ReplySlot* reused = pool.Acquire();
  EXPECT_GT(reused->generation(), old_generation);
  Result<Message> none = reused->Wait(Past(), 0ns);
  EXPECT_EQ(none.status().code(), StatusCode::kTimeout);
  reused->Release();
  reused->Release();
}

TEST(ReplySlot, ExactlyOneOfReplyErrorAndTimeoutWinsUnderRaces) {
  SlotPool pool(64);
  for (int round = 0; round < 2000; ++round) {
    ReplySlot* s = pool.Acquire();
    std::atomic<int> wins{0};
    std::thread replier([&] { wins += s->Complete(Message(round)) ? 1 : 0; });
    std::thread failer([&] { wins += s->Fail(StoppedError("x")) ? 1 : 0; });
    Result<Message> r = s->Wait(Clock::now() + std::chrono::microseconds(round % 50), 0ns);
    replier.join();
    failer.join();
    if (r.ok()) {
      EXPECT_EQ(*r->As<int>(), round);
      EXPECT_EQ(wins.load(), 1);
    } else if (r.status().code() == StatusCode::kTimeout) {
      EXPECT_EQ(wins.load(), 0);  // the asker abandoned first: both were refused
    } else {
      EXPECT_EQ(r.status().code(), StatusCode::kStopped);
      EXPECT_EQ(wins.load(), 1);
    }
    s->Release();
    s->Release();
  }
}

TEST(ReplySlot, BlockedWaiterIsWokenByAReplyFromAnotherThread) {
  SlotPool pool(4);
  ReplySlot* s = pool.Acquire();
  std::atomic<bool> saw_sleeping{false};
  std::thread replier([&] {
    // Complete only once the waiter sleeps on the futex: the wake-up is what
    // is tested (a lost wake-up would leave it asleep until the deadline).
    auto until = std::chrono::steady_clock::now() + 5s;
    while (!s->sleeping() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    saw_sleeping = s->sleeping();
    s->Complete(Message(7));
  });
  auto t0 = std::chrono::steady_clock::now();
  Result<Message> r = s->Wait(Clock::now() + 10s, 0ns);
  auto waited = std::chrono::steady_clock::now() - t0;
  replier.join();
  EXPECT_TRUE(saw_sleeping.load());
  EXPECT_LT(waited, 6s);  // woken, not timed out at the 10 s deadline
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->As<int>(), 7);
  s->Release();
  s->Release();
}

TEST(SlotPool, KeepsAtMostItsCapacityOfFreeSlots) {
  SlotPool pool(2);
  std::vector<ReplySlot*> slots;
  for (int i = 0; i < 5; ++i) slots.push_back(pool.Acquire());
  EXPECT_EQ(pool.in_use_count(), 5u);
  for (ReplySlot* s : slots) {
    s->Release();
    s->Release();
  }
  EXPECT_EQ(pool.free_count(), 2u);
  EXPECT_EQ(pool.in_use_count(), 0u);
}

TEST(SlotPool, FailAllCompletesEveryWaitingSlot) {
  SlotPool pool(4);
  ReplySlot* a = pool.Acquire();
  ReplySlot* b = pool.Acquire();
  pool.FailAll(SystemStoppedError("stopping"));
  EXPECT_EQ(a->Wait(Clock::now() + 1s, 0ns).status().code(), StatusCode::kSystemStopped);
  EXPECT_EQ(b->Wait(Clock::now() + 1s, 0ns).status().code(), StatusCode::kSystemStopped);
  for (ReplySlot* s : {a, b}) {
    s->Release();
    s->Release();
  }
}

}  // namespace
}  // namespace akt::internal
