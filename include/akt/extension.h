// akt/extension.h — system-wide services and per-actor dependencies.
//
// An *extension* is a service registered once per actor system (a database
// pool, a metrics sink) that any actor can look up by id:
//
//   system.RegisterExtension(std::make_shared<Db>("postgres://localhost/shop")).IgnoreError();
//   auto db = ctx.system().GetExtension<Db>("db");  // null if absent
//
// A *dependency* is an object injected into one actor at spawn:
//
//   auto options = akt::SpawnOptions().WithDependencies({std::make_shared<Clock>("UTC")});
//   auto clock = ctx.GetDependency<Clock>("clock");
//
// Dependencies serialise themselves (Serialize + a factory registered per
// type with ActorSystem::RegisterDependencyType), so that a remote spawn or a
// relocation can re-create them on another node.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "akt/status.h"

namespace akt {

class Extension {
 public:
  virtual ~Extension() = default;
  // Unique per system.
  virtual std::string_view ID() const = 0;
};

class Dependency {
 public:
  virtual ~Dependency() = default;
  // Unique per actor.
  virtual std::string_view ID() const = 0;
  // The name its factory is registered under (RegisterDependencyType).
  virtual std::string_view TypeName() const = 0;
  // Bytes from which the registered factory re-creates an equal dependency.
  virtual Result<std::string> Serialize() const = 0;
};

// Re-creates a dependency from the bytes its Serialize produced.
using DependencyFactory =
    std::function<Result<std::shared_ptr<Dependency>>(std::string_view bytes)>;

}  // namespace akt
