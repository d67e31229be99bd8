// akt/message.h — a type-erased, move-only message.
//
// Any movable C++ type can be sent to an actor. Locally it travels by move,
// never copied or serialised. Small types (up to `Message::kInlineSize` bytes,
// nothrow-movable, alignment <= 8) live inside the message itself with no
// allocation; larger ones are boxed on the heap once.
//
// doc-test: context=headers body-from="akt::Message m"
//   struct Deposit { std::string account; int64_t cents; };
//   akt::Message m = Deposit{"acc-1", 500};
//   if (const Deposit* d = m.As<Deposit>()) std::cout << d->cents << "\n";
//
// In an actor, `ReceiveContext::Match` dispatches on the type with lambdas.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace akt {

class Message;

namespace internal {

struct MessageAccess;

// Per-type operations; one static instance per message type.
struct TypeOps {
  void (*destroy)(void* storage);
  // Moves the value out of `src` storage into uninitialised `dst` storage and
  // destroys the source.
  void (*relocate)(void* dst, void* src);
  // Copies into uninitialised `dst`; null when the type is not copyable.
  void (*copy)(void* dst, const void* src);
  void* (*get)(void* storage);
  std::string_view (*name)();
  // The content as a protobuf message, or null when the type is not one
  // (only protobuf messages can cross a process).
  const google::protobuf::Message* (*proto)(const void* storage);
  // Set only for a protobuf message that arrived from another process: the
  // C++ type of the object it was parsed into (it is matched by As<T>).
  const std::type_info* (*dynamic_type)(const void* storage);
};

// A generated protobuf message class (has the static descriptor and default
// instance accessors protoc emits).
template <typename T>
concept GeneratedProto = requires {
  T::descriptor();
  T::default_instance();
};

// Demangled name of a std::type_info name, cached per type by the caller.
std::string_view DemangledTypeName(const char* mangled);

template <typename T>
std::string_view TypeNameOf();

}  // namespace internal

// Identifies a message type. Equal for the same type in the same program.
using TypeId = const internal::TypeOps*;

template <typename T>
TypeId TypeIdOf();

class Message {
 public:
  static constexpr std::size_t kInlineSize = 40;

  Message() = default;

  // Wraps any movable value. Not explicit: `pid.Tell(Ping{})` just works.
  template <typename T, typename D = std::decay_t<T>,
            typename = std::enable_if_t<!std::is_same_v<D, Message>>>
  Message(T&& value) {  // NOLINT(google-explicit-constructor)
    Emplace<D>(std::forward<T>(value));
  }

  Message(Message&& other) noexcept : ops_(other.ops_) {
    if (ops_) {
      ops_->relocate(storage_, other.storage_);
      other.ops_ = nullptr;
    }
  }
  Message& operator=(Message&& other) noexcept {
    if (this != &other) {
      Reset();
      ops_ = other.ops_;
      if (ops_) {
        ops_->relocate(storage_, other.storage_);
        other.ops_ = nullptr;
      }
    }
    return *this;
  }
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  ~Message() { Reset(); }

  // Replaces the content with a T built in place from `args`.
  template <typename T, typename... Args>
  T& Emplace(Args&&... args);

  bool empty() const { return ops_ == nullptr; }
  TypeId type() const { return ops_; }
  // Demangled C++ type name, e.g. "shop::Deposit"; "<empty>" when empty.
  std::string_view TypeName() const;

  // True when the content is a T. A protobuf message received from another
  // process is a T when it was parsed into the generated class T.
  template <typename T>
  bool Is() const {
    if (ops_ == TypeIdOf<T>()) return true;
    if constexpr (internal::GeneratedProto<T>) {
      return ops_ != nullptr && ops_->dynamic_type != nullptr &&
             *ops_->dynamic_type(storage_) == typeid(T);
    }
    return false;
  }
  // Pointer to the content if it is a T, else null.
  template <typename T>
  T* As() {
    return Is<T>() ? static_cast<T*>(ops_->get(storage_)) : nullptr;
  }
  template <typename T>
  const T* As() const {
    return Is<T>() ? static_cast<const T*>(ops_->get(const_cast<unsigned char*>(storage_)))
                   : nullptr;
  }

  // The content as a protobuf message, or null when it is not one.
  const google::protobuf::Message* AsProto() const {
    return ops_ != nullptr && ops_->proto != nullptr ? ops_->proto(storage_) : nullptr;
  }

  // A copy when the content is copyable; an empty message otherwise.
  bool copyable() const { return ops_ != nullptr && ops_->copy != nullptr; }
  Message Clone() const;

  void Reset() {
    if (ops_) {
      ops_->destroy(storage_);
      ops_ = nullptr;
    }
  }

 private:
  template <typename T>
  static constexpr bool kInline = sizeof(T) <= kInlineSize &&
                                  alignof(T) <= 8 && std::is_nothrow_move_constructible_v<T>;
  template <typename T>
  friend struct MessageOpsFor;
  friend struct internal::MessageAccess;

  const internal::TypeOps* ops_ = nullptr;
  alignas(8) unsigned char storage_[kInlineSize];
};

// ---------------------------------------------------------------------------
// Implementation details.

template <typename T>
struct MessageOpsFor {
  static void Destroy(void* s) {
    if constexpr (Message::kInline<T>) {
      std::launder(reinterpret_cast<T*>(s))->~T();
    } else {
      delete *reinterpret_cast<T**>(s);
    }
  }
  static void Relocate(void* dst, void* src) {
    if constexpr (Message::kInline<T>) {
      T* from = std::launder(reinterpret_cast<T*>(src));
      ::new (dst) T(std::move(*from));
      from->~T();
    } else {
      std::memcpy(dst, src, sizeof(T*));
    }
  }
  static void Copy(void* dst, const void* src) {
    if constexpr (std::is_copy_constructible_v<T>) {
      if constexpr (Message::kInline<T>) {
        ::new (dst) T(*std::launder(reinterpret_cast<const T*>(src)));
      } else {
        T* p = new T(**reinterpret_cast<T* const*>(src));
        std::memcpy(dst, &p, sizeof(T*));
      }
    }
  }
  static void* Get(void* s) {
    if constexpr (Message::kInline<T>) {
      return std::launder(reinterpret_cast<T*>(s));
    } else {
      return *reinterpret_cast<T**>(s);
    }
  }
  static std::string_view Name() { return internal::TypeNameOf<T>(); }
  static const google::protobuf::Message* Proto(const void* s) {
    if constexpr (std::is_base_of_v<google::protobuf::Message, T>) {
      return static_cast<const T*>(Get(const_cast<void*>(s)));
    } else {
      return nullptr;
    }
  }
  static constexpr internal::TypeOps kOps{
      &Destroy,
      &Relocate,
      std::is_copy_constructible_v<T> ? &Copy : nullptr,
      &Get,
      &Name,
      std::is_base_of_v<google::protobuf::Message, T> ? &Proto : nullptr,
      nullptr};
};

template <typename T>
TypeId TypeIdOf() {
  return &MessageOpsFor<std::decay_t<T>>::kOps;
}

template <typename T>
std::string_view internal::TypeNameOf() {
  static const std::string_view name = internal::DemangledTypeName(typeid(T).name());
  return name;
}

template <typename T, typename... Args>
T& Message::Emplace(Args&&... args) {
  static_assert(std::is_move_constructible_v<T>, "messages must be movable");
  Reset();
  T* p;
  if constexpr (kInline<T>) {
    p = ::new (static_cast<void*>(storage_)) T(std::forward<Args>(args)...);
  } else {
    p = new T(std::forward<Args>(args)...);
    std::memcpy(storage_, &p, sizeof(T*));
  }
  ops_ = &MessageOpsFor<T>::kOps;
  return *p;
}

inline Message Message::Clone() const {
  Message m;
  if (copyable()) {
    ops_->copy(m.storage_, storage_);
    m.ops_ = ops_;
  }
  return m;
}

}  // namespace akt
