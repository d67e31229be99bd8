// The cluster snippets of docs/guide.md: <akt/cluster.h> on top of the
// remoting context (use as context=remote,cluster), and the names a snippet
// takes from an earlier one.
#pragma once

#include <akt/cluster.h>

#include <cstdio>

namespace doc {

// "Joining".
extern akt::Result<akt::Cluster*> cluster;

}  // namespace doc
