// The snippets of README.md after its first (whole-program) block: a started
// `system` and the grain of "A grain needs no spawning".
// Used by <!-- doc-test: context=readme --> (see tests/docs/doc_examples.py).
#pragma once

#include <akt/akt.h>

namespace doc {

extern akt::ActorSystem system;

struct Deposit { int64_t cents; };
struct GetBalance {};

class Account : public akt::Grain {
 public:
  void OnReceive(akt::GrainContext& ctx) override;
};

}  // namespace doc
