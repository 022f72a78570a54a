// Missing prerequisites: skip, or fail when every prerequisite is required.
//
// A test that needs something the machine may lack (root, a network
// namespace, reserved hugepages, a readable PCI tree) skips without it. A
// skip proves nothing, so where everything can be had -- scripts/test run as
// root, after scripts/install-deps, exports UPIO_REQUIRE_ALL=1 -- the same
// test fails instead, naming what was missing. Situations a machine cannot be
// put in (no NUMA, one CPU, /dev/vfio present for a test of its absence)
// stay plain GTEST_SKIPs: scripts/test lists those it allows.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <string_view>

namespace upio::test {
inline bool require_all() {
    const char* v = std::getenv("UPIO_REQUIRE_ALL");
    return v && std::string_view(v) == "1";
}
} // namespace upio::test

// Use in a test body or SetUp(): returns from it (skipped or failed).
#define UPIO_MISSING_PREREQUISITE(why)                                                                    \
    do {                                                                                                  \
        const std::string upio_missing_ = (why);                                                          \
        if (::upio::test::require_all())                                                                  \
            FAIL() << "missing prerequisite (a failure, not a skip, under UPIO_REQUIRE_ALL=1): "           \
                   << upio_missing_;                                                                      \
        GTEST_SKIP() << upio_missing_;                                                                    \
    } while (0)
