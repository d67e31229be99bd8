// The grain registry of one actor system: kinds, the directory of active
// grains (exactly one activation per identity), delivery with re-activation.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "akt/grain.h"
#include "akt/spawn_options.h"
#include "envelope.h"
#include "grain_directory.h"
#include "services.h"

namespace akt::internal {

class SystemImpl;
class ActorCell;
struct GrainConfig;

// The grain layer's service (slot kGrains), made on first use.
class GrainRegistry : public Service {
 public:
  explicit GrainRegistry(SystemImpl* sys) : sys_(sys) {}
  static GrainRegistry* Of(SystemImpl* sys);

  Status RegisterKind(std::string kind, GrainFactory factory, GrainOptions defaults);
  // The active grain, or a new activation. `options` null: the kind's.
  Result<PID> GetOrActivate(const GrainIdentity& id, const GrainOptions* options);
  // Takes ownership of `e`; hands it to where the directory places the
  // grain: its activation here (activating it, and again if the one found
  // is just deactivating), or a PID on another node. On failure the
  // requester, if any, got the error. `from`: the endpoint of the node that
  // sent it here (a message from the wire: the directory is not asked again
  // where the grain lives, only, when it is not active here, whether this
  // node may activate it); empty: a local caller.
  Status Deliver(const GrainIdentity& id, Envelope* e, std::string_view from = {});
  // Installs the directory the cluster layer provides (null: the local
  // one). kFailedPrecondition once a grain was activated with another.
  Status SetDirectory(std::shared_ptr<GrainDirectory> directory);
  // Called by a deactivating grain: forgets it (if the entry still names it).
  void Forget(const GrainIdentity& id, ActorCell* cell);
  std::vector<GrainInfo> Active();
  std::vector<GrainIdentity> Relocatable();
  // Deactivates the grain (OnDeactivate with `reason`) and waits for it:
  // OnDeactivate's status, kNotFound, or kTimeout.
  Status Deactivate(const GrainIdentity& id, DeactivationReason reason, Duration timeout);
  // The same without waiting (false: not active here).
  bool StartDeactivate(const GrainIdentity& id, DeactivationReason reason);
  // The live activation of `id` here, or an empty PID.
  PID ActivePid(const GrainIdentity& id);
  bool HasKind(std::string_view kind);

 private:
  struct Kind {
    GrainFactory factory;
    GrainOptions defaults;
    SpawnOptions spawn;  // built once from the defaults
    std::shared_ptr<const GrainConfig> config;
  };
  struct Entry {
    PID pid;
    GrainIdentity id;
    uint64_t epoch;  // the directory's claim
    // Packed so an entry stays 72 bytes (80 cost grain_ask ~10 %: 10,000
    // entries are walked by every lookup round).
    uint32_t activations;  // Record::activations, saturated
    bool disable_relocation;
  };
  static_assert(sizeof(Entry) <= 72, "a grain entry grew: run the grain benchmarks");
  // Keys view the identity's own string and carry its precomputed hash: a
  // lookup hashes nothing.
  struct Key {
    std::string_view text;
    std::size_t hash;
    bool operator==(const Key& o) const { return text == o.text; }
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const { return k.hash; }
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<Key, std::unique_ptr<Entry>, KeyHash> map;
  };
  Shard& ShardFor(std::size_t hash) { return shards_[(hash >> 7) % shards_.size()]; }
  // With the shard lock held: the live activation, or a new one (claimed
  // from the directory, for a message from `from`; a grain served elsewhere
  // gives the cell of its PID there).
  Result<ActorCell*> GetOrActivateLocked(Shard& shard, const GrainIdentity& id,
                                         const GrainOptions* options, std::string_view from = {});
  GrainDirectory* directory() const { return directory_raw_.load(std::memory_order_acquire); }

  SystemImpl* sys_;
  std::shared_ptr<GrainDirectory> directory_;       // mu_; null: local
  std::atomic<GrainDirectory*> directory_raw_{nullptr};
  std::atomic<bool> activated_{false};              // SetDirectory only before
  std::array<Shard, 16> shards_;
  std::mutex mu_;  // kinds and records
  std::unordered_map<std::string, Kind> kinds_;
  // Kept (forever) only for identities pinned with WithGrainDisableRelocation.
  struct Record {
    bool disable_relocation = false;  // sticks to the identity once set
    uint64_t activations = 0;
  };
  std::unordered_map<std::string, Record> records_;
};

// For the remoting layer: delivers to the grain named by an actor name
// "grain:<kind>/<name>" (activating it). kNotFound when the name is not a
// grain name or its kind is unknown.
Status DeliverToGrainByActorName(SystemImpl* sys, std::string_view actor_name, Envelope* e,
                                 std::string_view from);
Result<PID> ActivateGrainByIdentity(SystemImpl* sys, std::string_view kind, std::string_view name);
constexpr std::string_view kGrainActorPrefix = "grain:";
// The one place the wire name of a grain is built and read:
// "grain:<kind>/<name>".
inline bool IsGrainActorName(std::string_view actor_name) {
  return actor_name.substr(0, kGrainActorPrefix.size()) == kGrainActorPrefix;
}
inline std::string GrainActorName(std::string_view kind, std::string_view name) {
  std::string out(kGrainActorPrefix);
  out.append(kind).append("/").append(name);
  return out;
}
inline std::string GrainActorName(const GrainIdentity& id) {
  return GrainActorName(id.kind(), id.name());
}
// kNotFound when `actor_name` is not a grain's; kInvalidArgument when its
// identity does not parse.
Result<GrainIdentity> ParseGrainActorName(std::string_view actor_name);

}  // namespace akt::internal
