// The remoting snippets of README.md and docs/guide.md: <akt/remote.h>, the
// example protobuf messages (tests/docs/shop.proto, package `shop`) and
// stand-ins for the names a snippet takes from an earlier one.
// Used by <!-- doc-test: context=remote --> (see tests/docs/doc_examples.py).
#pragma once

#include <akt/akt.h>
#include <akt/remote.h>

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "shop.pb.h"

namespace doc {
using namespace std::chrono_literals;

extern akt::ActorSystem system;
extern akt::ReceiveContext& ctx;
extern akt::PID pid;

// "Enabling it".
extern akt::SystemOptions opts;
extern akt::RemoteOptions ro;
extern akt::Result<akt::Remoting*> remoting;

// "Addresses, lookup and remote spawn".
extern akt::Remoting* r;
extern akt::PID local_pid;
class DbConfig : public akt::Dependency {
 public:
  explicit DbConfig(std::string url);
  std::string_view ID() const override;
  std::string_view TypeName() const override;
  akt::Result<std::string> Serialize() const override;
};
akt::Result<std::shared_ptr<akt::Dependency>> RestoreDbConfig(std::string_view bytes);

// "Grains on other nodes".
extern akt::Result<akt::GrainIdentity> id;

// "Messages must be protobuf": inside a Receive of an actor that keeps a
// balance.
extern int64_t balance_;
shop::Balance MakeBalance();

// "Deadlines and headers".
extern shop::Deposit msg;

// README.md: an actor that handles shop::Add and shop::Get.
class ProtoCounter : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override;
};

}  // namespace doc
