// pkt-gen's latency histogram and sequence checker.
#include "stats.hpp"

#include <gtest/gtest.h>

namespace pktgen {
namespace {

TEST(Histogram, PercentilesWithinABucket) {
    Histogram h;
    for (std::uint64_t v = 1; v <= 10000; v++) h.add(v * 100); // 100 ns .. 1 ms, uniform
    EXPECT_EQ(h.count(), 10000u);
    EXPECT_EQ(h.min(), 100u);
    EXPECT_EQ(h.max(), 1000000u);
    EXPECT_NEAR(h.avg(), 500050.0, 1);
    for (double p : {50.0, 90.0, 99.0}) {
        double exact = p / 100 * 1e6;
        EXPECT_NEAR(double(h.percentile(p)), exact, exact * 0.13) << p;
    }
    auto c = h.log2_counts();
    std::uint64_t total = 0;
    for (auto n : c) total += n;
    EXPECT_EQ(total, 10000u);
    EXPECT_EQ(c[6], 1u); // 100 ns is in [64, 128)
}

TEST(Histogram, BucketsCoverEveryValueOnce) {
    Histogram h;
    const std::uint64_t values[] = {0, 3, 7, 8, 9, 15, 16, 100, 1000, 123456789};
    for (auto v : values) h.add(v);
    std::uint64_t total = 0, prev_hi = 0;
    bool first = true;
    h.for_each_bucket([&](std::uint64_t lo, std::uint64_t hi, std::uint64_t n) {
        EXPECT_LE(lo, hi);
        if (!first) {
            EXPECT_GT(lo, prev_hi) << "buckets in order, not overlapping";
        }
        first = false;
        prev_hi = hi;
        total += n;
        std::uint64_t inside = 0;
        for (auto v : values) inside += v >= lo && v <= hi;
        EXPECT_EQ(inside, n) << "[" << lo << ", " << hi << "]";
    });
    EXPECT_EQ(total, std::size(values));
}

TEST(SeqChecker, GapsDuplicatesAndReordering) {
    SeqChecker s;
    for (std::uint64_t v : {0, 1, 2, 5, 6, 3, 6, 7}) s.add(v);
    EXPECT_EQ(s.received(), 8u);
    EXPECT_EQ(s.missing(), 1u);    // 4 never came (3 came late)
    EXPECT_EQ(s.reordered(), 1u);  // 3
    EXPECT_EQ(s.duplicates(), 1u); // the second 6
    EXPECT_EQ(s.next(), 8u);
}

} // namespace
} // namespace pktgen
