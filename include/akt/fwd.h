// akt/fwd.h — forward declarations, so headers can name akt types cheaply.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace akt {

// All akt durations and deadlines use the steady clock.
using Clock = std::chrono::steady_clock;
using Duration = std::chrono::nanoseconds;
using TimePoint = Clock::time_point;

class Actor;
class ActorSystem;
class Context;
class Grain;
class GrainIdentity;
struct GrainInfo;
struct GrainOptions;
using GrainFactory = std::function<std::unique_ptr<Grain>()>;
class EventStream;
class Logger;
class Message;
class PID;
class ReceiveContext;
class Status;
class Supervisor;
struct MailboxSpec;
struct SpawnOptions;
struct SystemOptions;
template <typename T>
class Result;

namespace internal {
class ActorCell;
class SystemImpl;
struct Access;  // befriended by the handles; defined where the layers see it
}  // namespace internal

}  // namespace akt
