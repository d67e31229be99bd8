// The seam between grains and whatever knows where each grain lives: the
// default directory says "here" for every identity (today's single-node
// behaviour); the cluster layer will install one that resolves identities
// across nodes. Internal to the layers (grain and above).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "akt/grain.h"
#include "akt/pid.h"
#include "akt/status.h"

namespace akt::internal {

// Where a grain lives (or is to be activated).
struct GrainPlacement {
  enum class Where : uint8_t { kLocal, kRemote };
  Where where = Where::kLocal;
  // kRemote: a PID that reaches the grain on its node (a remote grain PID,
  // made by the layer that knows the node); the grain layer only posts to it.
  PID target;
  // The directory's version of this placement: a Release or an Invalidate
  // names the one it means, so a stale one changes nothing.
  uint64_t epoch = 0;
};

class GrainDirectory {
 public:
  virtual ~GrainDirectory() = default;
  // Where `id` lives now, or where it should be activated.
  virtual Result<GrainPlacement> Resolve(const GrainIdentity& id) = 0;
  // A message for `id` found no activation on this node; it came from the
  // node `from` (an endpoint; empty: this node), and `options` are the
  // kind's. OK: activate it here (the epoch of this node's claim).
  // kAlreadyExists: another node serves it; `*owner` says where to post it.
  virtual Result<uint64_t> Claim(const GrainIdentity& id, const GrainOptions& options,
                                 std::string_view from, GrainPlacement* owner) = 0;
  // This node's activation `epoch` of `id` ended.
  virtual void Release(const GrainIdentity& id, uint64_t epoch) = 0;
  // `stale` could not take a message (its node is gone, or does not host the
  // grain): forget it; the next Resolve decides again.
  virtual void Invalidate(const GrainIdentity& id, const GrainPlacement& stale) = 0;
};

// Every grain is here: Resolve says kLocal, every Claim succeeds.
class LocalGrainDirectory final : public GrainDirectory {
 public:
  Result<GrainPlacement> Resolve(const GrainIdentity&) override { return GrainPlacement{}; }
  Result<uint64_t> Claim(const GrainIdentity&, const GrainOptions&, std::string_view,
                         GrainPlacement*) override {
    return uint64_t{0};
  }
  void Release(const GrainIdentity&, uint64_t) override {}
  void Invalidate(const GrainIdentity&, const GrainPlacement&) override {}
};

}  // namespace akt::internal
