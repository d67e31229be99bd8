// Grains hosted by another actor system: addressed by identity, activated
// there on demand; grains of the local node never touch the network.
#include "remote_fixture.h"

namespace akt::test {
namespace {

using RemoteGrains = TwoNodes;

GrainIdentity Gid(const std::string& kind, const std::string& name) {
  return *GrainIdentity::Make(kind, name);
}

TEST_F(RemoteGrains, TellAndAskAGrainOnAnotherNodeActivatesItThere) {
  GrainIdentity id = Gid("pcounter", "acc-1");
  EXPECT_TRUE(b_.system->ActiveGrains().empty());
  for (int i = 0; i < 100; ++i) {
    akt::test::Add add;
    add.set_amount(2);
    ASSERT_TRUE(a_.remoting->TellGrain(b_.remoting->endpoint(), id, add).ok());
  }
  Result<Message> r = a_.remoting->AskGrain(b_.remoting->endpoint(), id, akt::test::GetTotal(), 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_NE(r->As<akt::test::Total>(), nullptr);
  EXPECT_EQ(r->As<akt::test::Total>()->value(), 200);
  ASSERT_EQ(b_.system->ActiveGrains().size(), 1u);  // activated on beta
  EXPECT_TRUE(a_.system->ActiveGrains().empty());   // not on alpha
  // NoErr acknowledges an ask across processes too.
  akt::test::Add add;
  add.set_amount(1);
  EXPECT_TRUE(a_.remoting->AskGrain(b_.remoting->endpoint(), id, add, 5s).ok());
  // Unknown kinds are reported.
  Result<PID> none = a_.remoting->GrainOf(b_.remoting->endpoint(), Gid("nokind", "x"));
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
}

TEST_F(RemoteGrains, ARemoteGrainPidSurvivesDeactivation) {
  GrainIdentity id = Gid("pbrief", "dev-7");
  Result<PID> pid = a_.remoting->GrainOf(b_.remoting->endpoint(), id);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  EXPECT_TRUE(Remoting::IsRemote(*pid));
  EXPECT_NE(pid->Address().find("grain:pbrief/dev-7"), std::string::npos) << pid->Address();
  ASSERT_TRUE(pid->Ask<akt::test::Pong>(MakePing(1), 5s).ok());
  EXPECT_TRUE(WaitUntil([&] { return b_.system->ActiveGrains().empty(); }, 10000ms));
  // Same PID, next message: beta activates the grain again.
  Result<akt::test::Pong> again = pid->Ask<akt::test::Pong>(MakePing(2), 5s);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->n(), 2);
  EXPECT_EQ(again->text(), "pbrief/dev-7");
  // (Its reply above came from a new activation; it may deactivate again
  // at any time, so its presence is not asserted.)
}

TEST_F(RemoteGrains, ALocalGrainIsReachedWithoutTheNetwork) {
  GrainIdentity id = Gid("pcounter", "local-1");
  RemotingStats before = a_.remoting->Stats();
  akt::test::Add add;
  add.set_amount(5);
  ASSERT_TRUE(a_.remoting->TellGrain(a_.remoting->endpoint(), id, add).ok());
  Result<Message> r = a_.remoting->AskGrain(a_.remoting->endpoint(), id, akt::test::GetTotal(), 5s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->As<akt::test::Total>()->value(), 5);
  Result<PID> pid = a_.remoting->GrainOf(a_.remoting->endpoint(), id);
  ASSERT_TRUE(pid.ok());
  EXPECT_FALSE(Remoting::IsRemote(*pid));
  RemotingStats after = a_.remoting->Stats();
  EXPECT_EQ(after.frames_sent, before.frames_sent);
  EXPECT_EQ(after.bytes_sent, before.bytes_sent);
  EXPECT_EQ(a_.system->ActiveGrains().size(), 1u);
}

}  // namespace
}  // namespace akt::test
