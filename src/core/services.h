// The one way a layer above core (grains, remoting; later the cluster,
// datacenters, admin) plugs into an actor system: a service in a slot of the
// system's registry. Core calls a layer only through the interface of the
// service in its slot (RemoteHooks for remoting), never by link-time name.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "akt/extension.h"
#include "akt/status.h"

namespace akt::internal {

class Service {
 public:
  virtual ~Service() = default;
  // Stop(): every actor has stopped; close what the service holds. Services
  // are told in the reverse order of their installation.
  virtual void OnActorsStopped() {}
};

// One slot per layer; a slot is set once and then read without a lock.
enum class ServiceSlot : uint8_t { kGrains, kRemote, kCluster, kDataCenter, kAdmin };
inline constexpr std::size_t kServiceSlots = 5;

class ServiceRegistry {
 public:
  ServiceRegistry() = default;
  ServiceRegistry(const ServiceRegistry&) = delete;
  ServiceRegistry& operator=(const ServiceRegistry&) = delete;
  ~ServiceRegistry() { Clear(); }

  // kAlreadyExists when the slot is taken; kInvalidArgument for null.
  Status Install(ServiceSlot slot, std::shared_ptr<Service> service);
  // Null when nothing is installed there. One acquire load.
  Service* Find(ServiceSlot slot) const {
    return slots_[static_cast<std::size_t>(slot)].load(std::memory_order_acquire);
  }
  template <typename T>
  T* Get(ServiceSlot slot) const {
    return static_cast<T*>(Find(slot));
  }
  // The service in `slot`, made by `make(arg)` (under the registry's lock,
  // so once) when the slot is empty.
  template <typename T, typename Arg>
  T* GetOrInstall(ServiceSlot slot, std::shared_ptr<T> (*make)(Arg*), Arg* arg) {
    if (Service* s = Find(slot)) return static_cast<T*>(s);
    std::lock_guard<std::mutex> lock(mu_);
    if (Service* s = Find(slot)) return static_cast<T*>(s);
    InstallLocked(slot, make(arg));
    return static_cast<T*>(Find(slot));
  }

  // The user's extensions, by id (ActorSystem::RegisterExtension).
  Status AddExtension(std::shared_ptr<Extension> extension);
  std::shared_ptr<Extension> FindExtension(std::string_view id) const;

  // OnActorsStopped on every service, newest first.
  void StopAll();
  // Drops every service, newest first (the system is going away).
  void Clear();

 private:
  void InstallLocked(ServiceSlot slot, std::shared_ptr<Service> service);

  mutable std::mutex mu_;
  std::array<std::atomic<Service*>, kServiceSlots> slots_{};
  std::vector<std::shared_ptr<Service>> installed_;  // in installation order
  std::unordered_map<std::string, std::shared_ptr<Extension>> extensions_;
};

}  // namespace akt::internal
