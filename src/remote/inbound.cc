// Inbound: a frame's way to its target and the one answer it gets
// (src/remote/remoting_internal.h lists the files).
#include <arpa/inet.h>
#include <fcntl.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <typeinfo>

#include "actor_cell.h"
#include "akt/remote/control.pb.h"
#include "cycle_clock.h"
#include "grain_registry.h"
#include "internal/access.h"
#include "remoting_impl.h"
#include "remoting_internal.h"
#include "reply_slot.h"
#include "tls.h"
#include "turn_hooks.h"

namespace akt {

// ---------------------------------------------------------------------------
// Receiving.

bool RemotingImpl::ChooseCodec(const std::vector<uint8_t>& offered, Compression* chosen,
                               std::string* why) {
  for (uint8_t id : offered) {
    if (!remote::ValidCodec(id)) continue;
    for (Compression c : options_.accept_compression) {
      if (static_cast<uint8_t>(c) == id) {
        *chosen = c;
        return true;
      }
    }
  }
  std::string o, a;
  for (uint8_t id : offered) {
    if (!o.empty()) o += ", ";
    if (remote::ValidCodec(id)) {
      o += CompressionName(static_cast<Compression>(id));
    } else {
      o.append(1, '#').append(std::to_string(id));  // not "#" + string: GCC 12 -Wrestrict
    }
  }
  for (Compression c : options_.accept_compression) {
    if (!a.empty()) a += ", ";
    a += CompressionName(c);
  }
  *why = "no common compression: the client offers [" + o + "], the server accepts [" + a + "]";
  return false;
}

ActorCell* RemotingImpl::ResolveTarget(Connection* c, std::string_view name) {
  auto alive = [](const PID& p) {
    return internal::CellOf(p)->life() != ActorCell::Life::kTerminated;
  };
  if (PID* hit = c->targets_.Find(name, alive)) return internal::CellOf(*hit);
  Result<PID> r = sys_->Lookup(name);
  if (!r.ok()) return nullptr;
  return internal::CellOf(c->targets_.Put(name, *r));
}

ActorCell* RemotingImpl::ResolveSender(Connection* c, std::string_view address) {
  if (PID* hit = c->senders_.Find(address, [](const PID&) { return true; }))
    return internal::CellOf(*hit);
  Result<PID> r = ActorOfFrom(address, c->node_known() ? &c->peer_node() : nullptr);
  if (!r.ok()) return nullptr;
  return internal::CellOf(c->senders_.Put(address, *r));
}

Status RemotingImpl::ParsePayload(Connection* c, std::string_view type, std::string_view payload,
                                  Message* out) {
  const google::protobuf::Message* proto = nullptr;
  if (auto* hit = c->types_.Find(type, [](const auto&) { return true; })) {
    proto = *hit;
  } else {
    const google::protobuf::Descriptor* d =
        google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
            std::string(type));
    if (d != nullptr)
      proto = google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
    c->types_.Put(type, proto);
  }
  if (proto == nullptr) {
    return NotFoundError("unknown message type '" + std::string(type) + "' on " + system_name_ +
                         " (its generated code is not linked in)");
  }
  google::protobuf::Message* m = proto->New();
  if (!m->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    delete m;
    return InvalidArgumentError("the payload does not parse as " + std::string(type));
  }
  *out = internal::MessageAccess::Wrap(m);
  return Status();
}

void RemotingImpl::HandleFrame(Connection* c, const wire::Frame& f) {
  switch (f.kind) {
    case wire::Kind::kTell:
    case wire::Kind::kAsk: {
      bool ask = f.kind == wire::Kind::kAsk;
      if (f.target == wire::kControlTarget) {
        HandleControl(c, f);  // a TELL is carried out too, answered only on failure
        return;
      }
      Message m;
      if (!ParseOrRefuse(c, f, &m)) return;
      Envelope* e = internal::NewEnvelope();
      e->msg = std::move(m);
      if (!f.sender.empty()) {
        if (ActorCell* sp = ResolveSender(c, f.sender)) {
          sp->AddRef();
          e->sender = sp;
        }
      }
      if (f.deadline_us != 0 || !f.metadata.empty()) {
        auto* meta = new internal::EnvelopeMeta();
        // The budget counts from when the frame's bytes were read.
        if (f.deadline_us != 0) meta->deadline_ns = c->read_ns() + int64_t{f.deadline_us} * 1000;
        if (!wire::DecodeHeaders(f.metadata, &meta->headers)) {
          delete meta;
          internal::FreeEnvelope(e);
          c->Refuse(f.correlation, Status(StatusCode::kProtocolError, "malformed metadata"));
          return;
        }
        e->meta = meta;
      }
      if (ask) {
        c->AddRef();
        c->OpenInbound();
        e->route = c;
        e->reply_kind = ReplyKind::kRoute;
        e->request_id = f.correlation;
      }
      if (ActorCell* target = ResolveTarget(c, f.target)) {
        Status st;
        // A refused ask is answered with an error by PostUser itself.
        if (target->TryPostUser(e, &st)) return;  // else it terminated just now
      }
      if (internal::IsGrainActorName(f.target)) {
        // A grain: activated here on demand (again, if it just deactivated).
        Status st = internal::DeliverToGrainByActorName(sys_, f.target, e, c->peer_node().endpoint);
        if (!st.ok() && !ask) c->Refuse(f.correlation, st);
        return;
      }
      Status nf = NotFoundError("no actor named '" + std::string(f.target) + "' on " + endpoint_);
      if (ask) {
        ActorCell::FailReply(e, nf);
      } else {
        c->Refuse(f.correlation, nf);
      }
      internal::FreeEnvelope(e);
      return;
    }
    case wire::Kind::kReply:
    case wire::Kind::kError: {
      Pending p;
      if (!c->TakePending(f.correlation, &p)) {
        if (f.kind == wire::Kind::kError && f.correlation == 0) {
          uint32_t code = 0;
          std::string text;
          wire::DecodeError(f.payload, &code, &text);
          sys_->logger().Log(LogLevel::kWarn, "remoting: " + c->peer() + " reports: " + text);
        }
        return;  // late answer: its caller gave up
      }
      if (f.kind == wire::Kind::kReply) {
        Message m;
        Status s = ParsePayload(c, f.type, f.payload, &m);
        if (s.ok()) {
          Deliver(p, std::move(m));
        } else {
          Deliver(p, s);
        }
      } else {
        uint32_t code = 0;
        std::string text;
        if (!wire::DecodeError(f.payload, &code, &text)) {
          Deliver(p, Status(StatusCode::kProtocolError, "malformed error reply"));
        } else {
          Deliver(p, Status(CodeFromWire(code), text));
        }
      }
      return;
    }
    case wire::Kind::kPing: {
      wire::Frame pong;
      pong.kind = wire::Kind::kPong;
      pong.correlation = f.correlation;
      if (c->Enqueue(pong, nullptr, {}).ok()) c->FlushSoon();
      return;
    }
    case wire::Kind::kPong:
    case wire::Kind::kNode:  // taken by the connection before dispatch
      return;
  }
}

void RemotingImpl::Deliver(Pending& p, Result<Message> answer) {
  switch (p.kind) {
    case Pending::Kind::kSlot:
      if (answer.ok()) {
        p.slot->Complete(std::move(*answer));
      } else {
        p.slot->Fail(answer.status());
      }
      p.slot->Release();
      break;
    case Pending::Kind::kRequest: {
      Envelope* r = internal::NewEnvelope();
      r->sys = internal::SysKind::kRequestReply;
      r->request_id = p.id;
      if (answer.ok()) {
        r->msg = std::move(*answer);
      } else {
        r->is_error = true;
        r->msg = answer.status();
      }
      if (p.replier != nullptr) {
        p.replier->AddRef();
        r->sender = p.replier;
      }
      p.requester->PostSystem(r);
      p.requester->Release();
      break;
    }
    case Pending::Kind::kRoute:
      if (answer.ok()) {
        p.route->Reply(p.id, std::move(*answer));
      } else {
        p.route->Fail(p.id, answer.status());
      }
      p.route->Release();
      break;
  }
  if (p.replier != nullptr) p.replier->Release();
  p.replier = nullptr;
}

}  // namespace akt
