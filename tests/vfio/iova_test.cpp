// IOVA allocation inside the IOMMU's usable ranges.
#include "core/vfio.hpp"

#include <gtest/gtest.h>

using namespace upio;

namespace {

// What QEMU's intel-iommu reports with aw-bits=39: all but the MSI window.
IovaAllocator q35() {
    IovaAllocator a;
    a.set_ranges({{0, 0xfedfffff}, {0xfef00000, (1ull << 39) - 1}});
    return a;
}

} // namespace

TEST(Iova, NeverTheFirstMegabyte) {
    auto a = q35();
    auto i = a.allocate(4096, 4096);
    ASSERT_TRUE(i);
    EXPECT_EQ(i.value(), IovaAllocator::lowest);
}

TEST(Iova, Aligned) {
    auto a = q35();
    ASSERT_TRUE(a.allocate(4096, 4096));
    auto huge = a.allocate(2u << 20, 2u << 20);
    ASSERT_TRUE(huge);
    EXPECT_EQ(huge.value() % (2u << 20), 0u);
    EXPECT_EQ(huge.value(), 2u << 20);
}

TEST(Iova, BlocksDoNotOverlapAndAreReused) {
    auto a = q35();
    auto x = a.allocate(0x10000, 4096), y = a.allocate(0x10000, 4096);
    ASSERT_TRUE(x && y);
    EXPECT_GE(y.value(), x.value() + 0x10000);
    EXPECT_TRUE(a.release(x.value()));
    EXPECT_FALSE(a.release(x.value()));
    auto z = a.allocate(0x8000, 4096);
    ASSERT_TRUE(z);
    EXPECT_EQ(z.value(), x.value()); // first fit
}

TEST(Iova, SkipsTheReservedWindow) {
    IovaAllocator a;
    a.set_ranges({{0, 0x3fffff}, {0x1000000, 0x1ffffff}});
    auto x = a.allocate(0x300000, 4096); // fits below 4 MiB
    ASSERT_TRUE(x);
    auto y = a.allocate(0x200000, 4096); // does not any more: next range
    ASSERT_TRUE(y);
    EXPECT_EQ(y.value(), 0x1000000u);
}

TEST(Iova, FullIsAnError) {
    IovaAllocator a;
    a.set_ranges({{0, 0x1fffff}});
    ASSERT_TRUE(a.allocate(0x100000, 4096));
    auto r = a.allocate(4096, 4096);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ENOSPC);
}

TEST(Iova, BadRequests) {
    auto a = q35();
    EXPECT_FALSE(a.allocate(0, 4096));
    EXPECT_FALSE(a.allocate(4096, 3000));
}

TEST(Iova, TopOfTheAddressSpace) {
    IovaAllocator a;
    a.set_ranges({{0xffffffffff000000ull, ~0ull}});
    auto x = a.allocate(0x1000000, 4096);
    ASSERT_TRUE(x);
    EXPECT_FALSE(a.allocate(4096, 4096)); // no wrap-around
}
