// The cluster layer of one actor system (internal): the service in the
// kCluster slot, the membership actor's shared state, and the control
// handlers remoting calls on its I/O threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "akt/cluster.h"
#include "akt/pid.h"
#include "services.h"
#include "system_impl.h"

namespace akt {

class RemotingImpl;

namespace cluster {
class Ping;
class Pong;
}  // namespace cluster

// The view a member holds: version `version` of term `term`, members
// oldest first.
struct View {
  uint64_t term = 0;
  uint64_t version = 0;
  uint64_t founder = 0;  // hash of the founding node: which cluster this is
  uint64_t next_age = 0;
  std::vector<Member> members;

  const Member* Find(const NodeId& node) const;
  const Member* FindEndpoint(const std::string& endpoint) const;
  const Member* leader() const { return members.empty() ? nullptr : &members.front(); }
};

// Hash of a node's identity (the founder of a cluster is compared by it).
uint64_t NodeHash(const NodeId& node);

class Directory;

class ClusterImpl final : public internal::NameHooks {
 public:
  ClusterImpl(ActorSystem& system, RemotingImpl* remoting, ClusterOptions options);
  ~ClusterImpl() override;

  Status Start();
  Cluster* facade() { return &facade_; }
  const ClusterOptions& options() const { return options_; }
  RemotingImpl* remoting() const { return remoting_; }
  ActorSystem& system() { return system_; }
  const Member& self() const { return self_; }

  // What the membership actor publishes for the readers (Members(), the
  // ping handler on the I/O threads).
  void Publish(MemberState state, const View& view);
  MemberState state() const;
  View view() const;
  // The I/O thread's answer to a ping (see membership.proto).
  void AnswerPing(const cluster::Ping& ping, cluster::Pong* pong);
  // Fencing: while a member taking over from the leader collects promises
  // for its term, views of a lower term are refused. A promise lapses after
  // a few probe timeouts (the takeover failed); a view of the new term
  // makes it moot. Promise: this node's own (it is the one taking over).
  uint64_t promised_term() const;
  bool Promise(uint64_t term, const std::string& who);

  Status WaitState(bool (*done)(MemberState), Duration timeout);
  void StartLeave();

  void OnActorsStopped() override;

  // NameHooks (the directory of top-level names, directory.cc).
  Status ClaimName(const std::string& name) override;
  void ReleaseName(const std::string& name) override;
  Result<PID> ResolveName(std::string_view name) override;
  Directory& directory() { return *directory_; }
  Result<PID> SpawnOn(std::string_view kind, std::string_view name, const SpawnOnOptions& o);

 private:
  ActorSystem& system_;
  RemotingImpl* remoting_;
  ClusterOptions options_;
  Member self_;
  Cluster facade_;
  PID actor_;
  std::unique_ptr<Directory> directory_;
  std::atomic<uint64_t> round_robin_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  MemberState state_ = MemberState::kJoining;
  View view_;
  uint64_t promised_term_ = 0;
  std::string promised_to_;      // endpoint#incarnation of the claimant
  int64_t promise_until_ns_ = 0;
  bool PromiseLocked(uint64_t term, const std::string& who);
};

}  // namespace akt
