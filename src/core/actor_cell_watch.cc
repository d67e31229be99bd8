// ActorCell: death watch (local and through proxies), and the proxy cells
// that stand for remote actors.
#include <algorithm>

#include "actor_cell.h"
#include "akt/messages.h"
#include "cycle_clock.h"
#include "internal/access.h"
#include "system_impl.h"
#include "turn_hooks.h"

namespace akt::internal {

void ActorCell::TellWatchers(std::vector<ActorCell*>& watchers, TerminationReason reason) {
  for (ActorCell* w : watchers) {
    Envelope* e = NewEnvelope();
    AddRef();
    e->msg = Terminated{internal::AdoptCell(this), reason};
    AddRef();
    e->sender = this;
    e->watch_notice = true;
    w->PostUser(e, /*force=*/true).IgnoreError();
    w->Release();  // the watcher list's reference
  }
  watchers.clear();
}

void ActorCell::ProxyNodeLost(TerminationReason reason) {
  std::vector<ActorCell*> watchers;
  {
    std::lock_guard<std::mutex> lock(StripeFor(this));
    Extra& x = extra();
    if (x.node_lost) return;
    x.node_lost = true;
    life_.store(Life::kTerminated, std::memory_order_release);
    watchers.swap(x.watchers);
  }
  TellWatchers(watchers, reason);
}

void ActorCell::ProxyActorStopped() {
  std::vector<ActorCell*> watchers;
  {
    std::lock_guard<std::mutex> lock(StripeFor(this));
    Extra* x = extra_.load(std::memory_order_acquire);
    if (x == nullptr || x->node_lost) return;
    watchers.swap(x->watchers);
  }
  TellWatchers(watchers, TerminationReason::kStopped);
}

void ActorCell::AddWatcher(ActorCell* watcher) {
  {
    std::unique_lock<std::mutex> lock(StripeFor(this));
    if (life() != Life::kTerminated) {
      Extra& x = extra();
      if (std::find(x.watchers.begin(), x.watchers.end(), watcher) == x.watchers.end()) {
        watcher->AddRef();
        x.watchers.push_back(watcher);
      }
      lock.unlock();
      // A remote actor: its node is asked to say when it terminates.
      if (remote_) system_->RemoteWatched(this, true);
      return;
    }
  }
  // Already dead: Terminated at once.
  Extra* dead = extra_.load(std::memory_order_acquire);
  bool lost = dead != nullptr && dead->node_lost;
  Envelope* e = NewEnvelope();
  AddRef();
  e->msg = Terminated{internal::AdoptCell(this),
                      lost ? TerminationReason::kNodeLost : TerminationReason::kStopped};
  e->watch_notice = true;
  watcher->PostUser(e, /*force=*/true).IgnoreError();
}

void ActorCell::RemoveWatcher(ActorCell* watcher) {
  ActorCell* removed = nullptr;
  bool last_gone = false;
  {
    std::lock_guard<std::mutex> lock(StripeFor(this));
    Extra* x = extra_.load(std::memory_order_acquire);
    if (x == nullptr) return;
    auto it = std::find(x->watchers.begin(), x->watchers.end(), watcher);
    if (it == x->watchers.end()) return;
    removed = *it;
    x->watchers.erase(it);
    if (remote_ && x->watchers.empty()) last_gone = true;
  }
  removed->Release();
  if (last_gone) system_->RemoteWatched(this, false);
}

void ActorCell::Watch(ActorCell* target) {
  if (target == nullptr || target == this) return;
  Extra& x = extra();
  bool known = std::any_of(x.watching.begin(), x.watching.end(),
                           [target](const PID& p) { return internal::CellOf(p) == target; });
  if (known) return;  // one Terminated per watch, however often Watch is called
  target->AddRef();
  x.watching.push_back(internal::AdoptCell(target));
  target->AddWatcher(this);
}

void ActorCell::Unwatch(ActorCell* target) {
  if (target == nullptr) return;
  Extra& x = extra();
  auto it = std::find_if(x.watching.begin(), x.watching.end(),
                         [target](const PID& p) { return internal::CellOf(p) == target; });
  if (it != x.watching.end()) x.watching.erase(it);
  target->RemoveWatcher(this);
}

ActorCell* ActorCell::NewProxy(SystemImpl* system, uint64_t id, std::string name,
                               std::string address, std::shared_ptr<void> data) {
  auto* c = new ActorCell(system, id, std::move(name), nullptr, ActorFactory(), SpawnOptions(), 1);
  c->remote_ = true;
  c->life_.store(Life::kRunning, std::memory_order_release);
  Extra& x = c->extra();
  std::call_once(x.address_once, [&] { x.address = std::move(address); });
  x.remote_data = std::move(data);
  return c;
}

void ActorCell::RetireProxy() {
  life_.store(Life::kTerminated, std::memory_order_release);
  self_ = PID();  // may drop the last reference: touch nothing after
}

const std::shared_ptr<void>& ActorCell::remote_data() {
  static const std::shared_ptr<void> kNone;
  if (!remote_) return kNone;
  return extra().remote_data;
}

const std::string& ActorCell::address() {
  Extra& x = extra();
  std::call_once(x.address_once, [&] { x.address = system_->address_prefix() + name_; });
  return x.address;
}

}  // namespace akt::internal
