// What the etcd and NATS providers share: the checks of their options, and
// what they store for a member: one line of JSON,
// {"cluster":..,"system":..,"endpoint":..,"incarnation":"<u64>","roles":[..]}
// (readable with etcdctl and the nats tools).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "akt/cluster.h"
#include "names.h"

namespace akt::internal {

// The options both engines have; `what` is the struct's name in messages.
inline Status CheckProviderOptions(const std::string& what, const std::string& cluster,
                                   Duration ttl, Duration timeout) {
  if (ttl < std::chrono::seconds(1)) return InvalidArgumentError(what + "::ttl must be at least 1 s");
  if (timeout <= Duration::zero()) return InvalidArgumentError(what + "::timeout must be positive");
  if (!ValidSystemName(cluster)) {
    return InvalidArgumentError(what + "::cluster '" + cluster + "': letters, digits, '-', '_'");
  }
  return Status();
}

inline std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;  // never in names or endpoints
    out += c;
  }
  return out + "\"";
}

inline std::string MemberJson(const std::string& cluster, const Member& m) {
  std::string roles;
  for (const std::string& r : m.roles) roles += (roles.empty() ? "" : ",") + JsonString(r);
  return "{\"cluster\":" + JsonString(cluster) + ",\"system\":" + JsonString(m.node.system) +
         ",\"endpoint\":" + JsonString(m.node.endpoint) + ",\"incarnation\":\"" +
         std::to_string(m.node.incarnation) + "\",\"roles\":[" + roles + "]}";
}

// The endpoint a member value names ("" when the value is not one of ours).
inline std::string EndpointOfMemberJson(const std::string& value) {
  static const std::string field = "\"endpoint\":\"";
  std::size_t at = value.find(field);
  if (at == std::string::npos) return "";
  std::size_t from = at + field.size();
  std::size_t to = value.find('"', from);
  return to == std::string::npos ? "" : value.substr(from, to - from);
}

// The endpoints of a provider's cache (record key -> endpoint).
inline std::vector<std::string> CachedEndpoints(const std::map<std::string, std::string>& cache) {
  std::vector<std::string> out;
  for (const auto& [key, endpoint] : cache) out.push_back(endpoint);
  return out;
}

}  // namespace akt::internal
