// The header half of the doc_examples self-test (CTest doc_examples_selftest_header):
// three comment examples, of which one must fail; the checker must find
// exactly these three and not the prose continuation below.
//
//   akt::Result<akt::PID> counter = system.Spawn<Counter>("counter");
//   if (!counter.ok()) return counter.status();
//
// A sentence that goes on
//   over an indented line is prose, not an example.
//
// doc-test: context=headers wrap=class
//   akt::Status PreStart(akt::Context& ctx) override {
//     return ctx.system().scheduler().Schedule(ctx.self(), Flush{}, 100ms).status();
//   }
//
// This one discards a [[nodiscard]] Result: a warning, so a failure.
//
//   system.Spawn<Counter>("counter");
#pragma once
