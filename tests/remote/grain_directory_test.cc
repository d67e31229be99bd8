// The GrainDirectory seam: a directory installed on a node decides where
// each grain message goes (here, or a PID on another node), activations
// claim and release their identity through it, and a placement that fails
// is invalidated. Two real nodes over loopback; the directory is a test
// double standing in for the cluster layer's.
#include "grain_directory.h"

#include <atomic>
#include <mutex>

#include "akt/grain.h"
#include "grain_registry.h"
#include "internal/access.h"
#include "remote_fixture.h"
#include "system_impl.h"

namespace akt::test {
namespace {

using internal::GrainDirectory;
using internal::GrainPlacement;

// Sums the Pings it is told; answers a Pong with the sum.
class Total : public Grain {
 public:
  void OnReceive(GrainContext& ctx) override {
    ctx.Match([&](const Ping& p) { total_ += p.n(); },
              [&](const Pong&) {
                Pong out;
                out.set_n(total_);
                ctx.Reply(out).IgnoreError();
              });
  }

 private:
  int total_ = 0;
};

// Sends identities named "far-*" to `far` (a PID on the other node, made per
// identity by `make_far`), keeps the rest here; counts every call.
class TestDirectory : public GrainDirectory {
 public:
  std::function<Result<PID>(const GrainIdentity&)> make_far;
  bool claim_refused = false;  // Claim says another node holds it
  std::atomic<int> resolves{0}, claims{0}, releases{0}, invalidations{0};

  Result<GrainPlacement> Resolve(const GrainIdentity& id) override {
    ++resolves;
    GrainPlacement p;
    if (id.name().substr(0, 4) == "far-") {
      Result<PID> far = make_far(id);
      if (!far.ok()) return far.status();
      p.where = GrainPlacement::Where::kRemote;
      p.target = *far;
      p.epoch = 7;
    }
    return p;
  }
  Result<uint64_t> Claim(const GrainIdentity& id, const GrainOptions&, std::string_view,
                         GrainPlacement* owner) override {
    ++claims;
    if (claim_refused) {
      Result<PID> far = make_far(id);
      if (!far.ok()) return far.status();
      owner->where = GrainPlacement::Where::kRemote;
      owner->target = *far;
      return AlreadyExistsError("held elsewhere");
    }
    return uint64_t{42};
  }
  void Release(const GrainIdentity&, uint64_t epoch) override {
    if (epoch == 42) ++releases;
  }
  void Invalidate(const GrainIdentity&, const GrainPlacement& stale) override {
    if (stale.epoch == 7) ++invalidations;
  }
};

class GrainDirectorySeam : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = Node::Start("alpha");
    b_ = Node::Start("beta");
    for (Node* n : {&a_, &b_}) {
      ASSERT_TRUE(n->system->RegisterGrainKind("total", MakeGrainFactory<Total>()).ok());
    }
    dir_ = std::make_shared<TestDirectory>();
    std::string far = b_.remoting->endpoint();
    Remoting* remoting = a_.remoting;
    dir_->make_far = [remoting, far](const GrainIdentity& id) {
      return remoting->GrainOf(far, id);
    };
    ASSERT_TRUE(
        internal::GrainRegistry::Of(&akt::internal::ImplOf(*a_.system))->SetDirectory(dir_).ok());
  }
  void TearDown() override {
    a_.Stop();
    b_.Stop();
  }
  static bool Hosts(Node& n, const GrainIdentity& id) {
    for (const GrainInfo& g : n.system->ActiveGrains()) {
      if (g.id == id) return true;
    }
    return false;
  }
  Node a_, b_;
  std::shared_ptr<TestDirectory> dir_;
};

TEST_F(GrainDirectorySeam, MessagesGoWhereTheDirectorySays) {
  auto far = GrainIdentity::Make("total", "far-1");
  auto near = GrainIdentity::Make("total", "near-1");
  ASSERT_TRUE(far.ok() && near.ok());
  for (int i = 1; i <= 10; ++i) {
    ASSERT_TRUE(a_.system->TellGrain(*far, MakePing(i)).ok());
    ASSERT_TRUE(a_.system->TellGrain(*near, MakePing(i)).ok());
  }
  Result<Pong> f = a_.system->AskGrain<Pong>(*far, Pong{}, 5s);
  Result<Pong> n = a_.system->AskGrain<Pong>(*near, Pong{}, 5s);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(f->n(), 55);
  EXPECT_EQ(n->n(), 55);
  EXPECT_TRUE(Hosts(b_, *far));
  EXPECT_FALSE(Hosts(a_, *far));
  EXPECT_TRUE(Hosts(a_, *near));
  EXPECT_FALSE(Hosts(b_, *near));
  EXPECT_GE(dir_->resolves.load(), 22);  // every message asked the directory
  EXPECT_EQ(dir_->claims.load(), 1);     // one activation here: near-1
}

TEST_F(GrainDirectorySeam, AnActivationRefusedByTheDirectoryGoesToTheOwner) {
  dir_->claim_refused = true;
  auto id = GrainIdentity::Make("total", "contested");
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(a_.system->TellGrain(*id, MakePing(5)).ok());
  Result<Pong> r = a_.system->AskGrain<Pong>(*id, Pong{}, 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->n(), 5);
  EXPECT_TRUE(Hosts(b_, *id));
  EXPECT_FALSE(Hosts(a_, *id));
}

TEST_F(GrainDirectorySeam, AnActivationReleasesItsClaimWhenItEnds) {
  auto id = GrainIdentity::Make("total", "near-2");
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(a_.system->AskGrain<Pong>(*id, Pong{}, 5s).ok());
  EXPECT_EQ(dir_->claims.load(), 1);
  EXPECT_EQ(dir_->releases.load(), 0);
  a_.Stop();  // every activation ends
  EXPECT_EQ(dir_->releases.load(), 1);
}

TEST_F(GrainDirectorySeam, APlacementWhoseNodeIsGoneIsInvalidated) {
  auto id = GrainIdentity::Make("total", "far-2");
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(a_.system->AskGrain<Pong>(*id, Pong{}, 5s).ok());
  b_.Stop();
  b_.system.reset();
  // Every call fails with kUnavailable. The first may have been queued on
  // the connection before this node saw it close (it then fails from the
  // connection, asynchronously); the first post that fails at once
  // invalidates the placement.
  EXPECT_TRUE(WaitUntil([&] {
    Result<Message> r = a_.system->AskGrain(*id, Pong{}, 2s);
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
    return dir_->invalidations.load() >= 1;
  }));
}

}  // namespace
}  // namespace akt::test
