// Remote death watch. A watcher on node W watching an actor named N on node
// T: W sends T a WatchRequest{N} (a TELL to $remote) each time a watcher is
// added to its proxy; T's watch relay watches N locally and, when N
// terminates (or at once when there is no N), sends W a TerminatedNotice{N};
// W ends the watches of its proxy with Terminated{kStopped}. Losing a node
// ends them with kNodeLost instead (nodes.cc). See docs/design.md,
// "Remote watch".
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "actor_cell.h"
#include "akt/actor.h"
#include "akt/context.h"
#include "akt/messages.h"
#include "akt/remote/control.pb.h"
#include "internal/access.h"
#include "remoting_impl.h"

namespace akt {

using internal::ActorCell;
using remote::Connection;

namespace {

// To the relay: node `endpoint` wants to hear when `name` terminates, or
// no longer does.
struct WatchFor {
  std::string name;
  std::string endpoint;
};
struct UnwatchFor {
  std::string name;
  std::string endpoint;
};

class WatchRelay final : public Actor {
 public:
  explicit WatchRelay(RemotingImpl* remoting) : remoting_(remoting) {}

  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](const WatchFor& w) {
          auto it = watched_.find(w.name);
          if (it == watched_.end()) {
            Result<PID> target = ctx.system().ActorOf(w.name);
            if (!target.ok() || !target->IsRunning()) {
              remoting_->SendTerminatedNotice(w.endpoint, w.name);  // nothing to watch
              return;
            }
            it = watched_.emplace(w.name, Entry{*target, {}}).first;
            ctx.Watch(*target);
          }
          it->second.endpoints.insert(w.endpoint);
        },
        [&](const UnwatchFor& u) {
          auto it = watched_.find(u.name);
          if (it == watched_.end()) return;
          it->second.endpoints.erase(u.endpoint);
          if (it->second.endpoints.empty()) {
            ctx.Unwatch(it->second.pid);
            watched_.erase(it);
          }
        },
        [&](const Terminated& t) {
          auto it = watched_.find(std::string(t.actor.Name()));
          if (it == watched_.end() || it->second.pid != t.actor) return;
          for (const std::string& ep : it->second.endpoints) {
            remoting_->SendTerminatedNotice(ep, it->first);
          }
          watched_.erase(it);
        });
  }

 private:
  struct Entry {
    PID pid;
    std::set<std::string> endpoints;
  };
  RemotingImpl* remoting_;
  std::unordered_map<std::string, Entry> watched_;
};

}  // namespace

Status RemotingImpl::StartWatchRelay() {
  RemotingImpl* self = this;
  Result<PID> relay = sys_->Spawn(
      nullptr, std::string(),
      [self]() -> std::unique_ptr<Actor> { return std::make_unique<WatchRelay>(self); },
      SpawnOptions(), /*validate_name=*/false);
  if (!relay.ok()) return relay.status();
  watch_relay_ = *relay;
  return Status();
}

void RemotingImpl::Watched(ActorCell* proxy) {
  auto* ref = static_cast<ProxyData*>(proxy->remote_data().get());
  remote::WatchRequest req;
  req.set_name(ref->name);
  TellControl(ref->endpoint, req);
}

void RemotingImpl::Unwatched(ActorCell* proxy) {
  auto* ref = static_cast<ProxyData*>(proxy->remote_data().get());
  remote::UnwatchRequest req;
  req.set_name(ref->name);
  TellControl(ref->endpoint, req);
}

void RemotingImpl::SendTerminatedNotice(const std::string& endpoint, const std::string& name) {
  remote::TerminatedNotice notice;
  notice.set_name(name);
  TellControl(endpoint, notice);
}

ControlAnswer RemotingImpl::ServeWatch(Connection* c, const Message& m) {
  // The notice goes to the node the request came from: it must say who it
  // is (wire version 2).
  if (!c->node_known() || c->peer_node().incarnation == 0) {
    return FailedPreconditionError(
        "a remote watch needs wire version 2 (the watcher's NODE frame names where the "
        "notice goes)");
  }
  const std::string& endpoint = c->peer_node().endpoint;
  Status told =
      m.As<remote::WatchRequest>() != nullptr
          ? watch_relay_.Tell(WatchFor{m.As<remote::WatchRequest>()->name(), endpoint})
          : watch_relay_.Tell(UnwatchFor{m.As<remote::UnwatchRequest>()->name(), endpoint});
  if (!told.ok()) return told;
  return ControlAnswer(std::make_unique<remote::Ack>());
}

ControlAnswer RemotingImpl::ServeTerminatedNotice(Connection* c, const Message& m) {
  const auto& n = *m.As<remote::TerminatedNotice>();
  if (c->node_known()) {  // else: cannot tell whose actor it was
    const NodeId& from = c->peer_node();
    std::string address = "akt://" + from.system + "@" + from.endpoint + "/" + n.name();
    PID proxy;
    {
      std::lock_guard<std::mutex> lock(proxies_mu_);
      auto it = proxies_.find(address);
      if (it != proxies_.end()) proxy = it->second;
    }
    if (proxy) {
      auto* ref = static_cast<ProxyData*>(internal::CellOf(proxy)->remote_data().get());
      uint64_t bound = ref->incarnation.load(std::memory_order_acquire);
      if (bound == 0 || bound == from.incarnation) internal::CellOf(proxy)->ProxyActorStopped();
    }
  }
  return ControlAnswer(std::make_unique<remote::Ack>());
}

void RemotingImpl::TellControl(const std::string& endpoint, const google::protobuf::Message& req) {
  if (shut_.load(std::memory_order_acquire)) return;
  Result<Connection*> rc = ConnectCached(endpoint);
  if (!rc.ok()) return;  // the node is unreachable: node loss ends the watches
  Connection* c = *rc;
  remote::wire::Frame f;
  f.kind = remote::wire::Kind::kTell;  // one-way: a failure comes back as an ERROR, logged
  f.type = req.GetDescriptor()->full_name();
  f.target = remote::wire::kControlTarget;
  if (c->Enqueue(f, &req, {}).ok()) c->FlushSoon();
  c->Release();
}

}  // namespace akt
