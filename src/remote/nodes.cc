// Node identity: which nodes this one is connected to, which came back and
// which are lost (docs/design.md, "Nodes"). A node is known by its endpoint
// and incarnation; the connections to it (either way) are counted, and the
// events NodeConnected / NodeDisconnected / NodeLost follow the count.
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <random>

#include "actor_cell.h"
#include "cycle_clock.h"
#include "internal/access.h"
#include "remoting_impl.h"

namespace akt {

using internal::ActorCell;
using internal::SteadyNowNs;
using remote::Connection;

namespace {

std::string NodeKey(const NodeId& id) {
  char inc[17];
  std::snprintf(inc, sizeof inc, "%016" PRIx64, id.incarnation);
  return id.endpoint + "#" + inc;
}

}  // namespace

std::string NodeId::ToString() const {
  char inc[17];
  std::snprintf(inc, sizeof inc, "%016" PRIx64, incarnation);
  return system + "@" + endpoint + "#" + inc;
}

uint64_t NewIncarnation() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<uint64_t>(SteadyNowNs()));
  uint64_t v = 0;
  while (v == 0) v = gen();
  return v;
}

const NodeId& Remoting::self() const { return impl_->self_node(); }
std::vector<NodeId> Remoting::ConnectedNodes() const { return impl_->ConnectedNodes(); }

std::vector<NodeId> RemotingImpl::ConnectedNodes() const {
  std::vector<NodeId> out;
  std::lock_guard<std::mutex> lock(nodes_mu_);
  for (const auto& [key, n] : nodes_) {
    if (n.conns > 0 && !n.lost) out.push_back(n.id);
  }
  return out;
}

void RemotingImpl::NodeUp(Connection* c) {
  const NodeId& id = c->peer_node();
  if (id.endpoint == endpoint_ && id.incarnation == self_.incarnation) return;  // ourselves
  bool connected = false;
  for (;;) {
    std::optional<NodeId> replaced;
    {
      std::lock_guard<std::mutex> lock(nodes_mu_);
      if (nodes_stop_ || c->closed()) return;  // NodeDown will not come: count nothing
      auto known = nodes_.find(NodeKey(id));
      if (known != nodes_.end() && known->second.lost) {
        // Lost is final for an incarnation (its PIDs were refused, its
        // watchers told): a connection from it is counted, nothing more.
        c->node_reported_ = true;
        known->second.conns++;
        return;
      }
      // An older live incarnation at the endpoint is lost first, so its
      // NodeLost comes before this one's NodeConnected.
      auto cur = id.incarnation != 0 ? current_.find(id.endpoint) : current_.end();
      if (cur != current_.end() && cur->second != id.incarnation) {
        auto old = nodes_.find(NodeKey(NodeId{id.system, id.endpoint, cur->second}));
        if (old != nodes_.end() && !old->second.lost) replaced = old->second.id;
      }
      if (!replaced) {
        if (id.incarnation != 0) current_[id.endpoint] = id.incarnation;
        c->node_reported_ = true;
        NodeEntry& n = nodes_[NodeKey(id)];
        n.id = id;
        connected = n.conns++ == 0;
        n.down_since_ns = 0;
        if (connected) QueueNodeEvent(NodeConnected{id});
      }
    }
    if (!replaced) break;
    // Marks it lost (and no longer current): the next turn counts this one.
    LoseNode(*replaced, UnavailableError("node " + replaced->ToString() + " was replaced by " +
                                         id.ToString() + " at the same endpoint"));
  }
  if (!connected) return;
  // A start that dialed us is up: answers to it need not wait out the
  // backoff of the dials that failed while it was down (a restarted node
  // would otherwise miss its admission).
  if (c->inbound()) ForgetBackoff(id.endpoint);
  PublishNodeEvents();
}

void RemotingImpl::PublishNodeEvents() {
  std::unique_lock<std::mutex> lock(nodes_mu_);
  if (node_events_publishing_) return;  // that thread publishes ours too
  node_events_publishing_ = true;
  while (!node_events_.empty()) {
    std::vector<NodeEvent> batch;
    batch.swap(node_events_);
    lock.unlock();
    for (NodeEvent& e : batch) {
      std::visit([this](auto& ev) { sys_->events().Publish(std::move(ev)); }, e);
    }
    lock.lock();
  }
  node_events_publishing_ = false;
}

void RemotingImpl::NodeDown(Connection* c, const Status& why) {
  NodeId id;
  {
    std::lock_guard<std::mutex> lock(nodes_mu_);
    if (!c->node_reported_) return;
    c->node_reported_ = false;
    id = c->peer_node();
    auto it = nodes_.find(NodeKey(id));
    if (it == nodes_.end()) return;
    NodeEntry& n = it->second;
    if (--n.conns > 0) return;
    n.reason = why;
    if (n.lost) {
      nodes_.erase(it);  // nothing more to say about it
      return;
    }
    n.down_since_ns = NowNs();
    QueueNodeEvent(NodeDisconnected{id, why});
  }
  nodes_cv_.notify_all();
  PublishNodeEvents();
}

Duration RemotingImpl::NodesPeriod() const {
  return std::clamp<Duration>(options_.node_lost_after / 8, std::chrono::milliseconds(5),
                              std::chrono::milliseconds(250));
}

void RemotingImpl::NodesLoop() {
  // Dialing blocks for up to connect_timeout, so the keeper runs on its own
  // thread, never on an I/O loop (on a simulated transport: on the sweep).
  const Duration period = NodesPeriod();
  std::unique_lock<std::mutex> lock(nodes_mu_);
  while (!nodes_stop_) {
    nodes_cv_.wait_for(lock, period);
    if (nodes_stop_) break;
    lock.unlock();
    NodesCheck(NowNs());
    lock.lock();
  }
}

void RemotingImpl::NodesCheck(int64_t now) {
  // Every node whose last connection closed is dialed again (a connection
  // that comes up calls NodeUp and ends its down time); one not back within
  // node_lost_after is lost.
  const int64_t lost_after = internal::ToNs(options_.node_lost_after);
  std::vector<NodeId> lost;
  std::vector<NodeId> redial;
  {
    std::lock_guard<std::mutex> lock(nodes_mu_);
    for (auto& [key, n] : nodes_) {
      if (n.lost || n.conns > 0 || n.down_since_ns == 0) continue;
      if (now - n.down_since_ns >= lost_after) {
        lost.push_back(n.id);
      } else {
        redial.push_back(n.id);
      }
    }
  }
  for (const NodeId& id : lost) {
    LoseNode(id, UnavailableError("node " + id.ToString() + " was not reachable for " +
                                  std::to_string(lost_after / 1000000) + " ms"));
  }
  for (const NodeId& id : redial) {
    if (shut_.load()) break;
    Result<Connection*> c = ConnectCached(id.endpoint);  // NodeUp on success
    if (c.ok()) (*c)->Release();
  }
}

void RemotingImpl::LoseNode(const NodeId& id, const Status& why, TerminationReason reason) {
  {
    std::lock_guard<std::mutex> lock(nodes_mu_);
    auto it = nodes_.find(NodeKey(id));
    if (it == nodes_.end() || it->second.lost) return;
    it->second.lost = true;
    it->second.reason = why;
    if (it->second.conns == 0) nodes_.erase(it);
    auto cur = current_.find(id.endpoint);
    if (cur != current_.end() && cur->second == id.incarnation) current_.erase(cur);
  }
  // Its PIDs: refused from now on, their watchers told. A PID of a
  // version-1 node (incarnation 0) is let go without refusing: nothing
  // tells one start of such a node from the next.
  std::vector<PID> gone;
  {
    std::lock_guard<std::mutex> lock(proxies_mu_);
    for (auto it = proxies_.begin(); it != proxies_.end();) {
      auto* ref = static_cast<ProxyData*>(internal::CellOf(it->second)->remote_data().get());
      if (ref->binds && ref->endpoint == id.endpoint &&
          ref->incarnation.load(std::memory_order_acquire) == id.incarnation) {
        if (id.incarnation != 0) ref->lost.store(true, std::memory_order_release);
        gone.push_back(std::move(it->second));
        it = proxies_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const PID& pid : gone) {
    internal::CellOf(pid)->ProxyNodeLost(reason);
    internal::CellOf(pid)
        ->RetireProxy();  // out of the map: nothing else would break its self-reference
  }
  {
    std::lock_guard<std::mutex> lock(nodes_mu_);
    QueueNodeEvent(NodeLost{id, why});
  }
  PublishNodeEvents();
}

}  // namespace akt
