// The cluster's GrainDirectory (internal): each grain key's owner decides
// where it is activated (see cluster_grains.cc).
#pragma once

#include <string>
#include <string_view>

#include "cluster_impl.h"
#include "grain_directory.h"

namespace akt {

namespace cluster {
class GrainPlaced;
}  // namespace cluster

// "grain:<kind>/<name>": a grain's key in the cluster directory (actor
// names cannot contain ':', so the two never meet).
std::string GrainKey(const GrainIdentity& id);

class ClusterGrainDirectory final : public internal::GrainDirectory {
 public:
  explicit ClusterGrainDirectory(ClusterImpl* cluster) : c_(cluster) {}
  Result<internal::GrainPlacement> Resolve(const GrainIdentity& id) override;
  Result<uint64_t> Claim(const GrainIdentity& id, const GrainOptions& options,
                         std::string_view from, internal::GrainPlacement* owner) override;
  void Release(const GrainIdentity& id, uint64_t epoch) override;
  void Invalidate(const GrainIdentity& id, const internal::GrainPlacement& stale) override;
  // The owner's note of where a grain this node sent to is hosted.
  void Placed(const cluster::GrainPlaced& placed);

 private:
  ClusterImpl* c_;
};

}  // namespace akt
