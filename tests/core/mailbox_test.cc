// Mailboxes: bounded (both full policies), priority, fair-per-sender, system
// messages jumping the queue, and the size a mailbox reports. Orders are
// checked on the deterministic fixture; "nothing is dropped" also under real
// concurrent senders.
#include <akt/testing/deterministic.h>

#include <atomic>
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
using test::EventLog;

struct Add {
  int n = 0;
};
// A message from `tag`, its `seq`-th.
struct Tagged {
  std::string tag;
  int seq = 0;
};
struct Job {
  int priority = 0;
  std::string name;
};
struct Go {};

// What a Recorder processed, in order.
struct Record {
  std::mutex mu;
  std::vector<std::string> seen;
  int sum = 0;

  void Add(std::string s) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(std::move(s));
  }
  std::vector<std::string> Seen() {
    std::lock_guard<std::mutex> lock(mu);
    return seen;
  }
};

class Recorder : public Actor {
 public:
  explicit Recorder(std::shared_ptr<Record> record) : record_(std::move(record)) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](const Add& a) {
          record_->Add("add" + std::to_string(a.n));
          std::lock_guard<std::mutex> lock(record_->mu);
          record_->sum += a.n;
        },
        [&](const Tagged& t) { record_->Add(t.tag + std::to_string(t.seq)); },
        [&](const Job& j) { record_->Add(j.name); });
  }

 private:
  std::shared_ptr<Record> record_;
};

// On Go, sends `count` Tagged{tag, 0..count-1} to `target`, all in one turn.
class Burst : public Actor {
 public:
  Burst(PID target, std::string tag, int count)
      : target_(std::move(target)), tag_(std::move(tag)), count_(count) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const Go&) {
      for (int i = 0; i < count_; ++i) ctx.Tell(target_, Tagged{tag_, i}).IgnoreError();
    });
  }

 private:
  PID target_;
  std::string tag_;
  int count_;
};

SpawnOptions WithMailbox(MailboxSpec spec) { return SpawnOptions().WithMailbox(std::move(spec)); }

class MailboxTest : public ::testing::Test {
 protected:
  ActorSystem& system() { return d_.system(); }

  DeterministicSystem d_;
  std::shared_ptr<Record> record_ = std::make_shared<Record>();
};

// ---------------------------------------------------------------------------
// Bounded.

TEST_F(MailboxTest, BoundedRejectRefusesTellsBeyondCapacityAndDeadLettersThem) {
  Result<PID> pid = system().SpawnWith<Recorder>(
      "r", WithMailbox(MailboxSpec::Bounded(3, FullPolicy::kReject)), record_);
  ASSERT_TRUE(pid.ok());
  EventLog<DeadLetter> dead(system());

  for (int i = 1; i <= 3; ++i) EXPECT_TRUE(pid->Tell(Add{i}).ok()) << i;
  EXPECT_EQ(pid->Tell(Add{4}).code(), StatusCode::kMailboxFull);
  EXPECT_EQ(pid->Tell(Add{5}).code(), StatusCode::kMailboxFull);

  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kMailboxFull), 2u);
  std::vector<DeadLetter> letters = dead.events();
  ASSERT_EQ(letters.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const DeadLetter& d = letters[i];
    EXPECT_EQ(d.reason, DeadLetterReason::kMailboxFull);
    EXPECT_EQ(d.recipient, *pid);
    ASSERT_TRUE(d.message && d.message->Is<Add>());
    EXPECT_EQ(d.message->As<Add>()->n, 4 + i);
  }

  d_.RunUntilIdle();
  EXPECT_EQ(record_->Seen(), (std::vector<std::string>{"add1", "add2", "add3"}));
  // Room again once the queue drained.
  EXPECT_TRUE(pid->Tell(Add{6}).ok());
}

TEST_F(MailboxTest, BoundedRejectFailsAnAskWithMailboxFull) {
  Result<PID> pid = system().SpawnWith<test::Echo>("echo", WithMailbox(MailboxSpec::Bounded(1)));
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(pid->Tell(test::Ping{1}).ok());
  TimePoint before = d_.Now();

  Result<Message> reply = pid->Ask(test::Ping{2}, 1s);

  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kMailboxFull);
  EXPECT_EQ(d_.Now(), before);  // refused at once, not timed out
}

TEST_F(MailboxTest, BatchTellOffersEveryMessageAfterARefusedOne) {
  Result<PID> pid = system().SpawnWith<Recorder>(
      "r", WithMailbox(MailboxSpec::Bounded(2, FullPolicy::kReject)), record_);
  ASSERT_TRUE(pid.ok());
  EventLog<DeadLetter> dead(system());
  // The refusal of Add{3} makes room: the recorder takes Add{1} while the
  // batch is still being offered (dead-letter callbacks run synchronously).
  Subscription make_room = system().events().Subscribe([&](const Message& m) {
    const auto* d = m.As<DeadLetter>();
    if (d != nullptr && d->reason == DeadLetterReason::kMailboxFull) d_.Step();
  });
  std::vector<Message> batch;
  for (int i = 1; i <= 4; ++i) batch.emplace_back(Add{i});

  Status s = pid->BatchTell(std::move(batch));

  EXPECT_EQ(s.code(), StatusCode::kMailboxFull) << s.ToString();  // the first failure
  std::vector<DeadLetter> letters = dead.events();
  ASSERT_EQ(letters.size(), 1u);
  ASSERT_TRUE(letters[0].message && letters[0].message->Is<Add>());
  EXPECT_EQ(letters[0].message->As<Add>()->n, 3);
  d_.RunUntilIdle();
  EXPECT_EQ(record_->Seen(), (std::vector<std::string>{"add1", "add2", "add4"}));
}

TEST_F(MailboxTest, BoundedDeadLetterPolicyAcceptsTheTellButDeadLettersTheMessage) {
  Result<PID> pid = system().SpawnWith<Recorder>(
      "r", WithMailbox(MailboxSpec::Bounded(2, FullPolicy::kDeadLetter)), record_);
  ASSERT_TRUE(pid.ok());
  EventLog<DeadLetter> dead(system());

  for (int i = 1; i <= 4; ++i) EXPECT_TRUE(pid->Tell(Add{i}).ok()) << i;

  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kMailboxFull), 2u);
  std::vector<DeadLetter> letters = dead.events();
  ASSERT_EQ(letters.size(), 2u);
  EXPECT_EQ(letters[0].reason, DeadLetterReason::kMailboxFull);
  EXPECT_EQ(letters[0].message->As<Add>()->n, 3);
  EXPECT_EQ(letters[1].message->As<Add>()->n, 4);
  d_.RunUntilIdle();
  EXPECT_EQ(record_->Seen(), (std::vector<std::string>{"add1", "add2"}));
}

// Blocks in its first message until released, then counts Adds.
struct GateState {
  std::atomic<bool> blocked{false};
  std::atomic<bool> release{false};
  std::atomic<int> processed{0};
};
struct Block {};

class Gate : public Actor {
 public:
  explicit Gate(std::shared_ptr<GateState> state) : state_(std::move(state)) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](const Block&) {
          state_->blocked = true;
          test::WaitFor([&] { return state_->release.load(); }, 20s);
        },
        [&](const Add&) { state_->processed++; });
  }

 private:
  std::shared_ptr<GateState> state_;
};

TEST(MailboxConcurrencyTest, BoundedMailboxDropsNothingSilentlyUnderConcurrentSenders) {
  constexpr int kCapacity = 16;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  auto state = std::make_shared<GateState>();
  Result<PID> pid =
      system.SpawnWith<Gate>("gate", WithMailbox(MailboxSpec::Bounded(kCapacity)), state);
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(pid->Tell(Block{}).ok());
  ASSERT_TRUE(test::WaitFor([&] { return state->blocked.load(); }));

  // The receiver is stuck, so exactly kCapacity messages fit, whoever sends.
  std::atomic<int> accepted{0};
  std::atomic<int> refused{0};
  std::atomic<int> other{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        Status s = pid->Tell(Add{1});
        if (s.ok()) {
          accepted++;
        } else if (s.code() == StatusCode::kMailboxFull) {
          refused++;
        } else {
          other++;
        }
      }
    });
  }
  for (std::thread& t : senders) t.join();
  EXPECT_EQ(pid->MailboxSize(), static_cast<std::size_t>(kCapacity));
  state->release = true;

  EXPECT_EQ(accepted.load(), kCapacity);
  EXPECT_EQ(refused.load(), kThreads * kPerThread - kCapacity);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(system.DeadLetterCount(DeadLetterReason::kMailboxFull),
            static_cast<uint64_t>(refused.load()));
  // Every accepted message is processed: processed + dead letters == sent.
  EXPECT_TRUE(test::WaitFor([&] { return state->processed.load() == accepted.load(); }))
      << "processed " << state->processed.load() << " of " << accepted.load();
  EXPECT_EQ(state->processed.load() + static_cast<int>(system.DeadLetterCount()),
            kThreads * kPerThread);
}

// ---------------------------------------------------------------------------
// Priority.

TEST_F(MailboxTest, PriorityMailboxProcessesByComparatorAndKeepsArrivalOrderForTies) {
  auto higher_first = [](const Message& a, const Message& b) {
    const Job* x = a.As<Job>();
    const Job* y = b.As<Job>();
    return (x ? x->priority : 0) > (y ? y->priority : 0);
  };
  Result<PID> pid =
      system().SpawnWith<Recorder>("r", WithMailbox(MailboxSpec::Priority(higher_first)), record_);
  ASSERT_TRUE(pid.ok());

  // All queued before the actor first runs.
  ASSERT_TRUE(pid->Tell(Job{1, "low-a"}).ok());
  ASSERT_TRUE(pid->Tell(Job{3, "high-a"}).ok());
  ASSERT_TRUE(pid->Tell(Job{2, "mid-a"}).ok());
  ASSERT_TRUE(pid->Tell(Job{3, "high-b"}).ok());
  ASSERT_TRUE(pid->Tell(Job{1, "low-b"}).ok());
  ASSERT_TRUE(pid->Tell(Job{3, "high-c"}).ok());
  ASSERT_TRUE(pid->Tell(Job{2, "mid-b"}).ok());
  d_.RunUntilIdle();

  EXPECT_EQ(record_->Seen(), (std::vector<std::string>{"high-a", "high-b", "high-c", "mid-a",
                                                       "mid-b", "low-a", "low-b"}));
}

// ---------------------------------------------------------------------------
// Fair per sender.

TEST_F(MailboxTest, FairPerSenderMailboxTakesTurnsBetweenSenders) {
  Result<PID> receiver =
      system().SpawnWith<Recorder>("r", WithMailbox(MailboxSpec::FairPerSender()), record_);
  ASSERT_TRUE(receiver.ok());
  Result<PID> a = system().Spawn<Burst>("a", *receiver, std::string("a"), 4);
  Result<PID> b = system().Spawn<Burst>("b", *receiver, std::string("b"), 2);
  ASSERT_TRUE(a.ok() && b.ok());

  // a runs, then b, then the receiver: both bursts are queued before it runs.
  ASSERT_TRUE(a->Tell(Go{}).ok());
  ASSERT_TRUE(b->Tell(Go{}).ok());
  d_.RunUntilIdle();

  EXPECT_EQ(record_->Seen(), (std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "a3"}));
}

TEST_F(MailboxTest, DefaultMailboxKeepsArrivalOrderForTheSameBursts) {
  // The control for the test above: without fairness, a's burst comes first.
  Result<PID> receiver = system().Spawn<Recorder>("r", record_);
  ASSERT_TRUE(receiver.ok());
  Result<PID> a = system().Spawn<Burst>("a", *receiver, std::string("a"), 4);
  Result<PID> b = system().Spawn<Burst>("b", *receiver, std::string("b"), 2);
  ASSERT_TRUE(a.ok() && b.ok());

  ASSERT_TRUE(a->Tell(Go{}).ok());
  ASSERT_TRUE(b->Tell(Go{}).ok());
  d_.RunUntilIdle();

  EXPECT_EQ(record_->Seen(), (std::vector<std::string>{"a0", "a1", "a2", "a3", "b0", "b1"}));
}

TEST_F(MailboxTest, FairPerSenderMailboxGivesMessagesWithoutASenderOneSharedLane) {
  Result<PID> receiver =
      system().SpawnWith<Recorder>("r", WithMailbox(MailboxSpec::FairPerSender()), record_);
  ASSERT_TRUE(receiver.ok());
  Result<PID> a = system().Spawn<Burst>("a", *receiver, std::string("a"), 2);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->Tell(Go{}).ok());
  ASSERT_TRUE(d_.Step());  // a sends its burst; the receiver has not run

  ASSERT_TRUE(receiver->Tell(Tagged{"x", 0}).ok());
  ASSERT_TRUE(receiver->Tell(Tagged{"x", 1}).ok());
  ASSERT_TRUE(receiver->Tell(Tagged{"x", 2}).ok());
  d_.RunUntilIdle();

  EXPECT_EQ(record_->Seen(), (std::vector<std::string>{"a0", "x0", "a1", "x1", "x2"}));
}

// ---------------------------------------------------------------------------
// System messages and size.

TEST_F(MailboxTest, StopJumpsAheadOfQueuedUserMessagesWhichBecomeDeadLetters) {
  Result<PID> pid = system().Spawn<Recorder>("r", record_);
  ASSERT_TRUE(pid.ok());
  EventLog<DeadLetter> dead(system());
  for (int i = 1; i <= 4; ++i) ASSERT_TRUE(pid->Tell(Add{i}).ok());
  ASSERT_TRUE(d_.Step());  // one turn: one message
  ASSERT_EQ(record_->Seen(), (std::vector<std::string>{"add1"}));

  pid->Stop();
  d_.RunUntilIdle();

  EXPECT_EQ(record_->Seen(), (std::vector<std::string>{"add1"}));
  EXPECT_TRUE(pid->AwaitTermination(1s));
  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kStopped), 3u);
  std::vector<DeadLetter> letters = dead.events();
  ASSERT_EQ(letters.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(letters[i].reason, DeadLetterReason::kStopped);
    EXPECT_EQ(letters[i].recipient, *pid);
    EXPECT_EQ(letters[i].message->As<Add>()->n, 2 + i);  // in their queue order
  }
}

TEST_F(MailboxTest, AFullBoundedMailboxStillAcceptsStop) {
  Result<PID> pid = system().SpawnWith<Recorder>(
      "r", WithMailbox(MailboxSpec::Bounded(1, FullPolicy::kReject)), record_);
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(pid->Tell(Add{1}).ok());
  ASSERT_EQ(pid->Tell(Add{2}).code(), StatusCode::kMailboxFull);

  pid->Stop();
  d_.RunUntilIdle();

  EXPECT_TRUE(pid->AwaitTermination(1s));
  EXPECT_TRUE(record_->Seen().empty());
}

TEST_F(MailboxTest, MailboxSizeCountsTheMessagesWaiting) {
  Result<PID> pid = system().Spawn<Recorder>("r", record_);
  ASSERT_TRUE(pid.ok());
  EXPECT_EQ(pid->MailboxSize(), 0u);

  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(pid->Tell(Add{i}).ok());
  EXPECT_EQ(pid->MailboxSize(), 3u);

  ASSERT_TRUE(d_.Step());
  EXPECT_EQ(pid->MailboxSize(), 2u);

  d_.RunUntilIdle();
  EXPECT_EQ(pid->MailboxSize(), 0u);
}

TEST_F(MailboxTest, MailboxSizeOfABoundedMailboxDoesNotCountRefusedMessages) {
  Result<PID> pid = system().SpawnWith<Recorder>(
      "r", WithMailbox(MailboxSpec::Bounded(2, FullPolicy::kDeadLetter)), record_);
  ASSERT_TRUE(pid.ok());

  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(pid->Tell(Add{i}).ok());

  EXPECT_EQ(pid->MailboxSize(), 2u);
}

TEST_F(MailboxTest, SpawnRejectsABoundedMailboxWithoutCapacityAndAPriorityWithoutComparator) {
  EXPECT_EQ(system()
                .SpawnWith<Recorder>("r", WithMailbox(MailboxSpec::Bounded(0)), record_)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(system()
                .SpawnWith<Recorder>("r", WithMailbox(MailboxSpec::Priority(nullptr)), record_)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace akt
