// akt/mailbox.h — choosing an actor's mailbox.
//
// The default mailbox is an unbounded lock-free MPSC queue: one atomic
// exchange per message, no lock. The others trade a little speed for control:
//
//   using akt::MailboxSpec, akt::Message;
//   auto bounded = akt::SpawnOptions().WithMailbox(
//       MailboxSpec::Bounded(1000, akt::FullPolicy::kReject));
//   auto by_priority = akt::SpawnOptions().WithMailbox(MailboxSpec::Priority(
//       [](const Message& a, const Message& b) { return Prio(a) > Prio(b); }));
//   auto fair = akt::SpawnOptions().WithMailbox(MailboxSpec::FairPerSender());
//
// System messages (stop, watch, supervision) never wait behind user messages,
// and are never refused by a bounded mailbox.
#pragma once

#include <cstddef>
#include <functional>

#include "akt/message.h"

namespace akt {

enum class MailboxKind { kUnbounded, kBounded, kPriority, kFairPerSender };

// What a full bounded mailbox does with one more message. Nothing is ever
// dropped silently; the worker is never blocked.
enum class FullPolicy {
  kReject,      // Tell/Ask return kMailboxFull; the message goes to dead letters
  kDeadLetter,  // Tell returns ok; the message goes to dead letters (counted)
};

struct MailboxSpec {
  MailboxKind kind = MailboxKind::kUnbounded;
  std::size_t capacity = 0;  // kBounded only
  FullPolicy full_policy = FullPolicy::kReject;
  // kPriority only: true when `a` must be processed before `b`. Equal
  // priorities keep arrival order (stable).
  std::function<bool(const Message& a, const Message& b)> before;

  static MailboxSpec Unbounded() { return {}; }
  static MailboxSpec Bounded(std::size_t capacity, FullPolicy policy = FullPolicy::kReject) {
    MailboxSpec s;
    s.kind = MailboxKind::kBounded;
    s.capacity = capacity;
    s.full_policy = policy;
    return s;
  }
  static MailboxSpec Priority(std::function<bool(const Message&, const Message&)> before) {
    MailboxSpec s;
    s.kind = MailboxKind::kPriority;
    s.before = std::move(before);
    return s;
  }
  // Round-robin between senders: one chatty sender cannot starve the others.
  // Messages without a sender share one lane.
  static MailboxSpec FairPerSender() {
    MailboxSpec s;
    s.kind = MailboxKind::kFairPerSender;
    return s;
  }
};

}  // namespace akt
