#include "akt/pid.h"

#include <thread>

#include "actor_cell.h"
#include "internal/access.h"
#include "system_impl.h"
#include "turn_hooks.h"

namespace akt {

using internal::ActorCell;

PID::PID(const PID& other) : cell_(other.cell_) {
  if (cell_ != nullptr) cell_->AddRef();
}

PID& PID::operator=(const PID& other) {
  if (cell_ != other.cell_) {
    if (other.cell_ != nullptr) other.cell_->AddRef();
    // Update before releasing: this PID may live inside the cell it releases.
    ActorCell* old = std::exchange(cell_, other.cell_);
    if (old != nullptr) old->Release();
  }
  return *this;
}

PID& PID::operator=(PID&& other) noexcept {
  if (this != &other) {
    ActorCell* old = std::exchange(cell_, std::exchange(other.cell_, nullptr));
    if (old != nullptr) old->Release();
  }
  return *this;
}

PID::~PID() {
  if (cell_ != nullptr) cell_->Release();
}

std::string_view PID::Name() const { return cell_ ? std::string_view(cell_->name()) : ""; }

const std::string& PID::Address() const {
  static const std::string kEmpty;
  return cell_ ? cell_->address() : kEmpty;
}

uint64_t PID::Id() const { return cell_ ? cell_->id() : 0; }

namespace {
Status Send(ActorCell* cell, Message&& msg, ActorCell* sender) {
  if (cell == nullptr) return NotFoundError("send to an empty PID");
  internal::Envelope* e = internal::NewEnvelope();
  e->msg = std::move(msg);
  if (sender != nullptr) {
    sender->AddRef();
    e->sender = sender;
  }
  return cell->PostUser(e);
}
}  // namespace

Status PID::Tell(Message msg) const { return Send(cell_, std::move(msg), nullptr); }

Status PID::Forward(Message msg, const PID& sender) const {
  return Send(cell_, std::move(msg), sender.cell_);
}

Status PID::BatchTell(std::vector<Message> msgs) const {
  // Every message is offered (a refused one goes to dead letters, counted);
  // the first failure is returned.
  Status first;
  internal::DeferWrites batch;  // a remote target gets the whole batch in one write
  for (Message& m : msgs) {
    Status s = Send(cell_, std::move(m), nullptr);
    if (!s.ok() && first.ok()) first = std::move(s);
  }
  return first;
}

Result<Message> PID::Ask(Message msg, Duration timeout) const {
  if (cell_ == nullptr) return NotFoundError("ask to an empty PID");
  return cell_->system()->Ask(cell_, std::move(msg), timeout);
}

std::vector<Result<Message>> PID::BatchAsk(std::vector<Message> msgs, Duration timeout) const {
  if (cell_ == nullptr) {
    std::vector<Result<Message>> out;
    for (std::size_t i = 0; i < msgs.size(); ++i) out.emplace_back(NotFoundError("empty PID"));
    return out;
  }
  return cell_->system()->BatchAsk(cell_, std::move(msgs), timeout);
}

void PID::Stop() const {
  if (cell_ != nullptr) cell_->PostSystem(internal::SysKind::kStop);
}
void PID::Restart() const {
  if (cell_ != nullptr) cell_->PostSystem(internal::SysKind::kRestart);
}
void PID::Kill() const {
  if (cell_ != nullptr) cell_->PostSystem(internal::SysKind::kKill);
}
void PID::Reinstate() const {
  if (cell_ != nullptr) cell_->PostSystem(internal::SysKind::kReinstate);
}

bool PID::AwaitTermination(Duration timeout) const {
  if (cell_ == nullptr) return true;
  internal::SystemImpl* sys = cell_->system();
  TimePoint deadline = sys->Now() + timeout;
  if (sys->dispatcher().deterministic()) {
    while (cell_->life() != ActorCell::Life::kTerminated) {
      if (!sys->PumpUntil(deadline)) break;
    }
    return cell_->life() == ActorCell::Life::kTerminated;
  }
  // Termination is rare and not latency critical: poll with a growing sleep.
  auto nap = std::chrono::microseconds(20);
  while (cell_->life() != ActorCell::Life::kTerminated) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(nap);
    if (nap < std::chrono::milliseconds(5)) nap *= 2;
  }
  return true;
}

bool PID::IsRunning() const {
  if (cell_ == nullptr) return false;
  auto l = cell_->life();
  return l == ActorCell::Life::kRunning || l == ActorCell::Life::kSuspended ||
         l == ActorCell::Life::kRestarting;
}
bool PID::IsSuspended() const {
  return cell_ != nullptr && cell_->life() == ActorCell::Life::kSuspended;
}
uint64_t PID::ProcessedCount() const { return cell_ ? cell_->processed() : 0; }
Duration PID::LatestProcessingDuration() const {
  return cell_ ? cell_->last_duration() : Duration::zero();
}
uint32_t PID::RestartCount() const { return cell_ ? cell_->restarts() : 0; }
Duration PID::Uptime() const { return cell_ ? cell_->uptime() : Duration::zero(); }
std::size_t PID::MailboxSize() const { return cell_ ? cell_->mailbox_size() : 0; }

ActorMetrics PID::Metrics() const {
  ActorMetrics m;
  if (cell_ == nullptr) return m;
  m.processed = cell_->processed();
  m.failures = cell_->failures();
  m.restarts = cell_->restarts();
  m.stash_size = cell_->stash_size();
  m.mailbox_size = cell_->mailbox_size();
  m.uptime = cell_->uptime();
  m.latest_processing_duration = cell_->last_duration();
  return m;
}

PID PID::Parent() const {
  if (cell_ == nullptr) return PID();
  ActorCell* p = cell_->parent();
  if (p == nullptr || p == cell_->system()->root()) return PID();
  p->AddRef();
  return internal::AdoptCell(p);
}

ActorSystem* PID::system() const { return cell_ ? &cell_->system()->owner() : nullptr; }

}  // namespace akt
