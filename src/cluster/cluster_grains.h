// The cluster's GrainDirectory (internal): grains live on their owner in
// the current view (see cluster_grains.cc).
#pragma once

#include <string>
#include <vector>

#include "cluster_impl.h"
#include "grain_directory.h"

namespace akt {

// "grain:<kind>/<name>": a grain's key in the cluster directory (actor
// names cannot contain ':', so the two never meet).
std::string GrainKey(const GrainIdentity& id);

class ClusterGrainDirectory final : public internal::GrainDirectory {
 public:
  explicit ClusterGrainDirectory(ClusterImpl* cluster) : c_(cluster) {}
  Result<internal::GrainPlacement> Resolve(const GrainIdentity& id) override;
  Result<uint64_t> Claim(const GrainIdentity& id, internal::GrainPlacement* owner) override;
  void Release(const GrainIdentity& id, uint64_t epoch) override;
  void Invalidate(const GrainIdentity& id, const internal::GrainPlacement& stale) override;
  // After a view change: deactivates (kHandingOff) the grains of `keys`,
  // active here and owned elsewhere now; each releases its key when it ends.
  void HandOff(const std::vector<std::string>& keys);

 private:
  ClusterImpl* c_;
};

}  // namespace akt
