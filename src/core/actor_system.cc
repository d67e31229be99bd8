#include "akt/system.h"
#include "system_impl.h"

namespace akt {

ActorSystem::ActorSystem(SystemOptions options)
    : impl_(new internal::SystemImpl(this, std::move(options))) {}

ActorSystem::~ActorSystem() {
  impl_->Stop().IgnoreError();
  impl_->ReleaseRoot();
  // Cells still referenced by PIDs keep the internals alive; release ours.
  impl_.release()->Release();
}

Status ActorSystem::Start() { return impl_->Start(); }
Status ActorSystem::Stop() { return impl_->Stop(); }
bool ActorSystem::running() const {
  return impl_->state() == internal::SystemImpl::State::kRunning;
}

Result<PID> ActorSystem::Spawn(std::string name, ActorFactory factory, SpawnOptions options) {
  return impl_->Spawn(nullptr, std::move(name), std::move(factory), options);
}

Result<PID> ActorSystem::ActorOf(std::string_view name) const {
  return impl_->LookupAnywhere(name);
}

Status ActorSystem::SendAsync(std::string_view name, Message msg) {
  Result<PID> pid = impl_->LookupAnywhere(name);
  if (!pid.ok()) {
    internal::Envelope* e = internal::NewEnvelope();
    e->msg = std::move(msg);
    impl_->DeadLetter(e, DeadLetterReason::kNoSuchActor, nullptr, name);
    return pid.status();
  }
  return pid->Tell(std::move(msg));
}

Result<Message> ActorSystem::SendSync(std::string_view name, Message msg, Duration timeout) {
  Result<PID> pid = impl_->LookupAnywhere(name);
  if (!pid.ok()) {
    internal::Envelope* e = internal::NewEnvelope();
    e->msg = std::move(msg);
    impl_->DeadLetter(e, DeadLetterReason::kNoSuchActor, nullptr, name);
    return pid.status();
  }
  return pid->Ask(std::move(msg), timeout);
}

Status ActorSystem::AddShutdownHook(std::string name, std::function<Status()> hook,
                                    ShutdownHookOptions options) {
  return impl_->AddShutdownHook(std::move(name), std::move(hook), options);
}
Status ActorSystem::RegisterExtension(std::shared_ptr<Extension> extension) {
  return impl_->RegisterExtension(std::move(extension));
}
std::shared_ptr<Extension> ActorSystem::GetExtension(std::string_view id) const {
  return impl_->GetExtension(id);
}
Status ActorSystem::RegisterDependencyType(std::string type_name, DependencyFactory factory) {
  return impl_->RegisterDependencyType(std::move(type_name), std::move(factory));
}
Result<std::shared_ptr<Dependency>> ActorSystem::RestoreDependency(std::string_view type_name,
                                                                   std::string_view bytes) const {
  return impl_->RestoreDependency(type_name, bytes);
}
SystemMetrics ActorSystem::Metrics() const { return impl_->Metrics(); }

EventStream& ActorSystem::events() { return impl_->events(); }
Scheduler& ActorSystem::scheduler() { return impl_->scheduler(); }
uint64_t ActorSystem::DeadLetterCount() const { return impl_->dead_letters(); }
uint64_t ActorSystem::DeadLetterCount(DeadLetterReason reason) const {
  return impl_->dead_letters(reason);
}
std::size_t ActorSystem::ActorCount() const { return impl_->actor_count(); }
const std::string& ActorSystem::name() const { return impl_->options().name; }
Logger& ActorSystem::logger() const { return impl_->logger(); }
const SystemOptions& ActorSystem::options() const { return impl_->options(); }

}  // namespace akt
