// Remoting between two actor systems in this process, over real TCP on
// loopback: remote PIDs behave like local ones.
#include <atomic>
#include <thread>

#include "remote_caller.h"
#include "remote_fixture.h"

namespace akt::test {
namespace {

using Remote = TwoNodes;

TEST_F(Remote, AskAcrossSystems) {
  PID echo = RemoteEchoPid();
  ASSERT_TRUE(echo);
  EXPECT_TRUE(Remoting::IsRemote(echo));
  EXPECT_EQ(echo.Address(), "akt://beta@" + b_.remoting->endpoint() + "/echo");
  EXPECT_EQ(echo.Name(), "echo");
  Result<akt::test::Pong> r = echo.Ask<akt::test::Pong>(MakePing(7, "hi"), 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->n(), 7);
  EXPECT_EQ(r->text(), "hi");
}

// Counts Adds that do not continue the sequence 1, 2, 3, ...
class SequenceChecker : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](const akt::test::Add& a) {
          if (a.amount() != next_) ++out_of_order_;
          next_ = a.amount() + 1;
        },
        [&](const akt::test::GetTotal&) {
          akt::test::Total t;
          t.set_value(next_ - 1 + 1000000 * out_of_order_);
          ctx.Reply(std::move(t)).IgnoreError();
        });
  }

 private:
  int64_t next_ = 1;
  int64_t out_of_order_ = 0;
};

TEST_F(Remote, TellsArriveInOrderBeforeALaterAsk) {
  ASSERT_TRUE(b_.system->Spawn<SequenceChecker>("seq").ok());
  Result<PID> seq = a_.remoting->Lookup(b_.remoting->endpoint(), "seq");
  ASSERT_TRUE(seq.ok());
  for (int i = 1; i <= 1000; ++i) {
    akt::test::Add add;
    add.set_amount(i);
    ASSERT_TRUE(seq->Tell(std::move(add)).ok());
  }
  // 1000: all arrived, none out of order (each reordering adds a million),
  // and all before the ask that followed them.
  Result<akt::test::Total> t = seq->Ask<akt::test::Total>(akt::test::GetTotal(), 5s);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->value(), 1000);
}

TEST_F(Remote, BatchTellAndBatchAskGoOutInOneWrite) {
  PID echo = RemoteEchoPid();
  std::vector<Message> adds;
  for (int i = 0; i < 100; ++i) {
    akt::test::Add add;
    add.set_amount(2);
    adds.emplace_back(std::move(add));
  }
  uint64_t writes_before = a_.remoting->Stats().write_calls;
  ASSERT_TRUE(echo.BatchTell(std::move(adds)).ok());
  // 100 frames, one write (the batch is flushed once at its end).
  EXPECT_LE(a_.remoting->Stats().write_calls - writes_before, 2u);
  std::vector<Message> pings;
  for (int i = 0; i < 50; ++i) pings.emplace_back(MakePing(i));
  std::vector<Result<Message>> replies = echo.BatchAsk(std::move(pings), 5s);
  ASSERT_EQ(replies.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(replies[i].ok()) << replies[i].status().ToString();
    const auto* pong = replies[i]->As<akt::test::Pong>();
    ASSERT_NE(pong, nullptr);
    EXPECT_EQ(pong->n(), i);
  }
  Result<akt::test::Total> t = echo.Ask<akt::test::Total>(akt::test::GetTotal(), 5s);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->value(), 200);
}

// An actor in alpha pings beta's echo with itself as the sender; the echo's
// Reply travels back as a Tell over beta's own connection to alpha.
class Pinger : public Actor {
 public:
  Pinger(PID target, std::atomic<int>* pongs, std::atomic<int>* in_order, int n)
      : target_(std::move(target)), pongs_(pongs), in_order_(in_order), n_(n) {}
  Status PreStart(Context& ctx) override {
    for (int i = 0; i < n_; ++i) ctx.Tell(target_, MakePing(i)).IgnoreError();
    return Status();
  }
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const akt::test::Pong& p) {
      EXPECT_TRUE(Remoting::IsRemote(ctx.sender()));
      EXPECT_EQ(ctx.sender().Name(), "echo");
      if (p.n() == in_order_->load()) in_order_->fetch_add(1);
      pongs_->fetch_add(1);
    });
  }

 private:
  PID target_;
  std::atomic<int>* pongs_;
  std::atomic<int>* in_order_;
  int n_;
};

TEST_F(Remote, ReceiverSeesTheSenderAndTellsItBack) {
  PID echo = RemoteEchoPid();
  std::atomic<int> pongs{0}, in_order{0};
  auto pinger = a_.system->Spawn<Pinger>("pinger", echo, &pongs, &in_order, 200);
  ASSERT_TRUE(pinger.ok());
  EXPECT_TRUE(WaitUntil([&] { return pongs.load() == 200; })) << pongs.load();
  EXPECT_EQ(in_order.load(), 200);  // the answers came back in the order sent
}

// Request/Then from an actor to a remote actor: no worker blocks.
class Requester : public Actor {
 public:
  Requester(PID target, std::atomic<int64_t>* got) : target_(std::move(target)), got_(got) {}
  Status PreStart(Context& ctx) override { return ctx.self().Tell(std::string("go")); }
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const std::string&) {
      ctx.Request(target_, MakePing(41), 5s).Then([this](ReceiveContext&, Result<Message> r) {
        if (r.ok()) {
          if (const auto* p = r->As<akt::test::Pong>()) got_->store(p->n() + 1);
        } else {
          got_->store(-static_cast<int64_t>(r.status().code()));
        }
      });
    });
  }

 private:
  PID target_;
  std::atomic<int64_t>* got_;
};

TEST_F(Remote, RequestFromAnActorCompletesWithTheRemoteReply) {
  std::atomic<int64_t> got{0};
  ASSERT_TRUE(a_.system->Spawn<Requester>("requester", RemoteEchoPid(), &got).ok());
  EXPECT_TRUE(WaitUntil([&] { return got.load() != 0; }));
  EXPECT_EQ(got.load(), 42);
}

TEST_F(Remote, AnActorLooksUpSpawnsAndStopsRemotelyInsideItsTurns) {
  auto log = std::make_shared<RemoteCaller::Log>();
  Result<PID> caller =
      a_.system->Spawn<RemoteCaller>("caller", a_.remoting, b_.remoting->endpoint(), log);
  ASSERT_TRUE(caller.ok());
  ASSERT_TRUE(caller->Tell(std::string("lookup")).ok());
  ASSERT_TRUE(WaitUntil([&] { return log->Get().size() == 2; })) << ::testing::PrintToString(log->Get());
  EXPECT_EQ(log->Get(), (std::vector<std::string>{"lookup ok", "pong 5"}));
  ASSERT_TRUE(caller->Tell(std::string("missing")).ok());
  ASSERT_TRUE(WaitUntil([&] { return log->Get().size() == 3; }));
  EXPECT_EQ(log->Get()[2], "lookup NOT_FOUND");
  ASSERT_TRUE(caller->Tell(std::string("spawn")).ok());
  ASSERT_TRUE(WaitUntil([&] { return log->Get().size() == 6; })) << ::testing::PrintToString(log->Get());
  EXPECT_EQ(log->Get()[3], "spawn ok");
  EXPECT_EQ(log->Get()[4], "pong 6");
  EXPECT_EQ(log->Get()[5], "stopped");
  EXPECT_TRUE(WaitUntil([&] { return !b_.system->ActorOf("spawned").ok(); }));
}

TEST_F(Remote, ARemoteSpawnWithRelocationDisabledIsNeverListedAsRelocatable) {
  RemoteSpawnOptions pinned;
  pinned.disable_relocation = true;
  ASSERT_TRUE(a_.remoting->SpawnRemote(b_.remoting->endpoint(), "mobile", "echo").ok());
  Result<PID> stays = a_.remoting->SpawnRemote(b_.remoting->endpoint(), "stays", "echo", pinned);
  ASSERT_TRUE(stays.ok()) << stays.status().ToString();
  ASSERT_TRUE(a_.remoting->SpawnRemote(b_.remoting->endpoint(), "gone", "echo").ok());
  // Locally spawned actors have no spawn record: never relocated.
  ASSERT_TRUE(b_.system->Spawn<RemoteEcho>("local").ok());
  EXPECT_EQ(b_.remoting->RelocatableActors(), (std::vector<std::string>{"gone", "mobile"}));
  Result<PID> gone = a_.remoting->Lookup(b_.remoting->endpoint(), "gone");
  ASSERT_TRUE(gone.ok());
  ASSERT_TRUE(a_.remoting->StopRemote(*gone).ok());
  EXPECT_TRUE(WaitUntil([&] {
    return b_.remoting->RelocatableActors() == std::vector<std::string>{"mobile"};
  }));
  EXPECT_TRUE(a_.remoting->RelocatableActors().empty());
}

// Forward keeps the original asker: a local Ask answered by a remote actor.
class Forwarder : public Actor {
 public:
  explicit Forwarder(PID to) : to_(std::move(to)) {}
  void Receive(ReceiveContext& ctx) override { ctx.Forward(to_).IgnoreError(); }

 private:
  PID to_;
};

TEST_F(Remote, ForwardToARemoteActorKeepsTheAsker) {
  auto fwd = a_.system->Spawn<Forwarder>("fwd", RemoteEchoPid());
  ASSERT_TRUE(fwd.ok());
  Result<akt::test::Pong> r = fwd->Ask<akt::test::Pong>(MakePing(5), 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->n(), 5);
}

TEST_F(Remote, ANonProtobufMessageFailsAtTheCall) {
  PID echo = RemoteEchoPid();
  Status s = echo.Tell(std::string("not protobuf"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("only protobuf messages"), std::string::npos) << s.message();
  Result<Message> r = echo.Ask(42, 1s);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(Remote, AnUnknownActorAnswersNotFound) {
  Result<PID> ghost = a_.remoting->ActorOf("akt://beta@" + b_.remoting->endpoint() + "/ghost");
  ASSERT_TRUE(ghost.ok());
  Result<Message> r = ghost->Ask(MakePing(1), 5s);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  EXPECT_NE(r.status().message().find("ghost"), std::string::npos);
  Result<PID> missing = a_.remoting->Lookup(b_.remoting->endpoint(), "ghost");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_F(Remote, AHandlerFailureIsAnErrorReplyAndTheActorGoesOn) {
  PID echo = RemoteEchoPid();
  akt::test::Fail f;
  f.set_why("boom");
  Result<Message> r = echo.Ask(std::move(f), 5s);
  EXPECT_EQ(r.status().code(), StatusCode::kActorFailed) << r.status().ToString();
  Result<akt::test::Pong> again = echo.Ask<akt::test::Pong>(MakePing(3), 5s);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->n(), 3);
}

TEST_F(Remote, DeadlineAndHeadersTravelWithTheRequest) {
  PID echo = RemoteEchoPid();
  HeaderScope scope({{"trace-id", "abc123"}, {"tenant", "t1"}});
  Result<akt::test::Seen> r = echo.Ask<akt::test::Seen>(akt::test::Inspect(), 2s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->headers_size(), 2);
  EXPECT_EQ(r->headers(0), "trace-id=abc123");
  EXPECT_EQ(r->headers(1), "tenant=t1");
  EXPECT_GT(r->deadline_left_ms(), 0);
  EXPECT_LE(r->deadline_left_ms(), 2000);
}

TEST_F(Remote, AnAddressOfThisNodeIsTheLocalActor) {
  auto local = a_.system->Spawn<RemoteEcho>("local-echo");
  ASSERT_TRUE(local.ok());
  Result<PID> p = a_.remoting->ActorOf(a_.remoting->AddressOf(*local));
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(Remoting::IsRemote(*p));
  EXPECT_EQ(*p, *local);
}

TEST_F(Remote, TheSameAddressGivesTheSamePid) {
  std::string addr = "akt://beta@" + b_.remoting->endpoint() + "/echo";
  Result<PID> p1 = a_.remoting->ActorOf(addr);
  Result<PID> p2 = a_.remoting->ActorOf(addr);
  ASSERT_TRUE(p1.ok() && p2.ok());
  EXPECT_EQ(*p1, *p2);
  EXPECT_EQ(a_.remoting->ActorOf("http://x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a_.remoting->ActorOf("akt://beta@nohost/echo").status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(Remote, SpawnByKindCarriesOptionsAndDependencies) {
  RemoteSpawnOptions o;
  o.dependencies.push_back(std::make_shared<ConfigDep>("v1"));
  o.supervisor_directive = "resume";
  Result<PID> p = a_.remoting->SpawnRemote(b_.remoting->endpoint(), "spawned", "echo", o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(b_.system->ActorOf("spawned").ok());
  Result<akt::test::Seen> seen = p->Ask<akt::test::Seen>(akt::test::Inspect(), 5s);
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  EXPECT_EQ(seen->dependency(), "test.config:v1");

  EXPECT_EQ(a_.remoting->SpawnRemote(b_.remoting->endpoint(), "spawned", "echo").status().code(),
            StatusCode::kAlreadyExists);
  Status unknown =
      a_.remoting->SpawnRemote(b_.remoting->endpoint(), "x", "no-such-kind").status();
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.message().find("no-such-kind"), std::string::npos);
  o.supervisor_directive = "sideways";
  EXPECT_EQ(a_.remoting->SpawnRemote(b_.remoting->endpoint(), "y", "echo", o).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(Remote, StopRestartAndReSpawnARemoteActor) {
  Result<PID> p = a_.remoting->SpawnRemote(b_.remoting->endpoint(), "worker", "echo");
  ASSERT_TRUE(p.ok());
  akt::test::Add add;
  add.set_amount(5);
  ASSERT_TRUE(p->Tell(add).ok());
  ASSERT_EQ(p->Ask<akt::test::Total>(akt::test::GetTotal(), 5s)->value(), 5);
  // Restart in place: a fresh instance, state gone.
  ASSERT_TRUE(a_.remoting->RestartRemote(*p).ok());
  EXPECT_TRUE(WaitUntil([&] {
    auto t = p->Ask<akt::test::Total>(akt::test::GetTotal(), 5s);
    return t.ok() && t->value() == 0;
  }));
  ASSERT_TRUE(a_.remoting->ReinstateRemote(*p).ok());
  ASSERT_TRUE(a_.remoting->StopRemote(*p).ok());
  EXPECT_TRUE(WaitUntil([&] { return !b_.system->ActorOf("worker").ok(); }));
  // Stopped for good: a restart has no record to re-spawn from.
  EXPECT_EQ(a_.remoting->RestartRemote(*p).code(), StatusCode::kNotFound);
  // An actor that died by itself is re-spawned from its spawn record.
  Result<PID> q = a_.remoting->SpawnRemote(b_.remoting->endpoint(), "phoenix", "echo");
  ASSERT_TRUE(q.ok());
  b_.system->ActorOf("phoenix")->Stop();
  ASSERT_TRUE(WaitUntil([&] { return !b_.system->ActorOf("phoenix").ok(); }));
  ASSERT_TRUE(a_.remoting->RestartRemote(*q).ok());
  EXPECT_TRUE(b_.system->ActorOf("phoenix").ok());
  EXPECT_TRUE(q->Ask<akt::test::Pong>(MakePing(1), 5s).ok());
}

TEST_F(Remote, PidLifecycleCallsReachTheRemoteActor) {
  Result<PID> p = a_.remoting->SpawnRemote(b_.remoting->endpoint(), "doomed", "echo");
  ASSERT_TRUE(p.ok());
  p->Stop();
  EXPECT_TRUE(WaitUntil([&] { return !b_.system->ActorOf("doomed").ok(); }));
}

TEST_F(Remote, AnAskInFlightFailsPromptlyWhenThePeerGoesAway) {
  ASSERT_TRUE(b_.system->Spawn<SilentActor>("silent").ok());
  Result<PID> p = a_.remoting->Lookup(b_.remoting->endpoint(), "silent");
  ASSERT_TRUE(p.ok());
  uint64_t received_before = b_.remoting->Stats().frames_received;
  std::atomic<bool> done{false};
  Status got;
  auto t0 = std::chrono::steady_clock::now();
  std::thread asker([&] {
    got = p->Ask(MakePing(1), 60s).status();
    done = true;
  });
  // The request is at the silent actor once beta has received it.
  ASSERT_TRUE(
      WaitUntil([&] { return b_.remoting->Stats().frames_received >= received_before + 1; }));
  b_.Stop();
  b_.system.reset();
  EXPECT_TRUE(WaitUntil([&] { return done.load(); }, 20000ms));  // long before its 60 s
  asker.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
  EXPECT_TRUE(got.code() == StatusCode::kUnavailable || got.code() == StatusCode::kSystemStopped ||
              got.code() == StatusCode::kStopped)
      << got.ToString();
  // With the peer gone, new calls fail fast with kUnavailable, and a tell
  // becomes an unreachable dead letter.
  uint64_t unreachable = a_.system->DeadLetterCount(DeadLetterReason::kUnreachable);
  Status s = p->Tell(MakePing(2));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_EQ(a_.system->DeadLetterCount(DeadLetterReason::kUnreachable), unreachable + 1);
  Result<Message> r = p->Ask(MakePing(3), 2s);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
}

TEST(RemoteEnable, RejectsBadOptionsAndASecondEnable) {
  SystemOptions so;
  so.name = "solo";
  so.logger = MakeNullLogger();
  ActorSystem sys(so);
  ASSERT_TRUE(sys.Start().ok());
  RemoteOptions bad;
  bad.io_threads = 0;
  EXPECT_EQ(Remoting::Enable(sys, bad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Remoting::Of(sys), nullptr);
  Result<Remoting*> r = Remoting::Enable(sys, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Remoting::Of(sys), *r);
  EXPECT_NE((*r)->port(), 0);
  EXPECT_EQ(Remoting::Enable(sys, {}).status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(sys.Stop().ok());
}

}  // namespace
}  // namespace akt::test
