#include "services.h"

#include <utility>

namespace akt::internal {

Status ServiceRegistry::Install(ServiceSlot slot, std::shared_ptr<Service> service) {
  if (!service) return InvalidArgumentError("null service");
  std::lock_guard<std::mutex> lock(mu_);
  if (Find(slot) != nullptr) return AlreadyExistsError("this layer is already enabled on this system");
  InstallLocked(slot, std::move(service));
  return Status();
}

void ServiceRegistry::InstallLocked(ServiceSlot slot, std::shared_ptr<Service> service) {
  Service* raw = service.get();
  installed_.push_back(std::move(service));
  slots_[static_cast<std::size_t>(slot)].store(raw, std::memory_order_release);
}

Status ServiceRegistry::AddExtension(std::shared_ptr<Extension> extension) {
  if (!extension) return InvalidArgumentError("null extension");
  std::string id(extension->ID());
  if (id.empty()) return InvalidArgumentError("an extension needs a non-empty ID");
  std::lock_guard<std::mutex> lock(mu_);
  if (!extensions_.try_emplace(id, std::move(extension)).second) {
    return AlreadyExistsError("extension " + id + " is already registered");
  }
  return Status();
}

std::shared_ptr<Extension> ServiceRegistry::FindExtension(std::string_view id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = extensions_.find(std::string(id));
  return it == extensions_.end() ? nullptr : it->second;
}

void ServiceRegistry::StopAll() {
  std::vector<std::shared_ptr<Service>> services;
  {
    std::lock_guard<std::mutex> lock(mu_);
    services = installed_;
  }
  for (auto it = services.rbegin(); it != services.rend(); ++it) (*it)->OnActorsStopped();
}

void ServiceRegistry::Clear() {
  std::vector<std::shared_ptr<Service>> services;
  std::unordered_map<std::string, std::shared_ptr<Extension>> extensions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& s : slots_) s.store(nullptr, std::memory_order_release);
    services.swap(installed_);
    extensions.swap(extensions_);
  }
  while (!services.empty()) services.pop_back();  // newest first
}

}  // namespace akt::internal
