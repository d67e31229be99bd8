// Pool routers: an actor that owns its routees (children) and forwards each
// message by a strategy. Built on the public actor API only: ctx.Forward
// keeps the asker's reply route, so routees answer askers directly.
#include "akt/router.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <string_view>

#include "akt/actor.h"
#include "akt/logger.h"
#include "akt/messages.h"
#include "akt/scheduler.h"
#include "akt/supervisor.h"
#include "akt/system.h"

namespace akt {
namespace {

// The router's own timer: a message the system's scheduler sends it after a
// delay, carrying what to do then (state shared with the routed message's
// requests, never the actor itself: a restart leaves it valid).
struct RouterTimer {
  std::function<void(ReceiveContext&)> fire;
};

void After(ReceiveContext& ctx, Duration delay, std::function<void(ReceiveContext&)> fire) {
  // Fails only while the system stops; the routed message's requests end then.
  Result<ScheduleRef> timer =
      ctx.system().scheduler().ScheduleOnce(ctx.self(), RouterTimer{std::move(fire)}, delay);
  (void)timer;
}

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

// splitmix64's finaliser: a fast, well-mixed 64-bit permutation.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// FNV-1a, then mixed: stable across runs and platforms, unlike std::hash.
uint64_t HashKey(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return Mix(h);
}

std::string FormatDuration(Duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  if (us % 1000 == 0) return std::to_string(us / 1000) + "ms";
  return std::to_string(us) + "us";
}

// Answers the current message with `why` (if someone asked) and sends the
// message to dead letters (reason kUnhandled).
void Reject(ReceiveContext& ctx, Status why) {
  ctx.TakeReply().Fail(std::move(why)).IgnoreError();
  ctx.Unhandled();
}

Status NotCopyable(ReceiveContext& ctx, std::size_t routees) {
  return InvalidArgumentError("router " + std::string(ctx.self().Name()) + " cannot send " +
                              std::string(ctx.message().TypeName()) + " to " +
                              std::to_string(routees) + " routees: the type is not copyable");
}

struct RouterConfig {
  RouterOptions options;
  ActorFactory routee;
  SpawnOptions routee_spawn;  // options.routee_options with the failure policy's supervisor
};

struct RingPoint {
  uint64_t hash;
  uint32_t routee;  // index into the pool
};

// Scatter-gather-first: one per routed message, shared by its requests.
struct Gather {
  PendingReply reply;
  std::size_t waiting = 0;
  bool done = false;
  bool timed_out = false;
  Status last_error;
  Duration within;
};

// Tail-chopping: one per routed message, shared by its requests and timers.
struct Chop {
  PendingReply reply;
  Message msg;  // cloned for each try; the last try takes it
  std::vector<PID> order;
  std::size_t sent = 0;
  std::size_t waiting = 0;
  bool done = false;
  Status last_error;
  Duration within;
  Duration interval;
};

void Finish(Chop& c) {
  c.done = true;
  c.msg.Reset();
  c.order.clear();
}

void ChopNext(ReceiveContext& ctx, const std::shared_ptr<Chop>& c) {
  if (c->done || c->sent == c->order.size()) return;
  const PID& to = c->order[c->sent++];
  Message m = c->sent == c->order.size() ? std::move(c->msg) : c->msg.Clone();
  c->waiting++;
  // Each try may run until the overall deadline (enforced by its own timer),
  // so its timeout never decides the outcome.
  ctx.Request(to, std::move(m), c->within).Then([c](ReceiveContext& ctx, Result<Message> r) {
    c->waiting--;
    if (c->done) return;
    if (r.ok()) {
      c->reply.Reply(std::move(*r)).IgnoreError();
      Finish(*c);
      return;
    }
    c->last_error = r.status();
    if (c->sent < c->order.size()) {
      ChopNext(ctx, c);  // this routee failed: do not wait for the interval
    } else if (c->waiting == 0) {
      c->reply
          .Fail(Status(c->last_error.code(), "every routee of router " +
                                                 std::string(ctx.self().Name()) +
                                                 " failed; the last: " + c->last_error.ToString()))
          .IgnoreError();
      Finish(*c);
    }
  });
  if (c->sent < c->order.size()) {
    std::size_t sent_then = c->sent;
    After(ctx, c->interval, [c, sent_then](ReceiveContext& ctx) {
      // Only if no failure moved on to the next routee meanwhile.
      if (c->sent == sent_then) ChopNext(ctx, c);
    });
  }
}

class RouterActor final : public Actor {
 public:
  explicit RouterActor(std::shared_ptr<const RouterConfig> config)
      : config_(std::move(config)), strategy_(config_->options.strategy) {
    uint64_t seed = config_->options.random_seed;
    if (seed == 0) {
      std::random_device rd;
      seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    }
    rng_ = seed;
  }

  Status PreStart(Context& ctx) override {
    std::string_view name = ctx.self().Name();
    // Routees of a named router are named after it; an anonymous router (or
    // one whose name leaves no room for the suffix) has anonymous routees.
    if (!name.empty() && name[0] != '$' && name.size() + 32 <= 255) {
      prefix_ = std::string(name) + ".routee-";
    }
    return Grow(ctx, config_->options.pool_size);
  }

  void Receive(ReceiveContext& ctx) override {
    const TypeId type = ctx.message().type();
    // Control messages first: five pointer compares, then the strategy.
    if (type == TypeIdOf<Terminated>()) {
      Remove(ctx, ctx.As<Terminated>()->actor);
    } else if (type == TypeIdOf<GetRoutees>()) {
      ctx.Reply(Routees{routees_}).IgnoreError();
    } else if (type == TypeIdOf<AdjustPoolSize>()) {
      Adjust(ctx, ctx.As<AdjustPoolSize>()->delta);
    } else if (type == TypeIdOf<Broadcast>()) {
      Message inner = std::move(ctx.As<Broadcast>()->message);
      ctx.message() = std::move(inner);
      FanOut(ctx);
    } else if (type == TypeIdOf<RouterTimer>()) {
      ctx.As<RouterTimer>()->fire(ctx);
    } else {
      Route(ctx);
    }
  }

 private:
  void Route(ReceiveContext& ctx) {
    const std::size_t n = routees_.size();
    if (n == 0) {
      Reject(ctx, StoppedError("router " + std::string(ctx.self().Name()) +
                               " has no routees: every routee has stopped"));
      return;
    }
    switch (strategy_) {
      case RoutingStrategy::kRoundRobin: {
        const PID& to = routees_[next_];
        if (++next_ == n) next_ = 0;
        ctx.Forward(to).IgnoreError();  // a refusal already dead-lettered it
        return;
      }
      case RoutingStrategy::kRandom: {
        rng_ += kGolden;
        auto pick = static_cast<std::size_t>((static_cast<unsigned __int128>(Mix(rng_)) * n) >> 64);
        ctx.Forward(routees_[pick]).IgnoreError();
        return;
      }
      case RoutingStrategy::kFanOut:
        FanOut(ctx);
        return;
      case RoutingStrategy::kScatterGatherFirst:
        ScatterGather(ctx);
        return;
      case RoutingStrategy::kTailChopping:
        TailChop(ctx);
        return;
      case RoutingStrategy::kConsistentHashing:
        RouteByKey(ctx);
        return;
    }
  }

  // Delivers ctx.message() to every routee: copies with the original sender,
  // and the original, with the reply route, to the first routee.
  void FanOut(ReceiveContext& ctx) {
    const std::size_t n = routees_.size();
    if (n == 0) {
      Reject(ctx, StoppedError("router " + std::string(ctx.self().Name()) +
                               " has no routees: every routee has stopped"));
      return;
    }
    Message& msg = ctx.message();
    if (n > 1 && !msg.copyable()) {
      Reject(ctx, NotCopyable(ctx, n));
      return;
    }
    const PID& sender = ctx.sender();
    for (std::size_t i = 1; i < n; ++i) {
      routees_[i].Forward(msg.Clone(), sender).IgnoreError();
    }
    ctx.Forward(routees_[0]).IgnoreError();
  }

  void ScatterGather(ReceiveContext& ctx) {
    const std::size_t n = routees_.size();
    Message& msg = ctx.message();
    if (n > 1 && !msg.copyable()) {
      Reject(ctx, NotCopyable(ctx, n));
      return;
    }
    auto g = std::make_shared<Gather>();
    g->reply = ctx.TakeReply();
    g->waiting = n;
    g->within = config_->options.within;
    for (std::size_t i = 0; i < n; ++i) {
      Message m = i + 1 == n ? std::move(msg) : msg.Clone();
      ctx.Request(routees_[i], std::move(m), g->within)
          .Then([g](ReceiveContext& ctx, Result<Message> r) {
            if (g->done) return;
            if (r.ok()) {
              g->done = true;
              g->reply.Reply(std::move(*r)).IgnoreError();
              return;
            }
            if (r.status().code() == StatusCode::kTimeout) {
              g->timed_out = true;
            } else {
              g->last_error = r.status();
            }
            if (--g->waiting > 0) return;
            g->done = true;
            std::string router(ctx.self().Name());
            Status answer = g->timed_out
                                ? TimeoutError("no routee of router " + router +
                                               " replied within " + FormatDuration(g->within))
                                : Status(g->last_error.code(),
                                         "every routee of router " + router +
                                             " failed; the last: " + g->last_error.ToString());
            g->reply.Fail(std::move(answer)).IgnoreError();
          });
    }
  }

  void TailChop(ReceiveContext& ctx) {
    const std::size_t n = routees_.size();
    if (n > 1 && !ctx.message().copyable()) {
      Reject(ctx, NotCopyable(ctx, n));
      return;
    }
    auto c = std::make_shared<Chop>();
    c->reply = ctx.TakeReply();
    c->msg = std::move(ctx.message());
    c->within = config_->options.within;
    c->interval = config_->options.interval;
    c->order.reserve(n);
    for (std::size_t k = 0; k < n; ++k) c->order.push_back(routees_[(next_ + k) % n]);
    if (++next_ >= n) next_ = 0;
    After(ctx, c->within, [c](ReceiveContext& ctx) {
      if (c->done) return;
      c->reply
          .Fail(TimeoutError("no routee of router " + std::string(ctx.self().Name()) +
                             " replied within " + FormatDuration(c->within)))
          .IgnoreError();
      Finish(*c);
    });
    ChopNext(ctx, c);
  }

  void RouteByKey(ReceiveContext& ctx) {
    std::string key;
    try {
      key = config_->options.key(ctx.message());
    } catch (...) {
      Reject(ctx,
             InvalidArgumentError("the key function of router " + std::string(ctx.self().Name()) +
                                  " threw: " + DescribeError(std::current_exception())));
      return;
    }
    const uint64_t h = HashKey(key);
    auto it = std::lower_bound(ring_.begin(), ring_.end(), h,
                               [](const RingPoint& p, uint64_t v) { return p.hash < v; });
    if (it == ring_.end()) it = ring_.begin();
    ctx.Forward(routees_[it->routee]).IgnoreError();
  }

  Status Grow(Context& ctx, int n) {
    Status result;
    for (int i = 0; i < n; ++i) {
      std::string name = prefix_.empty() ? std::string() : prefix_ + std::to_string(seq_++);
      Result<PID> r = ctx.Spawn(std::move(name), config_->routee, config_->routee_spawn);
      if (!r.ok()) {
        result = r.status();
        break;
      }
      ctx.Watch(*r);
      routees_.push_back(std::move(*r));
    }
    PoolChanged(ctx);
    return result;
  }

  void Adjust(Context& ctx, int delta) {
    if (delta > 0) {
      Status s = Grow(ctx, delta);
      if (!s.ok()) {
        ctx.logger().Log(LogLevel::kWarn, "router " + std::string(ctx.self().Name()) +
                                              " could not grow its pool: " + s.ToString());
      }
      return;
    }
    // Shrink from the back: the newest routees go first. Each finishes its
    // queued messages (PoisonPill waits behind them) and is forgotten now.
    std::size_t remove = std::min<std::size_t>(routees_.size(), -static_cast<int64_t>(delta));
    for (std::size_t i = 0; i < remove; ++i) {
      PID victim = std::move(routees_.back());
      routees_.pop_back();
      ctx.Unwatch(victim);
      victim.Tell(PoisonPill{}).IgnoreError();
    }
    if (remove > 0) PoolChanged(ctx);
  }

  void Remove(Context& ctx, const PID& gone) {
    auto it = std::find(routees_.begin(), routees_.end(), gone);
    if (it == routees_.end()) return;  // not (or no longer) ours
    auto index = static_cast<std::size_t>(it - routees_.begin());
    routees_.erase(it);
    if (index < next_) --next_;  // keep the rotation where it was
    PoolChanged(ctx);
  }

  void PoolChanged(Context& ctx) {
    if (next_ >= routees_.size()) next_ = 0;
    if (routees_.empty() && !warned_empty_) {
      warned_empty_ = true;
      ctx.logger().Log(LogLevel::kWarn, "router " + std::string(ctx.self().Name()) +
                                            " has no routees left; messages go to dead letters");
    } else if (!routees_.empty()) {
      warned_empty_ = false;
    }
    if (strategy_ == RoutingStrategy::kConsistentHashing) BuildRing();
  }

  // Each routee owns `virtual_nodes` points derived from its name only, so a
  // routee keeps its points (and its keys) whatever else joins or leaves.
  void BuildRing() {
    const auto v = static_cast<uint64_t>(config_->options.virtual_nodes);
    ring_.clear();
    ring_.reserve(routees_.size() * v);
    for (std::size_t i = 0; i < routees_.size(); ++i) {
      const uint64_t base = HashKey(routees_[i].Name());
      for (uint64_t k = 1; k <= v; ++k) {
        ring_.push_back({Mix(base + k * kGolden), static_cast<uint32_t>(i)});
      }
    }
    std::sort(ring_.begin(), ring_.end(), [this](const RingPoint& a, const RingPoint& b) {
      if (a.hash != b.hash) return a.hash < b.hash;
      return routees_[a.routee].Name() < routees_[b.routee].Name();  // ties: by name, stable
    });
  }

  std::shared_ptr<const RouterConfig> config_;
  const RoutingStrategy strategy_;
  std::vector<PID> routees_;
  std::size_t next_ = 0;  // round robin / tail-chopping start; always < size or 0
  uint64_t rng_;
  uint64_t seq_ = 0;  // routee name suffixes, never reused
  std::string prefix_;
  std::vector<RingPoint> ring_;
  bool warned_empty_ = false;
};

Status Validate(const RouterOptions& o, const ActorFactory& routee) {
  if (!routee) return InvalidArgumentError("a router needs a routee factory");
  if (o.pool_size < 1) return InvalidArgumentError("a router needs a pool size >= 1");
  switch (o.strategy) {
    case RoutingStrategy::kScatterGatherFirst:
      if (o.within <= Duration::zero()) {
        return InvalidArgumentError("scatter-gather-first needs within > 0");
      }
      break;
    case RoutingStrategy::kTailChopping:
      if (o.within <= Duration::zero() || o.interval <= Duration::zero()) {
        return InvalidArgumentError("tail-chopping needs within > 0 and interval > 0");
      }
      break;
    case RoutingStrategy::kConsistentHashing:
      if (!o.key) return InvalidArgumentError("consistent hashing needs a key function");
      if (o.virtual_nodes < 1 || o.virtual_nodes > 65536) {
        return InvalidArgumentError("consistent hashing needs 1..65536 virtual nodes per routee");
      }
      break;
    case RoutingStrategy::kRoundRobin:
    case RoutingStrategy::kRandom:
    case RoutingStrategy::kFanOut:
      break;
  }
  return Status();
}

Supervisor RouteeSupervisor(const RouterOptions& o) {
  Supervisor s;
  s.ClearRules().WithDirective<ActorKilledError>(Directive::kStop);
  switch (o.on_failure) {
    case RouteeFailure::kResume:
      s.WithAnyErrorDirective(Directive::kResume);
      break;
    case RouteeFailure::kRestart:
      s.WithAnyErrorDirective(Directive::kRestart).WithRetry(o.max_restarts, o.restart_window);
      break;
    case RouteeFailure::kStop:
      s.WithAnyErrorDirective(Directive::kStop);
      break;
  }
  return s;
}

// Builds the router's factory and spawn options, or fails on bad options.
Status Prepare(ActorFactory routee, RouterOptions options, ActorFactory* router,
               SpawnOptions* router_spawn) {
  if (Status s = Validate(options, routee); !s.ok()) return s;
  auto config = std::make_shared<RouterConfig>();
  config->routee_spawn = options.routee_options;
  config->routee_spawn.WithSupervisor(RouteeSupervisor(options));
  config->routee = std::move(routee);
  config->options = std::move(options);
  std::shared_ptr<const RouterConfig> shared = std::move(config);
  *router = [shared] { return std::make_unique<RouterActor>(shared); };
  // The router's state is its pool: resume it on any error rather than
  // restart it (a restart would stop and re-create every routee).
  router_spawn->WithSupervisor(Supervisor()
                                   .ClearRules()
                                   .WithDirective<ActorKilledError>(Directive::kStop)
                                   .WithAnyErrorDirective(Directive::kResume));
  return Status();
}

}  // namespace

Result<PID> SpawnRouter(ActorSystem& system, std::string name, ActorFactory routee,
                        RouterOptions options) {
  ActorFactory router;
  SpawnOptions spawn;
  if (Status s = Prepare(std::move(routee), std::move(options), &router, &spawn); !s.ok()) {
    return s;
  }
  return system.Spawn(std::move(name), std::move(router), std::move(spawn));
}

Result<PID> SpawnRouter(Context& ctx, std::string name, ActorFactory routee,
                        RouterOptions options) {
  ActorFactory router;
  SpawnOptions spawn;
  if (Status s = Prepare(std::move(routee), std::move(options), &router, &spawn); !s.ok()) {
    return s;
  }
  return ctx.Spawn(std::move(name), std::move(router), std::move(spawn));
}

}  // namespace akt
