// Discovery on a NATS JetStream KV bucket (include/akt/cluster_nats.h has
// the layout). cnats is a C API: every handle is owned here and destroyed
// with the provider. Two threads while the node is registered: one puts the
// node's key every ttl/3 (and prunes the cache against the bucket's keys
// when the put worked), one reads the bucket's watch into the cache.
#include "akt/cluster_nats.h"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "provider_json.h"

namespace akt {
namespace {

int64_t Ms(Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

Status FromNats(const std::string& what, natsStatus s) {
  const char* last = nats_GetLastError(nullptr);
  std::string msg = "NATS " + what + ": " + natsStatus_GetText(s);
  if (last != nullptr && *last != '\0') msg += std::string(" (") + last + ")";
  if (s == NATS_TIMEOUT) return TimeoutError(msg);
  return UnavailableError(msg);
}

// The key of an endpoint: characters a KV key cannot hold become '_'.
std::string KeyOf(const std::string& endpoint) {
  std::string out = endpoint;
  for (char& c : out) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '=' ||
              c == '.' || c == '/';
    if (!ok) c = '_';
  }
  return out;
}

class NatsMembership final : public MembershipProvider {
 public:
  explicit NatsMembership(NatsOptions o)
      : opt_(std::move(o)), bucket_(opt_.bucket_prefix + opt_.cluster) {}
  ~NatsMembership() override {
    StopThreads();
    Close();
  }

  Status Register(const Member& self) override {
    StopThreads();
    Status s = Open();
    if (!s.ok()) return s;
    key_ = KeyOf(self.node.endpoint);
    value_ = internal::MemberJson(opt_.cluster, self);
    s = Put();
    if (!s.ok()) return s;
    {
      // Itself at once (the watcher's initial values come a moment later).
      std::lock_guard<std::mutex> lock(mu_);
      cache_[key_] = self.node.endpoint;
    }
    kvWatchOptions wo = WatchOptions();
    natsStatus ns = kvStore_WatchAll(&watcher_, kv_, &wo);
    if (ns != NATS_OK) return FromNats("watch of bucket " + bucket_, ns);
    Prune();
    stop_ = false;
    beater_ = std::thread([this] { Beat(); });
    reader_ = std::thread([this] { Read(); });
    return Status();
  }

  Status Deregister(const Member&) override {
    StopThreads();
    if (kv_ == nullptr || key_.empty()) return Status();
    natsStatus ns = kvStore_Delete(kv_, key_.c_str());
    return ns == NATS_OK ? Status() : FromNats("delete of " + key_, ns);
  }

  Result<std::vector<std::string>> Peers() override {
    std::lock_guard<std::mutex> lock(mu_);
    return internal::CachedEndpoints(cache_);
  }

 private:
  kvWatchOptions WatchOptions() const {
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    wo.Timeout = Ms(opt_.timeout);
    return wo;
  }

  Status Open() {
    if (kv_ != nullptr) return Status();
    natsStatus ns = natsOptions_Create(&opts_);
    if (ns == NATS_OK) ns = natsOptions_SetURL(opts_, opt_.url.c_str());
    if (ns == NATS_OK) ns = natsOptions_SetTimeout(opts_, Ms(opt_.timeout));
    if (ns == NATS_OK) ns = natsOptions_SetMaxReconnect(opts_, -1);  // forever
    if (ns == NATS_OK) ns = natsOptions_SetReconnectWait(opts_, 100);
    if (ns == NATS_OK) ns = natsOptions_SetSendAsap(opts_, true);
    if (ns != NATS_OK) return FromNats("options", ns);
    ns = natsConnection_Connect(&nc_, opts_);
    if (ns != NATS_OK) return FromNats("connect to " + opt_.url, ns);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = Ms(opt_.timeout);
    ns = natsConnection_JetStream(&js_, nc_, &jo);
    if (ns != NATS_OK) return FromNats("JetStream", ns);
    ns = js_KeyValue(&kv_, js_, bucket_.c_str());
    if (ns == NATS_NOT_FOUND) {
      kvConfig cfg;
      kvConfig_Init(&cfg);
      cfg.Bucket = bucket_.c_str();
      cfg.History = 1;
      cfg.TTL = std::chrono::duration_cast<std::chrono::nanoseconds>(opt_.ttl).count();  // ns in cnats 3.4
      ns = js_CreateKeyValue(&kv_, js_, &cfg);
      if (ns != NATS_OK) {
        Status created = FromNats("create of bucket " + bucket_, ns);
        ns = js_KeyValue(&kv_, js_, bucket_.c_str());  // another node won
        if (ns != NATS_OK) return created;
      }
    }
    if (ns != NATS_OK) return FromNats("bucket " + bucket_ + " (is JetStream on: -js?)", ns);
    return Status();
  }

  void Close() {  // after StopThreads (which destroys the watcher)
    if (kv_ != nullptr) kvStore_Destroy(kv_);
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (nc_ != nullptr) natsConnection_Destroy(nc_);
    if (opts_ != nullptr) natsOptions_Destroy(opts_);
    kv_ = nullptr;
    js_ = nullptr;
    nc_ = nullptr;
    opts_ = nullptr;
  }

  Status Put() {
    uint64_t rev = 0;
    natsStatus ns = kvStore_Put(&rev, kv_, key_.c_str(), value_.data(), static_cast<int>(value_.size()));
    return ns == NATS_OK ? Status() : FromNats("put of " + key_, ns);
  }

  // Keys gone from the bucket (expired: a TTL leaves no event) leave the
  // cache. A key missing from the listing is read before it goes: a listing
  // made while other keys are put can miss a live one.
  void Prune() {
    kvKeysList list;
    kvWatchOptions wo = WatchOptions();
    if (kvStore_Keys(&list, kv_, &wo) != NATS_OK) return;
    std::set<std::string> present;
    for (int i = 0; i < list.Count; ++i) present.insert(list.Keys[i]);
    kvKeysList_Destroy(&list);
    std::vector<std::string> missing;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [key, endpoint] : cache_) {
        if (!present.count(key)) missing.push_back(key);
      }
    }
    for (const std::string& key : missing) {
      kvEntry* e = nullptr;
      natsStatus ns = kvStore_Get(&e, kv_, key.c_str());
      if (e != nullptr) kvEntry_Destroy(e);
      if (ns != NATS_NOT_FOUND) continue;  // there after all, or not known: kept
      std::lock_guard<std::mutex> lock(mu_);
      cache_.erase(key);
    }
  }

  bool Pause(Duration d) {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return stop_.load(); });
  }

  void Beat() {
    const Duration every = std::max<Duration>(opt_.ttl / 3, std::chrono::milliseconds(100));
    while (Pause(every)) {
      if (Put().ok()) Prune();  // an outage changes nothing in the cache
    }
  }

  void Read() {
    while (!stop_) {
      kvEntry* e = nullptr;
      natsStatus ns = kvWatcher_Next(&e, watcher_, 100);
      if (ns == NATS_TIMEOUT) continue;
      if (ns != NATS_OK) {
        // Closed or broken: a new watcher (its initial values catch up with
        // what was missed); meanwhile the beats keep the cache pruned.
        if (!Pause(std::chrono::milliseconds(100))) return;
        kvWatcher* fresh = nullptr;
        kvWatchOptions wo = WatchOptions();
        if (kvStore_WatchAll(&fresh, kv_, &wo) == NATS_OK) {
          kvWatcher_Destroy(watcher_);
          watcher_ = fresh;
        }
        continue;
      }
      if (e == nullptr) continue;  // the end of the initial values
      std::string key = kvEntry_Key(e);
      kvOperation op = kvEntry_Operation(e);
      const char* raw = kvEntry_ValueString(e);
      std::string value(raw != nullptr ? raw : "");
      kvEntry_Destroy(e);
      std::lock_guard<std::mutex> lock(mu_);
      if (op == kvOp_Put) {
        std::string ep = internal::EndpointOfMemberJson(value);
        if (!ep.empty()) cache_[key] = ep;
      } else {
        cache_.erase(key);
      }
    }
  }

  void StopThreads() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (beater_.joinable()) beater_.join();
    if (reader_.joinable()) reader_.join();
    if (watcher_ != nullptr) {
      kvWatcher_Destroy(watcher_);
      watcher_ = nullptr;
    }
  }

  const NatsOptions opt_;
  const std::string bucket_;
  natsOptions* opts_ = nullptr;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  kvStore* kv_ = nullptr;
  kvWatcher* watcher_ = nullptr;
  std::string key_, value_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{true};
  std::map<std::string, std::string> cache_;  // key -> endpoint
  std::thread beater_, reader_;
};

}  // namespace

Result<std::shared_ptr<MembershipProvider>> NatsProvider(NatsOptions options) {
  if (options.url.empty()) return InvalidArgumentError("NatsOptions::url is empty");
  Status checked =
      internal::CheckProviderOptions("NatsOptions", options.cluster, options.ttl, options.timeout);
  if (!checked.ok()) return checked;
  if (!internal::ValidSystemName(options.bucket_prefix + options.cluster)) {
    return InvalidArgumentError("NatsOptions::bucket_prefix '" + options.bucket_prefix +
                                "': letters, digits, '-', '_'");
  }
  return std::shared_ptr<MembershipProvider>(std::make_shared<NatsMembership>(std::move(options)));
}

}  // namespace akt
