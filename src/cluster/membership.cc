// The membership actor ($cluster): cold start and joins, the leader's
// sequence of views, SWIM probing with indirect probes, downing with a
// majority, takeovers, graceful leave, catch-up and merges. One per node;
// everything here runs in its turns (the ping answer alone runs on the I/O
// threads, cluster.cc). docs/design.md, "Cluster membership", argues why
// every member sees the same views.
#include "membership.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include "akt/actor.h"
#include "akt/context.h"
#include "akt/events.h"
#include "akt/logger.h"
#include "akt/messages.h"
#include "akt/scheduler.h"
#include "akt/system.h"
#include "cluster_impl.h"
#include "directory.h"
#include "cycle_clock.h"
#include "remoting_impl.h"

namespace akt {
namespace {

namespace pb = akt::cluster;
using internal::ToNs;

struct ProbeTick {};
struct GossipTick {};
struct JoinTick {};
struct LeaveNow {};
struct LeaveRetry {};
struct IndirectTimeout {
  uint64_t nonce;
};
struct RoundTimeout {
  uint64_t round;
};

std::string Key(const NodeId& n) { return MemberKey(n); }

}  // namespace

NodeId FromProto(const pb::Node& n) { return NodeId{n.system(), n.endpoint(), n.incarnation()}; }

void ToProto(const NodeId& id, pb::Node* n) {
  n->set_system(id.system);
  n->set_endpoint(id.endpoint);
  n->set_incarnation(id.incarnation);
}

Member FromProto(const pb::Member& m) {
  Member out;
  out.node = FromProto(m.node());
  out.roles.assign(m.roles().begin(), m.roles().end());
  out.age = m.age();
  return out;
}

void ToProto(const Member& m, pb::Member* out) {
  ToProto(m.node, out->mutable_node());
  for (const std::string& r : m.roles) out->add_roles(r);
  out->set_age(m.age);
}

namespace {

class MembershipActor final : public Actor {
 public:
  explicit MembershipActor(ClusterImpl* c)
      : c_(c), r_(c->remoting()), opt_(c->options()),
        rng_(c->self().node.incarnation ^ NodeHash(c->self().node)) {}

  Status PreStart(Context& ctx) override {
    self_pid_ = ctx.self();
    // A closed connection to a member makes it probed at once (the only
    // event of the stream this actor wants).
    PID self = ctx.self();
    sub_ = ctx.system().events().Subscribe([self](const Message& m) {
      if (const auto* d = m.As<NodeDisconnected>()) self.Tell(*d).IgnoreError();
    });
    Status reg = opt_.provider->Register(c_->self());
    if (!reg.ok()) return reg;
    join_backoff_ = opt_.join_retry;
    Scheduler& s = ctx.system().scheduler();
    Result<ScheduleRef> probe = s.Schedule(ctx.self(), ProbeTick{}, opt_.probe_interval);
    Result<ScheduleRef> gossip = s.Schedule(ctx.self(), GossipTick{}, opt_.gossip_interval);
    if (!probe.ok()) return probe.status();
    if (!gossip.ok()) return gossip.status();
    probe_timer_ = *probe;
    gossip_timer_ = *gossip;
    JoinAttempt(ctx);
    return Status();
  }

  Status PostStop(Context&) override {
    probe_timer_.Cancel();
    gossip_timer_.Cancel();
    sub_.Unsubscribe();
    return Status();
  }

  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const ProbeTick&) { ProbeNext(ctx); },
              [&](const GossipTick&) { Gossip(ctx); },
              [&](const JoinTick&) { JoinAttempt(ctx); },
              [&](const LeaveNow&) { Leave(ctx); },
              [&](const LeaveRetry&) { Leave(ctx); },
              [&](const IndirectTimeout& t) { IndirectDone(ctx, t.nonce, false, true); },
              [&](const RoundTimeout& t) {
                if (round_ && round_->id == t.round) FinishRound(ctx);
              },
              [&](const NodeDisconnected& d) { OnDisconnected(ctx, d.node); },
              [&](const pb::JoinRequest& m) { OnJoin(ctx, m); },
              [&](const pb::ViewDelta& m) { Accept(ctx, m); },
              [&](const pb::SyncRequest& m) { OnSync(m); },
              [&](const pb::IndirectProbe& m) { OnIndirectProbe(ctx, m); },
              [&](const pb::IndirectResult& m) { IndirectDone(ctx, m.nonce(), m.ok(), false); },
              [&](const pb::DownProposal& m) { OnDownProposal(ctx, m); },
              [&](const pb::LeaveRequest& m) { OnLeaveRequest(ctx, m); });
  }

 private:
  bool member() const { return state_ == MemberState::kUp || state_ == MemberState::kLeaving; }
  const NodeId& me() const { return c_->self().node; }
  bool IsMe(const NodeId& n) const { return n == me(); }
  bool IsLeader() const { return member() && view_.leader() && IsMe(view_.leader()->node); }
  int64_t NowNs() const { return r_->NowNs(); }
  static void Warn(Context& ctx, const std::string& text) {
    ctx.logger().Log(LogLevel::kWarn, text);
  }
  // A message to this actor after `delay` (a stopped actor gets nothing).
  template <typename M>
  static void Later(Context& ctx, M msg, Duration delay) {
    (void)ctx.system().scheduler().ScheduleOnce(ctx.self(), Message(std::move(msg)), delay);
  }

  void Send(const std::string& endpoint, const google::protobuf::Message& m) {
    if (endpoint == me().endpoint) return;
    r_->TellControl(endpoint, m);
  }

  pb::Ping MakePing(const NodeId& target, uint64_t claim_term) const {
    pb::Ping p;
    ToProto(me(), p.mutable_from());
    p.set_target_incarnation(target.incarnation);
    p.set_view_version(view_.version);
    p.set_view_term(view_.term);
    p.set_cluster(opt_.name);
    p.set_claim_term(claim_term);
    p.set_founder(view_.founder);
    return p;
  }

  // Pings `target`; `done` gets the pong, or null when none came in time.
  template <typename F>
  void PingThen(ReceiveContext& ctx, const NodeId& target, uint64_t claim_term, F done) {
    ctx.Request(r_->ControlPid(target.endpoint), Message(MakePing(target, claim_term)),
                opt_.probe_timeout)
        .Then([done = std::move(done)](ReceiveContext& ctx, Result<Message> r) mutable {
          const pb::Pong* pong = r.ok() ? r->As<pb::Pong>() : nullptr;
          done(ctx, pong);
        });
  }

  // ---- joining ----

  void JoinAttempt(Context& ctx) {
    if (state_ != MemberState::kJoining) return;
    ++join_attempts_;
    Result<std::vector<std::string>> peers = opt_.provider->Peers();
    pb::JoinRequest req;
    ToProto(c_->self(), req.mutable_member());
    req.set_cluster(opt_.name);
    if (peers.ok()) {
      for (const std::string& ep : *peers) Send(ep, req);
    } else {
      Warn(ctx, "cluster: discovery failed: " + peers.status().ToString());
    }
    if (join_attempts_ > 1 && !knows_cluster_) TryForm(ctx);
    if (state_ != MemberState::kJoining) return;
    Later(ctx, JoinTick{}, join_backoff_);
    join_backoff_ = std::min(join_backoff_ * 2, opt_.max_join_retry);
  }

  // Cold start: the node with the smallest identity among the ones not in a
  // cluster that heard of each other recently forms it, once they are
  // min_members.
  void TryForm(Context& ctx) {
    int64_t window = ToNs(opt_.max_join_retry) * 3;
    std::string mine = Key(me());
    std::size_t seen = 1;
    for (auto it = joining_seen_.begin(); it != joining_seen_.end();) {
      if (NowNs() - it->second > window) {
        it = joining_seen_.erase(it);
        continue;
      }
      if (it->first < mine) return;  // a smaller one forms it
      ++seen;
      ++it;
    }
    if (seen < static_cast<std::size_t>(std::max(1, opt_.min_members))) return;
    pb::ViewDelta d;
    d.set_cluster(opt_.name);
    d.set_term(1);
    d.set_version(1);
    d.set_founder(NodeHash(me()));
    d.set_next_age(1);
    ToProto(me(), d.mutable_issuer());
    pb::Change* ch = d.add_changes();
    ch->set_kind(pb::Change::JOINED);
    ToProto(c_->self(), ch->mutable_member());
    ToProto(c_->self(), d.add_members());
    d.set_snapshot(true);
    Install(ctx, d);
  }

  void OnJoin(ReceiveContext& ctx, const pb::JoinRequest& req) {
    if (req.cluster() != opt_.name) return;
    const pb::Node& from = req.member().node();
    if (from.endpoint() == me().endpoint && from.incarnation() == me().incarnation) return;
    if (state_ == MemberState::kJoining) {
      if (req.founder() == 0) {
        joining_seen_[Key(FromProto(from))] = NowNs();
      } else {
        knows_cluster_ = true;  // ask that member's cluster to admit us
        pb::JoinRequest mine;
        ToProto(c_->self(), mine.mutable_member());
        mine.set_cluster(opt_.name);
        Send(from.endpoint(), mine);
      }
      return;
    }
    if (!member()) return;
    if (req.founder() != 0 && req.founder() == view_.founder) return;  // one of ours
    if (req.founder() != 0 && req.founder() < view_.founder) {
      // The other cluster wins the merge: ask it to admit this node.
      pb::JoinRequest mine;
      ToProto(c_->self(), mine.mutable_member());
      mine.set_cluster(opt_.name);
      mine.set_founder(view_.founder);
      Send(from.endpoint(), mine);
      return;
    }
    if (!IsLeader()) {
      Send(view_.leader()->node.endpoint, req);
      return;
    }
    Admit(ctx, FromProto(req.member()));
  }

  void Admit(ReceiveContext& ctx, Member m) {
    // A start that left or was removed never comes back (a join request of
    // it may still be in flight): it must restart, as a new incarnation.
    if (removed_.count(Key(m.node)) != 0) return;
    if (const Member* here = view_.Find(m.node)) {
      (void)here;  // it missed its admission: send it the view as it is
      if (!log_.empty()) {
        pb::ViewDelta d = log_.back();
        d.set_snapshot(true);
        Send(m.node.endpoint, d);
      }
      return;
    }
    std::vector<pb::Change> changes;
    if (const Member* old = view_.FindEndpoint(m.node.endpoint)) {
      pb::Change down;
      down.set_kind(pb::Change::DOWN);
      ToProto(*old, down.mutable_member());
      down.set_reason("restarted: a new start of the node joined at its endpoint");
      changes.push_back(std::move(down));
    }
    m.age = view_.next_age;
    pb::Change joined;
    joined.set_kind(pb::Change::JOINED);
    ToProto(m, joined.mutable_member());
    changes.push_back(std::move(joined));
    Issue(ctx, changes, view_.term);
  }

  // ---- the leader's steps ----

  void Issue(Context& ctx, const std::vector<pb::Change>& changes, uint64_t term) {
    View next = view_;
    for (const pb::Change& ch : changes) Step(&next, ch);
    pb::ViewDelta d;
    d.set_cluster(opt_.name);
    d.set_term(term);
    d.set_version(view_.version + 1);
    d.set_founder(view_.founder);
    d.set_next_age(next.next_age);
    ToProto(me(), d.mutable_issuer());
    for (const pb::Change& ch : changes) *d.add_changes() = ch;
    for (const Member& m : next.members) ToProto(m, d.add_members());
    // To every member of the new view, and to the ones it removes.
    for (const Member& m : next.members) Send(m.node.endpoint, d);
    for (const pb::Change& ch : changes) {
      if (ch.kind() != pb::Change::JOINED) Send(ch.member().node().endpoint(), d);
    }
    Accept(ctx, d);
  }

  static void Step(View* v, const pb::Change& ch) {
    Member m = FromProto(ch.member());
    auto& ms = v->members;
    ms.erase(std::remove_if(ms.begin(), ms.end(), [&](const Member& x) { return x.node == m.node; }),
             ms.end());
    if (ch.kind() == pb::Change::JOINED) {
      ms.push_back(m);
      v->next_age = std::max(v->next_age, m.age + 1);
      std::stable_sort(ms.begin(), ms.end(),
                       [](const Member& a, const Member& b) { return a.age < b.age; });
    }
  }

  // ---- receiving views ----

  static bool Older(uint64_t t1, uint64_t v1, uint64_t t2, uint64_t v2) {
    return t1 < t2 || (t1 == t2 && v1 < v2);
  }

  static bool Includes(const pb::ViewDelta& d, const NodeId& n) {
    for (const pb::Member& m : d.members()) {
      if (m.node().endpoint() == n.endpoint && m.node().incarnation() == n.incarnation) return true;
    }
    return false;
  }

  void Accept(Context& ctx, const pb::ViewDelta& d) {
    if (d.cluster() != opt_.name) return;
    if (state_ == MemberState::kJoining) {
      if (Includes(d, me())) Install(ctx, d);
      return;
    }
    if (!member()) return;
    if (d.founder() != view_.founder) {
      // A merge: the cluster with the smaller founder admitted this node.
      if (d.founder() < view_.founder && Includes(d, me())) Install(ctx, d);
      return;
    }
    if (d.term() < c_->promised_term()) return;  // fenced: a newer leader took over
    if (!Older(view_.term, view_.version, d.term(), d.version())) return;  // seen
    if (d.version() == view_.version + 1 && !d.snapshot()) {
      NodeId issuer = FromProto(d.issuer());
      View next = view_;
      for (const pb::Change& ch : d.changes()) Step(&next, ch);
      bool authority = (view_.leader() && view_.leader()->node == issuer) ||
                       (next.leader() && next.leader()->node == issuer);
      if (!authority) return;
      Apply(ctx, d);
      DrainGaps(ctx);
      return;
    }
    if (d.term() > view_.term || d.snapshot()) {
      Install(ctx, d);
      DrainGaps(ctx);
      return;
    }
    // A gap in this term: keep it, ask the sender for what is missing.
    if (gaps_.size() < 64) gaps_.emplace(d.version(), d);
    pb::SyncRequest s;
    ToProto(me(), s.mutable_from());
    s.set_after_version(view_.version);
    Send(d.issuer().endpoint(), s);
  }

  void DrainGaps(Context& ctx) {
    while (!gaps_.empty()) {
      auto it = gaps_.begin();
      if (it->first <= view_.version) {
        gaps_.erase(it);
        continue;
      }
      if (it->first != view_.version + 1) return;
      pb::ViewDelta d = std::move(it->second);
      gaps_.erase(it);
      uint64_t before = view_.version;
      Accept(ctx, d);
      if (view_.version == before) return;
    }
  }

  // One step: the delta's changes are the events, in order.
  void Apply(Context& ctx, const pb::ViewDelta& d) {
    const Member* before = view_.leader();
    NodeId old_leader = before ? before->node : NodeId{};
    bool had_leader = before != nullptr;
    for (const pb::Change& ch : d.changes()) {
      Step(&view_, ch);
      Emit(ctx, ch, d.version());
    }
    Adopt(d);
    log_.push_back(d);
    if (log_.size() > 64) log_.pop_front();
    Changed(ctx, had_leader, old_leader, d);
  }

  // A whole view: the events are the difference from the one held.
  void Install(Context& ctx, const pb::ViewDelta& d) {
    const Member* before = view_.leader();
    NodeId old_leader = before ? before->node : NodeId{};
    bool had_leader = before != nullptr && member();
    View next;
    for (const pb::Member& pm : d.members()) next.members.push_back(FromProto(pm));
    bool left_me = false;
    std::set<std::string> in_next;
    for (const Member& m : next.members) in_next.insert(Key(m.node));
    if (member()) {
      for (const Member& m : view_.members) {
        if (in_next.count(Key(m.node)) != 0) continue;
        pb::Change ch;
        ToProto(m, ch.mutable_member());
        ch.set_kind(pb::Change::DOWN);
        ch.set_reason("removed in a view this node did not see step by step");
        for (const pb::Change& c : d.changes()) {
          if (c.member().node().endpoint() == m.node.endpoint &&
              c.member().node().incarnation() == m.node.incarnation) {
            ch = c;
          }
        }
        if (IsMe(m.node) && ch.kind() == pb::Change::LEFT) left_me = true;
        Emit(ctx, ch, d.version());
      }
    }
    for (const Member& m : next.members) {
      if (member() && view_.Find(m.node) != nullptr) continue;
      pb::Change ch;
      ch.set_kind(pb::Change::JOINED);
      ToProto(m, ch.mutable_member());
      Emit(ctx, ch, d.version());
    }
    (void)left_me;
    view_.members = std::move(next.members);
    Adopt(d);
    log_.clear();
    gaps_.clear();
    pb::ViewDelta kept = d;
    kept.set_snapshot(false);
    log_.push_back(std::move(kept));
    if (state_ == MemberState::kJoining && Includes(d, me())) state_ = MemberState::kUp;
    Changed(ctx, had_leader, old_leader, d);
  }

  void Adopt(const pb::ViewDelta& d) {
    view_.term = d.term();
    view_.version = d.version();
    view_.founder = d.founder();
    view_.next_age = std::max<uint64_t>(d.next_age(), view_.next_age);
  }

  void Emit(Context& ctx, const pb::Change& ch, uint64_t version) {
    Member m = FromProto(ch.member());
    // Its actors are gone for this node: their watchers are told now, with
    // the reason, and its PIDs refuse messages (remoting alone would wait
    // out node_lost_after).
    if (ch.kind() != pb::Change::JOINED && !IsMe(m.node)) {
      bool left = ch.kind() == pb::Change::LEFT;
      r_->LoseNode(m.node,
                   UnavailableError(left ? "the node left the cluster"
                                         : "the cluster declared the node down: " + ch.reason()),
                   left ? TerminationReason::kNodeLeft : TerminationReason::kNodeDown);
    }
    if (ch.kind() != pb::Change::JOINED) {
      if (removed_order_.size() >= kMaxRemembered) {
        removed_.erase(removed_order_.front());
        removed_order_.pop_front();
      }
      if (removed_.insert(Key(m.node)).second) removed_order_.push_back(Key(m.node));
    }
    EventStream& ev = ctx.system().events();
    switch (ch.kind()) {
      case pb::Change::JOINED:
        ev.Publish(NodeJoined{std::move(m), version});
        break;
      case pb::Change::LEFT:
        ev.Publish(NodeLeft{std::move(m), version});
        break;
      default:
        ev.Publish(NodeDown{std::move(m), version, ch.reason()});
        break;
    }
  }

  // After the view moved: the leader event, this node's own removal, the
  // probe round and the leader's pending work.
  void Changed(Context& ctx, bool had_leader, const NodeId& old_leader, const pb::ViewDelta& d) {
    if (view_.Find(me()) == nullptr && member()) {
      bool left = false;
      for (const pb::Change& ch : d.changes()) {
        if (IsMe(FromProto(ch.member().node())) && ch.kind() == pb::Change::LEFT) left = true;
      }
      Removed(ctx, left ? MemberState::kLeft : MemberState::kDown, d.version());
      return;
    }
    const Member* now = view_.leader();
    if (now != nullptr && (!had_leader || now->node != old_leader)) {
      ctx.system().events().Publish(LeaderChanged{*now, view_.version});
    }
    std::set<std::string> keys;
    for (const Member& m : view_.members) keys.insert(Key(m.node));
    for (auto it = suspects_.begin(); it != suspects_.end();) {
      it = keys.count(*it) ? std::next(it) : suspects_.erase(it);
    }
    for (auto it = downs_.begin(); it != downs_.end();) {
      it = keys.count(it->first) ? std::next(it) : downs_.erase(it);
    }
    for (auto it = gone_.begin(); it != gone_.end();) {
      it = keys.count(it->first) ? std::next(it) : gone_.erase(it);
    }
    round_order_.clear();  // the next probe tick shuffles the new view
    c_->Publish(state_, view_);
  }

  void Removed(Context& ctx, MemberState why, uint64_t version) {
    state_ = why;
    if (why == MemberState::kDown) {
      Warn(ctx, "cluster: this node (" + me().ToString() +
                        ") was declared down; it stays out of the cluster until restarted");
    }
    ctx.system().events().Publish(LeaderChanged{std::nullopt, version});
    opt_.provider->Deregister(c_->self()).IgnoreError();
    probe_timer_.Cancel();
    gossip_timer_.Cancel();
    round_.reset();
    c_->Publish(state_, view_);
  }

  // Also after this node left or was removed: its log holds the step that
  // removed it, which a member that missed it needs.
  void OnSync(const pb::SyncRequest& s) {
    if (state_ == MemberState::kJoining || log_.empty()) return;
    const std::string& to = s.from().endpoint();
    bool chain = log_.front().version() <= s.after_version() + 1;
    if (chain) {
      for (const pb::ViewDelta& d : log_) {
        if (d.version() > s.after_version()) Send(to, d);
      }
      return;
    }
    pb::ViewDelta d = log_.back();
    d.set_snapshot(true);
    Send(to, d);
  }

  // ---- probing ----

  void ProbeNext(ReceiveContext& ctx) {
    if (!member()) return;
    if (round_pos_ >= round_order_.size()) {
      round_order_.clear();
      for (const Member& m : view_.members) {
        if (!IsMe(m.node)) round_order_.push_back(m.node);
      }
      std::shuffle(round_order_.begin(), round_order_.end(), rng_);
      round_pos_ = 0;
      if (round_order_.empty()) return;
    }
    Probe(ctx, round_order_[round_pos_++]);
  }

  void OnDisconnected(ReceiveContext& ctx, const NodeId& node) {
    if (!member()) return;
    if (const Member* m = view_.Find(node)) Probe(ctx, m->node);
  }

  void Probe(ReceiveContext& ctx, const NodeId& target) {
    std::string key = Key(target);
    if (!probing_.insert(key).second) return;
    PingThen(ctx, target, 0, [this, target, key](ReceiveContext& ctx, const pb::Pong* pong) {
      if (pong != nullptr && pong->status() == pb::Pong::OK) {
        Alive(target, pong);
        return;
      }
      if (pong != nullptr && pong->status() == pb::Pong::NOT_A_MEMBER) {
        probing_.erase(key);
        if (member()) Removed(ctx, MemberState::kDown, view_.version);
        return;
      }
      if (pong != nullptr && pong->status() == pb::Pong::OTHER_CLUSTER) {
        // A merge under way: it answers, as a member of the other cluster.
        // The one with the larger founder gets this view (it is moving).
        Alive(target, nullptr);
        if (pong->founder() > view_.founder && !log_.empty()) {
          pb::ViewDelta d = log_.back();
          d.set_snapshot(true);
          Send(target.endpoint, d);
        }
        return;
      }
      if (pong != nullptr && pong->status() == pb::Pong::GONE) {
        // It left or was removed in a view this node has not seen yet: ask
        // it for the steps; after a few such answers, it is down anyway.
        if (++gone_[key] < 3) {
          probing_.erase(key);
          pb::SyncRequest s;
          ToProto(me(), s.mutable_from());
          s.set_after_version(view_.version);
          Send(target.endpoint, s);
          return;
        }
        Confirmed(ctx, target, "it is no longer a member");
        return;
      }
      if (pong != nullptr) {  // another start answers at its endpoint: no doubt left
        Confirmed(ctx, target, "a new start of the node answers at its endpoint");
        return;
      }
      StartIndirect(ctx, target);
    });
  }

  // `pong`: the target's own answer (null: a helper reached it).
  void Alive(const NodeId& target, const pb::Pong* pong) {
    std::string key = Key(target);
    if (pong != nullptr) c_->directory().NoteLoad(target.endpoint, pong->load());
    probing_.erase(key);
    suspects_.erase(key);
    gone_.erase(key);
    if (member() && pong != nullptr && pong->founder() == view_.founder &&
        Older(view_.term, view_.version, pong->view_term(), pong->view_version())) {
      pb::SyncRequest s;
      ToProto(me(), s.mutable_from());
      s.set_after_version(view_.version);
      Send(target.endpoint, s);
    }
  }

  void StartIndirect(ReceiveContext& ctx, const NodeId& target) {
    std::vector<NodeId> helpers;
    for (const Member& m : view_.members) {
      if (!IsMe(m.node) && m.node != target && suspects_.count(Key(m.node)) == 0) {
        helpers.push_back(m.node);
      }
    }
    std::shuffle(helpers.begin(), helpers.end(), rng_);
    if (helpers.size() > static_cast<std::size_t>(std::max(0, opt_.indirect_probes))) {
      helpers.resize(static_cast<std::size_t>(std::max(0, opt_.indirect_probes)));
    }
    if (helpers.empty()) {
      Confirmed(ctx, target, "no answer to a direct probe");
      return;
    }
    uint64_t nonce = ++nonce_;
    indirect_[nonce] = Indirect{target, static_cast<int>(helpers.size())};
    pb::IndirectProbe req;
    ToProto(me(), req.mutable_from());
    ToProto(target, req.mutable_target());
    req.set_nonce(nonce);
    for (const NodeId& h : helpers) Send(h.endpoint, req);
    Later(ctx, IndirectTimeout{nonce}, opt_.probe_timeout * 2);
  }

  void OnIndirectProbe(ReceiveContext& ctx, const pb::IndirectProbe& req) {
    if (!member()) return;
    NodeId target = FromProto(req.target());
    std::string to = req.from().endpoint();
    uint64_t nonce = req.nonce();
    PingThen(ctx, target, 0, [this, to, nonce, target](ReceiveContext&, const pb::Pong* pong) {
      pb::IndirectResult res;
      res.set_nonce(nonce);
      res.set_ok(pong != nullptr && pong->status() == pb::Pong::OK);
      ToProto(target, res.mutable_target());
      Send(to, res);
    });
  }

  void IndirectDone(ReceiveContext& ctx, uint64_t nonce, bool ok, bool timeout) {
    auto it = indirect_.find(nonce);
    if (it == indirect_.end()) return;
    NodeId target = it->second.target;
    if (ok) {
      indirect_.erase(it);
      Alive(target, nullptr);
      return;
    }
    if (!timeout && --it->second.waiting > 0) return;
    indirect_.erase(it);
    Confirmed(ctx, target, "no answer to direct and indirect probes");
  }

  // This node is sure `target` failed: the leader (or the member taking
  // over from a failed leader) is told.
  void Confirmed(ReceiveContext& ctx, const NodeId& target, const std::string& reason) {
    std::string key = Key(target);
    probing_.erase(key);
    if (!member() || view_.Find(target) == nullptr) return;
    suspects_.insert(key);
    const Member* acting = Acting(target);
    if (acting == nullptr) return;
    if (IsMe(acting->node)) {
      Consider(ctx, target, reason, /*checked=*/true);
      return;
    }
    pb::DownProposal p;
    ToProto(me(), p.mutable_from());
    ToProto(target, p.mutable_suspect());
    p.set_reason(reason);
    Send(acting->node.endpoint, p);
  }

  // The oldest member this node does not take for failed (nor `also`).
  const Member* Acting(const NodeId& also) const {
    for (const Member& m : view_.members) {
      if (m.node == also || suspects_.count(Key(m.node)) != 0) continue;
      return &m;
    }
    return nullptr;
  }

  void OnDownProposal(ReceiveContext& ctx, const pb::DownProposal& p) {
    if (!member()) return;
    NodeId suspect = FromProto(p.suspect());
    if (view_.Find(suspect) == nullptr) return;
    const Member* acting = Acting(suspect);
    if (acting == nullptr || !IsMe(acting->node)) return;
    Consider(ctx, suspect, p.reason(), /*checked=*/false);
  }

  // The acting leader: checks the suspect itself unless it already did,
  // then downs it in a majority round.
  void Consider(ReceiveContext& ctx, const NodeId& suspect, const std::string& reason,
                bool checked) {
    std::string key = Key(suspect);
    if (downs_.count(key) != 0) return;
    if (checked) {
      downs_.emplace(key, std::make_pair(suspect, reason));
      StartRound(ctx);
      return;
    }
    if (!checking_.insert(key).second) return;
    PingThen(ctx, suspect, 0,
             [this, suspect, reason, key](ReceiveContext& ctx, const pb::Pong* pong) {
               checking_.erase(key);
               if (pong != nullptr && pong->status() == pb::Pong::OK) return;  // it answers me
               if (!member() || view_.Find(suspect) == nullptr) return;
               suspects_.insert(key);
               downs_.emplace(key, std::make_pair(suspect, reason));
               StartRound(ctx);
             });
  }

  // A majority round: every other member not being downed is pinged (with
  // a term claim when this node takes over from the leader); the downs are
  // issued only if this node, with the members that answered, is a majority
  // of the view (half, when the view's oldest member is among them).
  void StartRound(ReceiveContext& ctx) {
    if (round_ || downs_.empty() || !member()) return;
    auto round = std::make_unique<Round>();
    round->id = ++round_ids_;
    round->downs = downs_;
    bool takeover = !IsLeader();
    round->claim = takeover ? std::max(view_.term, c_->promised_term()) + 1 : 0;
    if (round->claim != 0 && !c_->Promise(round->claim, Key(me()))) return;
    for (const Member& m : view_.members) {
      if (IsMe(m.node) || round->downs.count(Key(m.node)) != 0) continue;
      round->waiting.insert(Key(m.node));
    }
    round_ = std::move(round);
    if (round_->waiting.empty()) {
      FinishRound(ctx);
      return;
    }
    uint64_t id = round_->id;
    uint64_t claim = round_->claim;
    for (const Member& m : view_.members) {
      std::string key = Key(m.node);
      if (round_->waiting.count(key) == 0) continue;
      PingThen(ctx, m.node, claim, [this, id, key, claim](ReceiveContext& ctx, const pb::Pong* pong) {
        if (!round_ || round_->id != id) return;
        bool yes = pong != nullptr && pong->status() == pb::Pong::OK &&
                   (claim == 0 || pong->granted());
        if (yes) round_->acks.insert(key);
        round_->waiting.erase(key);
        if (round_->waiting.empty()) FinishRound(ctx);
      });
    }
    Later(ctx, RoundTimeout{id}, opt_.probe_timeout + opt_.probe_timeout / 2);
  }

  void FinishRound(ReceiveContext& ctx) {
    std::unique_ptr<Round> round = std::move(round_);
    if (!member()) return;
    std::size_t n = view_.members.size();
    std::size_t votes = round->acks.size() + 1;
    const Member* oldest = view_.leader();
    bool oldest_here = oldest != nullptr && round->downs.count(Key(oldest->node)) == 0 &&
                       (IsMe(oldest->node) || round->acks.count(Key(oldest->node)) != 0);
    bool majority = votes * 2 > n || (votes * 2 == n && oldest_here);
    for (const auto& [key, down] : round->downs) downs_.erase(key);
    if (!majority) {
      Warn(ctx, "cluster: " + std::to_string(votes) + " of " + std::to_string(n) +
                        " members answer: no majority to declare a node down");
      return;
    }
    std::vector<pb::Change> changes;
    for (const auto& [key, down] : round->downs) {
      const Member* m = view_.Find(down.first);
      if (m == nullptr) continue;
      pb::Change ch;
      ch.set_kind(pb::Change::DOWN);
      ToProto(*m, ch.mutable_member());
      ch.set_reason(down.second);
      changes.push_back(std::move(ch));
    }
    if (!changes.empty()) Issue(ctx, changes, round->claim != 0 ? round->claim : view_.term);
    StartRound(ctx);  // what was confirmed meanwhile
  }

  // ---- leaving, gossip ----

  void Leave(ReceiveContext& ctx) {
    if (state_ == MemberState::kJoining) {
      Removed(ctx, MemberState::kLeft, view_.version);
      return;
    }
    if (!member()) return;
    state_ = MemberState::kLeaving;
    c_->Publish(state_, view_);
    if (IsLeader()) {
      pb::Change ch;
      ch.set_kind(pb::Change::LEFT);
      ToProto(*view_.Find(me()), ch.mutable_member());
      Issue(ctx, {ch}, view_.term);
      return;
    }
    pb::LeaveRequest req;
    ToProto(me(), req.mutable_node());
    Send(view_.leader()->node.endpoint, req);
    Later(ctx, LeaveRetry{}, opt_.probe_interval);
  }

  void OnLeaveRequest(ReceiveContext& ctx, const pb::LeaveRequest& req) {
    if (!member()) return;
    const Member* m = view_.Find(FromProto(req.node()));
    if (m == nullptr) return;
    if (!IsLeader()) {
      Send(view_.leader()->node.endpoint, req);
      return;
    }
    pb::Change ch;
    ch.set_kind(pb::Change::LEFT);
    ToProto(*m, ch.mutable_member());
    Issue(ctx, {ch}, view_.term);
  }

  void Gossip(ReceiveContext& ctx) {
    if (!member()) return;
    c_->directory().Repair();  // records lost with a connection are asked for again
    std::vector<const Member*> others;
    for (const Member& m : view_.members) {
      if (!IsMe(m.node)) others.push_back(&m);
    }
    if (!others.empty() && !log_.empty()) {
      std::uniform_int_distribution<std::size_t> pick(0, others.size() - 1);
      Send(others[pick(rng_)]->node.endpoint, log_.back());
    }
    // Discovery's endpoints outside the view: another cluster of the same
    // name (two halves started apart) merges into the one with the
    // smaller founder.
    Result<std::vector<std::string>> peers = opt_.provider->Peers();
    if (!peers.ok()) return;
    pb::JoinRequest req;
    ToProto(c_->self(), req.mutable_member());
    req.set_cluster(opt_.name);
    req.set_founder(view_.founder);
    for (const std::string& ep : *peers) {
      if (view_.FindEndpoint(ep) == nullptr) Send(ep, req);
    }
  }

  struct Indirect {
    NodeId target;
    int waiting = 0;
  };
  struct Round {
    uint64_t id = 0;
    uint64_t claim = 0;
    std::map<std::string, std::pair<NodeId, std::string>> downs;
    std::set<std::string> waiting, acks;
  };

  ClusterImpl* c_;
  RemotingImpl* r_;
  const ClusterOptions& opt_;
  std::mt19937_64 rng_;
  PID self_pid_;
  Subscription sub_;
  ScheduleRef probe_timer_, gossip_timer_;

  MemberState state_ = MemberState::kJoining;
  View view_;
  std::deque<pb::ViewDelta> log_;          // the steps applied, oldest first (at most 64)
  std::map<uint64_t, pb::ViewDelta> gaps_;  // later steps waiting for a missing one

  // Joining.
  Duration join_backoff_{};
  int join_attempts_ = 0;
  bool knows_cluster_ = false;
  std::map<std::string, int64_t> joining_seen_;  // key -> when last heard

  // Probing.
  std::vector<NodeId> round_order_;
  std::size_t round_pos_ = 0;
  uint64_t nonce_ = 0;
  std::set<std::string> probing_;
  std::unordered_map<uint64_t, Indirect> indirect_;
  std::set<std::string> suspects_;  // failed by this node's probes
  std::map<std::string, int> gone_;  // "no longer a member" answers, per member
  // Starts that left or were removed (the newest kMaxRemembered).
  static constexpr std::size_t kMaxRemembered = 4096;
  std::set<std::string> removed_;
  std::deque<std::string> removed_order_;

  // Acting leader.
  std::set<std::string> checking_;
  std::map<std::string, std::pair<NodeId, std::string>> downs_;
  std::unique_ptr<Round> round_;
  uint64_t round_ids_ = 0;
};

}  // namespace

ActorFactory MembershipActorFactory(ClusterImpl* cluster) {
  return [cluster]() -> std::unique_ptr<Actor> { return std::make_unique<MembershipActor>(cluster); };
}

Message LeaveMessage() { return Message(LeaveNow{}); }

}  // namespace akt
