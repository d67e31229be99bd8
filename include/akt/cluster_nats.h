// akt/cluster_nats.h — cluster discovery on a NATS JetStream key-value
// bucket (nats-server -js).
//
// The bucket is <bucket_prefix><cluster> (akt_members_orders), created by
// the first node with a TTL (`ttl`): each node puts its key there every
// ttl/3 while it runs, so the key of a node that died is gone one ttl after
// its last put. The key is the node's endpoint with every character a key
// cannot hold made '_' (10.0.0.5:7001 -> 10.0.0.5_7001), the value the same
// line of JSON as on etcd (akt/cluster_etcd.h): {"cluster":"orders",
// "system":"node","endpoint":"10.0.0.5:7001","incarnation":"8132...",
// "roles":["api"]}. The provider watches the bucket and answers Peers()
// from what it has seen (an outage leaves the last known members), pruned
// against the bucket's keys after every put that reached it.
//
//   akt::NatsOptions no;
//   no.url = "nats://127.0.0.1:4222";
//   no.cluster = "orders";             // the same as ClusterOptions::name
//   akt::Result<std::shared_ptr<akt::MembershipProvider>> nats = akt::NatsProvider(no);
//   if (!nats.ok()) return nats.status();
//   akt::ClusterOptions co;
//   co.name = "orders";
//   co.provider = *nats;
#pragma once

#include <memory>
#include <string>

#include "akt/cluster.h"

namespace akt {

struct NatsOptions {
  // The server(s), "nats://host:port", several separated by commas.
  std::string url = "nats://127.0.0.1:4222";
  std::string bucket_prefix = "akt_members_";
  std::string cluster = "akt";
  // The bucket's TTL (>= 1 s); a node puts its key every ttl/3.
  Duration ttl = std::chrono::seconds(10);
  // Deadline of each call to the server (connect, create, put, keys).
  Duration timeout = std::chrono::seconds(2);
};

// kInvalidArgument for an empty url, a ttl under 1 s or a bad cluster name.
// Nothing is contacted until the cluster registers the node.
Result<std::shared_ptr<MembershipProvider>> NatsProvider(NatsOptions options);

}  // namespace akt
