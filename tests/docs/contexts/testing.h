// Test snippets of docs/guide.md that leave out their includes:
// GoogleTest, the deterministic fixture, the simulated network and the test probes.
// Used by <!-- doc-test: context=guide,testing --> (see tests/docs/doc_examples.py).
#pragma once

#include <akt/akt.h>
#include <akt/testing/deterministic.h>
#include <akt/testing/sim.h>
#include <akt/testkit.h>
#include <gtest/gtest.h>
