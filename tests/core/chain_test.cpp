// upio/chain.hpp: a frame split over buffers as an NS_MOREFRAG chain.
#include <upio/chain.hpp>
#include <upio/netmap_user.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace upio {
namespace {

// A netmap_ring of `n` slots with `n` buffers of `bs` bytes behind it; slot
// i holds buffer n - 1 - i, so a helper that confuses slot and buffer
// numbers writes to the wrong place.
struct TestRing {
    TestRing(std::uint32_t n, std::uint32_t bs)
        : mem(sizeof(netmap_ring) + n * sizeof(netmap_slot) + std::size_t(n) * bs + 128) {
        const auto at = (reinterpret_cast<std::uintptr_t>(mem.data()) + 63) & ~std::uintptr_t(63);
        r = reinterpret_cast<netmap_ring*>(at);
        r->num_slots = n;
        r->nr_buf_size = bs;
        r->buf_ofs = std::int64_t(sizeof(netmap_ring) + n * sizeof(netmap_slot));
        for (std::uint32_t i = 0; i < n; i++) {
            r->slot[i].buf_idx = n - 1 - i;
            r->slot[i].flags = NS_REPORT; // cleared by a write
            r->slot[i].len = 0xffff;
        }
    }
    // The chain from slot `cur` read back: its bytes, and its slot count.
    std::vector<std::uint8_t> read(std::uint32_t cur, std::uint32_t& slots) const {
        std::vector<std::uint8_t> out;
        slots = 0;
        for (;;) {
            const netmap_slot& s = r->slot[cur];
            const auto* b = reinterpret_cast<const std::uint8_t*>(NETMAP_BUF(r, s.buf_idx));
            out.insert(out.end(), b, b + s.len);
            slots++;
            cur = nm_ring_next(r, cur);
            if (!(s.flags & NS_MOREFRAG)) return out;
            if (slots > r->num_slots) return {};
        }
    }
    std::vector<unsigned char> mem;
    netmap_ring* r;
};

std::vector<std::uint8_t> pattern(std::size_t n, std::uint8_t seed) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; i++) v[i] = std::uint8_t(seed + i * 7 + (i >> 8));
    return v;
}

TEST(Chain, SlotsForALength) {
    EXPECT_EQ(chain_slots(0, 2048), 1u);
    EXPECT_EQ(chain_slots(60, 2048), 1u);
    EXPECT_EQ(chain_slots(2048, 2048), 1u);
    EXPECT_EQ(chain_slots(2049, 2048), 2u);
    EXPECT_EQ(chain_slots(9018, 2048), 5u);
    EXPECT_EQ(chain_slots(9018, 9018), 1u);
}

TEST(Chain, PutChainSplitsEveryLengthAndWraps) {
    constexpr std::uint32_t bs = 64, n = 8;
    for (std::size_t len : {std::size_t(1), std::size_t(60), std::size_t(64), std::size_t(65), std::size_t(128),
                            std::size_t(300), std::size_t(7 * 64)}) {
        for (std::uint32_t cur = 0; cur < n; cur++) {
            TestRing t(n, bs);
            const auto f = pattern(len, std::uint8_t(len + cur));
            const std::uint32_t end = nm_put_chain(t.r, cur, f.data(), len);
            const std::uint32_t want = chain_slots(len, bs);
            EXPECT_EQ(end, (cur + want) % n) << len << " from " << cur;
            std::uint32_t slots = 0;
            EXPECT_EQ(t.read(cur, slots), f) << len << " from " << cur;
            EXPECT_EQ(slots, want);
            for (std::uint32_t k = 0, s = cur; k < want; k++, s = nm_ring_next(t.r, s)) {
                const netmap_slot& sl = t.r->slot[s];
                EXPECT_EQ(sl.flags, k + 1 < want ? NS_MOREFRAG : 0) << "other flags are cleared";
                if (k + 1 < want) {
                    EXPECT_EQ(sl.len, bs) << "every slot but the last is full";
                }
            }
            // the slot after the chain is untouched
            if (want < n) {
                EXPECT_EQ(t.r->slot[end].len, 0xffff);
            }
        }
    }
}

TEST(Chain, GathersFragmentsOfAnyShapeIncludingEmptyOnes) {
    constexpr std::uint32_t bs = 100, n = 16;
    const auto f = pattern(1000, 3);
    // fragments of 1, 0, 99, 250, 0, 0, 333, 317 bytes
    const std::uint32_t sizes[] = {1, 0, 99, 250, 0, 0, 333, 317};
    std::vector<FrameFragment> frags;
    std::uint32_t off = 0;
    for (std::uint32_t s : sizes) {
        frags.push_back({reinterpret_cast<const char*>(f.data()) + off, s});
        off += s;
    }
    ASSERT_EQ(off, f.size());
    TestRing t(n, bs);
    std::size_t calls = 0;
    auto next = [&, i = std::size_t(0)]() mutable {
        calls++;
        return frags.at(i++);
    };
    std::size_t copied = 0;
    auto copy = [&](char* d, const char* s, std::size_t c) {
        copied += c;
        std::memcpy(d, s, c);
    };
    auto buf = [&](const netmap_slot& s) { return NETMAP_BUF(t.r, s.buf_idx); };
    const std::uint32_t end = split_frame(t.r->slot, n, 12, bs, 1000, next, buf, copy);
    EXPECT_EQ(end, (12 + 10) % n);
    std::uint32_t slots = 0;
    EXPECT_EQ(t.read(12, slots), f);
    EXPECT_EQ(slots, 10u);
    EXPECT_EQ(copied, 1000u);
    EXPECT_EQ(calls, frags.size()) << "every fragment read once, none past the frame";
}

TEST(Chain, EmptyFrameTakesOneEmptySlot) {
    TestRing t(4, 64);
    EXPECT_EQ(nm_put_chain(t.r, 3, nullptr, 0), 0u);
    EXPECT_EQ(t.r->slot[3].len, 0u);
    EXPECT_EQ(t.r->slot[3].flags, 0u);
}

TEST(Chain, SlotCountIsTheCallersNotTheHeaders) {
    // split_frame wraps at the count it is given: a header a client
    // scribbled on cannot move the writes past the slots.
    TestRing t(4, 64);
    t.r->num_slots = 1000;
    const auto f = pattern(200, 9);
    const FrameFragment whole{reinterpret_cast<const char*>(f.data()), 200};
    auto buf = [&](const netmap_slot& s) { return NETMAP_BUF(t.r, s.buf_idx); };
    EXPECT_EQ(split_frame(t.r->slot, 4, 2, 64, 200, [&] { return whole; }, buf), 2u);
    t.r->num_slots = 4;
    std::uint32_t slots = 0;
    EXPECT_EQ(t.read(2, slots), f);
    EXPECT_EQ(slots, 4u);
}

} // namespace
} // namespace upio
