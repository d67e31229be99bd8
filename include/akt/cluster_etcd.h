// akt/cluster_etcd.h — cluster discovery on etcd (v3 API over gRPC).
//
// Each node keeps one key while it runs, on a lease it keeps alive: the key
// is <prefix><cluster>/members/<host:port> (akt/orders/members/10.0.0.5:7001),
// the value a line of JSON, {"cluster":"orders","system":"node",
// "endpoint":"10.0.0.5:7001","incarnation":"8132...","roles":["api"]};
// `etcdctl get --prefix akt/` lists them. The provider watches the prefix
// and answers Peers() from what it has seen, so discovery is a local read
// and an etcd outage leaves the last known members in place; failure
// detection does not wait for the lease: members probe each other over
// remoting (akt/cluster.h). A node that dies leaves its key until the lease
// runs out (`ttl`); a node that leaves deletes it and revokes the lease.
//
//   akt::EtcdOptions eo;
//   eo.endpoints = {"127.0.0.1:2379"};
//   eo.cluster = "orders";             // the same as ClusterOptions::name
//   akt::ClusterOptions co;
//   co.name = "orders";
//   akt::Result<std::shared_ptr<akt::MembershipProvider>> etcd = akt::EtcdProvider(eo);
//   if (!etcd.ok()) return etcd.status();
//   co.provider = *etcd;
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "akt/cluster.h"

namespace akt {

struct EtcdOptions {
  // etcd's client endpoints, "host:port" (no scheme): tried in turn.
  std::vector<std::string> endpoints;
  // Keys are <prefix><cluster>/members/<endpoint>.
  std::string prefix = "akt/";
  std::string cluster = "akt";
  // The lease of this node's key, whole seconds, >= 1s; renewed every ttl/3.
  Duration ttl = std::chrono::seconds(10);
  // Deadline of each call to etcd (grant, put, range, delete).
  Duration timeout = std::chrono::seconds(2);
};

// kInvalidArgument for no endpoint, a ttl under 1 s or a bad cluster name.
// Nothing is contacted until the cluster registers the node.
Result<std::shared_ptr<MembershipProvider>> EtcdProvider(EtcdOptions options);

}  // namespace akt
