#include "akt/context.h"

#include "actor_cell.h"
#include "internal/access.h"
#include "system_impl.h"

namespace akt {

using internal::ActorCell;
using internal::Envelope;

const PID& Context::self() const { return cell_->self(); }
ActorSystem& Context::system() const { return cell_->system()->owner(); }
Logger& Context::logger() const { return cell_->system()->logger(); }

Result<PID> Context::Spawn(std::string name, ActorFactory factory, SpawnOptions options) {
  return cell_->system()->Spawn(cell_, std::move(name), std::move(factory), options);
}

std::vector<PID> Context::Children() const { return cell_->Children(); }

std::shared_ptr<Dependency> Context::GetDependency(std::string_view id) const {
  return cell_->dependency(id);
}

std::shared_ptr<Extension> Context::GetExtension(std::string_view id) const {
  return cell_->system()->GetExtension(id);
}

Status Context::Tell(const PID& to, Message msg) {
  if (!to) return NotFoundError("tell to an empty PID");
  Envelope* e = internal::NewEnvelope();
  e->msg = std::move(msg);
  cell_->AddRef();
  e->sender = cell_;
  return internal::CellOf(to)->PostUser(e);
}

void Context::Watch(const PID& to) { cell_->Watch(internal::CellOf(to)); }
void Context::Unwatch(const PID& to) { cell_->Unwatch(internal::CellOf(to)); }
void Context::Stop(const PID& pid) { pid.Stop(); }

namespace {
Envelope* TakeRoute(Envelope* from);
}  // namespace

Message& ReceiveContext::message() { return env_->msg; }

const PID& ReceiveContext::sender() const {
  static const PID kNobody;
  // The envelope holds a counted raw pointer; expose it as a PID without
  // touching the count by keeping one cached per context.
  if (env_->sender == nullptr) return kNobody;
  if (!sender_cache_) {
    env_->sender->AddRef();
    sender_cache_ = internal::AdoptCell(env_->sender);
  }
  return sender_cache_;
}

Status ReceiveContext::Reply(Message reply) { return cell_->Reply(env_, std::move(reply)); }

void ReceiveContext::Err(Status error) {
  cell_->ReportError(std::make_exception_ptr(ActorError(std::move(error))));
}

void ReceiveContext::Err(std::exception_ptr error) { cell_->ReportError(std::move(error)); }

void ReceiveContext::Unhandled() { unhandled_ = true; }

Status ReceiveContext::Forward(const PID& to) {
  if (!to) return NotFoundError("forward to an empty PID");
  // A new envelope that inherits the sender and the pending reply.
  Envelope* e = TakeRoute(env_);
  e->msg = std::move(env_->msg);
  return internal::CellOf(to)->PostUser(e);
}

namespace {
// Moves the reply route (asker slot or requester) into a fresh envelope; the
// sender is shared, so ctx.sender() still works afterwards.
Envelope* TakeRoute(Envelope* from) {
  Envelope* e = internal::NewEnvelope();
  if (from->sender != nullptr) from->sender->AddRef();
  e->sender = from->sender;
  e->reply_kind = from->reply_kind;
  if (from->expects_reply()) from->reply_kind = internal::ReplyKind::kAnswered;
  if (!e->expects_reply()) e->reply_kind = internal::ReplyKind::kNone;
  e->request_id = from->request_id;
  if (e->reply_kind == internal::ReplyKind::kSlot) {
    e->slot = from->slot;
  } else if (e->reply_kind == internal::ReplyKind::kRequest) {
    e->requester = from->requester;
  } else if (e->reply_kind == internal::ReplyKind::kRoute) {
    e->route = from->route;
  }
  return e;
}
}  // namespace

PendingReply ReceiveContext::TakeReply() {
  PendingReply p;
  p.env_ = TakeRoute(env_);
  cell_->AddRef();
  p.replier_ = cell_;
  return p;
}

PendingReply::PendingReply(PendingReply&& o) noexcept
    : env_(std::exchange(o.env_, nullptr)), replier_(std::exchange(o.replier_, nullptr)) {}

PendingReply& PendingReply::operator=(PendingReply&& o) noexcept {
  if (this != &o) {
    Reset();
    env_ = std::exchange(o.env_, nullptr);
    replier_ = std::exchange(o.replier_, nullptr);
  }
  return *this;
}

PendingReply::~PendingReply() { Reset(); }

void PendingReply::Reset() {
  if (env_ != nullptr) internal::FreeEnvelope(env_);
  if (replier_ != nullptr) replier_->Release();
  env_ = nullptr;
  replier_ = nullptr;
}

bool PendingReply::valid() const {
  return env_ != nullptr && (env_->expects_reply() || env_->sender != nullptr);
}

Status PendingReply::Reply(Message reply) {
  if (!valid()) return FailedPreconditionError("this request was already answered");
  Status s = replier_->Reply(env_, std::move(reply));
  Reset();
  return s;
}

Status PendingReply::Fail(Status error) {
  if (env_ == nullptr || !env_->expects_reply()) {
    return FailedPreconditionError("no requester waits for an answer");
  }
  ActorCell::FailReply(env_, std::move(error));
  Reset();
  return Status();
}

void RequestBuilder::Then(RequestCallback callback) && {
  if (cell_ == nullptr) return;  // made by a stale GrainContext
  cell_->StartRequest(std::move(to_), std::move(msg_), timeout_, std::move(callback),
                      has_mode_ ? &mode_ : nullptr);
}

void ReceiveContext::Become(Behavior behavior) { cell_->Become(std::move(behavior), false); }
void ReceiveContext::BecomeStacked(Behavior behavior) { cell_->Become(std::move(behavior), true); }
void ReceiveContext::UnBecomeStacked() { cell_->UnBecome(true); }
void ReceiveContext::UnBecome() { cell_->UnBecome(false); }

Status ReceiveContext::Stash() {
  if (stashed_) return FailedPreconditionError("the current message is already stashed");
  Status s = cell_->StashCurrent(env_);
  if (s.ok()) stashed_ = true;
  return s;
}

Status ReceiveContext::Unstash() { return cell_->Unstash(false); }
void ReceiveContext::UnstashAll() { cell_->Unstash(true).IgnoreError(); }
std::size_t ReceiveContext::StashSize() const { return cell_->stash_size(); }

}  // namespace akt
