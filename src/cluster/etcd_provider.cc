// Discovery on etcd: one leased key per node, a prefix watch feeding a local
// cache that Peers() reads (include/akt/cluster_etcd.h has the key layout).
// Two threads per provider while the node is registered: one keeps the lease
// alive (and grants a new one, putting the key again, when it was lost), one
// watches the prefix (and lists it again when the watch breaks).
#include "akt/cluster_etcd.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "provider_json.h"

namespace akt {
namespace {

namespace pb = etcdserverpb;

// The end of the range of keys starting with `prefix` (etcd's convention).
std::string RangeEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(prefix.back() + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

Status FromGrpc(const std::string& what, const grpc::Status& s) {
  std::string msg = "etcd " + what + ": " + s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::DEADLINE_EXCEEDED: return TimeoutError(msg);
    case grpc::StatusCode::INVALID_ARGUMENT: return InvalidArgumentError(msg);
    case grpc::StatusCode::NOT_FOUND: return NotFoundError(msg);
    default: return UnavailableError(msg);
  }
}

class EtcdMembership final : public MembershipProvider {
 public:
  explicit EtcdMembership(EtcdOptions o)
      : opt_(std::move(o)), members_prefix_(opt_.prefix + opt_.cluster + "/members/") {
    for (const std::string& ep : opt_.endpoints) {
      channels_.push_back(grpc::CreateChannel(ep, grpc::InsecureChannelCredentials()));
    }
  }
  ~EtcdMembership() override { StopThreads(); }

  Status Register(const Member& self) override {
    StopThreads();
    {
      std::lock_guard<std::mutex> lock(mu_);
      key_ = members_prefix_ + self.node.endpoint;
      value_ = internal::MemberJson(opt_.cluster, self);
    }
    Status s = GrantAndPut();
    if (!s.ok()) return s;
    Result<int64_t> rev = List();
    if (!rev.ok()) return rev.status();
    stop_ = false;
    keeper_ = std::thread([this] { KeepAlive(); });
    watcher_ = std::thread([this, r = *rev] { Watch(r); });
    return Status();
  }

  Status Deregister(const Member&) override {
    StopThreads();
    std::string key;
    int64_t lease;
    {
      std::lock_guard<std::mutex> lock(mu_);
      key = key_;
      lease = lease_;
      lease_ = 0;
    }
    if (key.empty()) return Status();
    Status s = Call("delete", [&](grpc::ClientContext* ctx, pb::KV::Stub& kv, pb::Lease::Stub&) {
      pb::DeleteRangeRequest req;
      req.set_key(key);
      pb::DeleteRangeResponse resp;
      return kv.DeleteRange(ctx, req, &resp);
    });
    if (lease != 0) {
      Call("revoke", [&](grpc::ClientContext* ctx, pb::KV::Stub&, pb::Lease::Stub& l) {
        pb::LeaseRevokeRequest req;
        req.set_id(lease);
        pb::LeaseRevokeResponse resp;
        return l.LeaseRevoke(ctx, req, &resp);
      }).IgnoreError();
    }
    return s;
  }

  Result<std::vector<std::string>> Peers() override {
    std::lock_guard<std::mutex> lock(mu_);
    return internal::CachedEndpoints(cache_);
  }

 private:
  // One unary call, on each endpoint in turn until one answers.
  template <typename F>
  Status Call(const std::string& what, F&& f) {
    Status last = UnavailableError("etcd " + what + ": no endpoint");
    for (std::size_t i = 0; i < channels_.size(); ++i) {
      std::size_t at = (first_.load() + i) % channels_.size();
      auto kv = pb::KV::NewStub(channels_[at]);
      auto lease = pb::Lease::NewStub(channels_[at]);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + opt_.timeout);
      grpc::Status s = f(&ctx, *kv, *lease);
      if (s.ok()) {
        first_ = at;
        return Status();
      }
      last = FromGrpc(what + " at " + opt_.endpoints[at], s);
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE &&
          s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
        return last;
      }
    }
    return last;
  }

  Status GrantAndPut() {
    int64_t secs = std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(opt_.ttl).count());
    int64_t id = 0;
    Status s = Call("lease grant", [&](grpc::ClientContext* ctx, pb::KV::Stub&, pb::Lease::Stub& l) {
      pb::LeaseGrantRequest req;
      req.set_ttl(secs);
      pb::LeaseGrantResponse resp;
      grpc::Status g = l.LeaseGrant(ctx, req, &resp);
      id = resp.id();
      return g;
    });
    if (!s.ok()) return s;
    std::string key, value;
    {
      std::lock_guard<std::mutex> lock(mu_);
      key = key_;
      value = value_;
    }
    s = Call("put", [&](grpc::ClientContext* ctx, pb::KV::Stub& kv, pb::Lease::Stub&) {
      pb::PutRequest req;
      req.set_key(key);
      req.set_value(value);
      req.set_lease(id);
      pb::PutResponse resp;
      return kv.Put(ctx, req, &resp);
    });
    if (!s.ok()) return s;
    std::lock_guard<std::mutex> lock(mu_);
    lease_ = id;
    return Status();
  }

  // Lists the members' keys into the cache; the revision to watch from.
  Result<int64_t> List() {
    pb::RangeResponse resp;
    Status s = Call("range", [&](grpc::ClientContext* ctx, pb::KV::Stub& kv, pb::Lease::Stub&) {
      pb::RangeRequest req;
      req.set_key(members_prefix_);
      req.set_range_end(RangeEnd(members_prefix_));
      resp.Clear();
      return kv.Range(ctx, req, &resp);
    });
    if (!s.ok()) return s;
    std::lock_guard<std::mutex> lock(mu_);
    cache_.clear();
    for (const auto& kv : resp.kvs()) {
      std::string ep = internal::EndpointOfMemberJson(kv.value());
      if (!ep.empty()) cache_[kv.key()] = ep;
    }
    return resp.header().revision() + 1;
  }

  // Waits `d` or until stopped; false when stopped.
  bool Pause(Duration d) {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return stop_.load(); });
  }

  // A stream's context, cancelled by StopThreads.
  void Track(grpc::ClientContext* ctx, grpc::ClientContext** slot) {
    std::lock_guard<std::mutex> lock(mu_);
    *slot = ctx;
    if (stop_) ctx->TryCancel();
  }
  void Untrack(grpc::ClientContext** slot) {
    std::lock_guard<std::mutex> lock(mu_);
    *slot = nullptr;
  }

  void KeepAlive() {
    const Duration every = std::max<Duration>(opt_.ttl / 3, std::chrono::milliseconds(100));
    while (!stop_) {
      std::size_t at = first_.load() % channels_.size();
      auto lease = pb::Lease::NewStub(channels_[at]);
      grpc::ClientContext ctx;
      Track(&ctx, &keeper_ctx_);
      auto stream = lease->LeaseKeepAlive(&ctx);
      bool lost = false;
      while (!stop_) {
        pb::LeaseKeepAliveRequest req;
        {
          std::lock_guard<std::mutex> lock(mu_);
          req.set_id(lease_);
        }
        pb::LeaseKeepAliveResponse resp;
        if (!stream->Write(req) || !stream->Read(&resp)) break;
        if (resp.ttl() <= 0) {  // expired (etcd was out of reach too long)
          lost = true;
          break;
        }
        if (!Pause(every)) break;
      }
      ctx.TryCancel();
      stream->Finish().ok();
      Untrack(&keeper_ctx_);
      if (stop_) return;
      if (!lost) {
        // The stream broke: the same lease on the next endpoint (a lease
        // that ran out meanwhile answers ttl 0 there, and is lost).
        first_ = (at + 1) % channels_.size();
        if (!Pause(every)) return;
        continue;
      }
      // The lease ran out: a new one, the key put again; until it works.
      while (!stop_ && !GrantAndPut().ok()) {
        if (!Pause(every)) return;
      }
    }
  }

  void Watch(int64_t from) {
    const Duration retry = std::max<Duration>(opt_.ttl / 3, std::chrono::milliseconds(100));
    while (!stop_) {
      std::size_t at = first_.load() % channels_.size();
      auto watch = pb::Watch::NewStub(channels_[at]);
      grpc::ClientContext ctx;
      Track(&ctx, &watcher_ctx_);
      auto stream = watch->Watch(&ctx);
      pb::WatchRequest req;
      auto* create = req.mutable_create_request();
      create->set_key(members_prefix_);
      create->set_range_end(RangeEnd(members_prefix_));
      create->set_start_revision(from);
      bool relist = false;
      if (stream->Write(req)) {
        pb::WatchResponse resp;
        while (!stop_ && stream->Read(&resp)) {
          if (resp.compact_revision() != 0 || resp.canceled()) {
            relist = true;  // the events from `from` are gone: list again
            break;
          }
          std::lock_guard<std::mutex> lock(mu_);
          for (const auto& ev : resp.events()) {
            if (ev.type() == mvccpb::Event::PUT) {
              std::string ep = internal::EndpointOfMemberJson(ev.kv().value());
              if (!ep.empty()) cache_[ev.kv().key()] = ep;
            } else {
              cache_.erase(ev.kv().key());
            }
            from = ev.kv().mod_revision() + 1;
          }
        }
      }
      ctx.TryCancel();
      stream->Finish().ok();
      Untrack(&watcher_ctx_);
      if (stop_) return;
      if (!relist && !Pause(retry)) return;
      // The watch broke: what happened meanwhile is listed again.
      Result<int64_t> rev = List();
      if (rev.ok()) {
        from = *rev;
      } else {
        first_ = (at + 1) % channels_.size();
        if (!Pause(retry)) return;
      }
    }
  }

  void StopThreads() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      if (keeper_ctx_ != nullptr) keeper_ctx_->TryCancel();
      if (watcher_ctx_ != nullptr) watcher_ctx_->TryCancel();
    }
    cv_.notify_all();
    if (keeper_.joinable()) keeper_.join();
    if (watcher_.joinable()) watcher_.join();
  }

  const EtcdOptions opt_;
  const std::string members_prefix_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::atomic<std::size_t> first_{0};  // the endpoint that answered last

  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{true};
  std::string key_, value_;
  int64_t lease_ = 0;
  std::map<std::string, std::string> cache_;  // key -> endpoint
  grpc::ClientContext* keeper_ctx_ = nullptr;
  grpc::ClientContext* watcher_ctx_ = nullptr;
  std::thread keeper_, watcher_;
};

}  // namespace

Result<std::shared_ptr<MembershipProvider>> EtcdProvider(EtcdOptions options) {
  if (options.endpoints.empty()) return InvalidArgumentError("EtcdOptions::endpoints is empty");
  for (const std::string& ep : options.endpoints) {
    if (ep.empty() || ep.find("://") != std::string::npos || ep.find(':') == std::string::npos) {
      return InvalidArgumentError("EtcdOptions::endpoints: '" + ep + "' is not host:port");
    }
  }
  Status checked =
      internal::CheckProviderOptions("EtcdOptions", options.cluster, options.ttl, options.timeout);
  if (!checked.ok()) return checked;
  return std::shared_ptr<MembershipProvider>(std::make_shared<EtcdMembership>(std::move(options)));
}

}  // namespace akt
