#include <akt/message.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace akt {
namespace {

struct Small {
  int a;
  int b;
};
struct Big {
  char bytes[200];
  int tag;
};
struct Tracked {
  static inline int live = 0;
  static inline int copies = 0;
  Tracked() { ++live; }
  Tracked(const Tracked&) {
    ++live;
    ++copies;
  }
  Tracked(Tracked&&) noexcept { ++live; }
  ~Tracked() { --live; }
};
namespace ns {
struct Named {};
}  // namespace ns

TEST(Message, HoldsAnySmallTypeInline) {
  Message m = Small{1, 2};
  ASSERT_TRUE(m.Is<Small>());
  EXPECT_FALSE(m.Is<Big>());
  EXPECT_EQ(m.As<Small>()->b, 2);
  EXPECT_EQ(m.As<Big>(), nullptr);
}

TEST(Message, HoldsLargeTypesOnTheHeap) {
  Big b{};
  b.tag = 9;
  Message m = b;
  Message moved = std::move(m);
  EXPECT_TRUE(m.empty());
  ASSERT_TRUE(moved.Is<Big>());
  EXPECT_EQ(moved.As<Big>()->tag, 9);
}

TEST(Message, MovesWithoutCopyingTheValue) {
  Tracked::copies = 0;
  {
    Message m = Tracked{};
    Message n = std::move(m);
    Message o;
    o = std::move(n);
    EXPECT_TRUE(o.Is<Tracked>());
  }
  EXPECT_EQ(Tracked::copies, 0);
  EXPECT_EQ(Tracked::live, 0);  // destroyed exactly once
}

TEST(Message, MoveOnlyTypesWork) {
  Message m = std::make_unique<int>(3);
  ASSERT_TRUE(m.Is<std::unique_ptr<int>>());
  EXPECT_EQ(**m.As<std::unique_ptr<int>>(), 3);
  EXPECT_FALSE(m.copyable());
  EXPECT_TRUE(m.Clone().empty());
}

TEST(Message, CloneCopiesCopyableValues) {
  Message m = std::string("hello");
  Message c = m.Clone();
  ASSERT_TRUE(c.Is<std::string>());
  EXPECT_EQ(*c.As<std::string>(), "hello");
  EXPECT_EQ(*m.As<std::string>(), "hello");
}

TEST(Message, TypeNameIsDemangled) {
  Message m = ns::Named{};
  EXPECT_EQ(m.TypeName(), "akt::(anonymous namespace)::ns::Named");
  EXPECT_EQ(Message().TypeName(), "<empty>");
}

TEST(Message, ResetDestroysTheValue) {
  Message m = Tracked{};
  EXPECT_EQ(Tracked::live, 1);
  m.Reset();
  EXPECT_EQ(Tracked::live, 0);
  EXPECT_TRUE(m.empty());
}

}  // namespace
}  // namespace akt
