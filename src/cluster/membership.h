// The membership actor and the conversions between akt's member types and
// their wire form (internal to the cluster layer).
#pragma once

#include "akt/actor.h"
#include "akt/cluster.h"
#include "akt/cluster/membership.pb.h"
#include "akt/message.h"

#include <string>

namespace akt {

class ClusterImpl;

// "endpoint#<incarnation, 16 hex digits>": a member's key in maps.
std::string MemberKey(const NodeId& n);
NodeId FromProto(const cluster::Node& n);
void ToProto(const NodeId& id, cluster::Node* n);
Member FromProto(const cluster::Member& m);
void ToProto(const Member& m, cluster::Member* out);

// The $cluster actor of `cluster`'s node.
ActorFactory MembershipActorFactory(ClusterImpl* cluster);
// Tells the membership actor to leave.
Message LeaveMessage();

}  // namespace akt
