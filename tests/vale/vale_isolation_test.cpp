// VALE isolation: a client that writes garbage into its rings loses its own
// frames; the switch survives and no other port's memory changes.
#include "vale_helpers.hpp"

#include <random>

namespace upio::test {
namespace {

struct Isolation : ::testing::Test {
    std::string sw = unique_switch();
    std::unique_ptr<Port> bad, good, sink;
    void SetUp() override {
        bad = vopen(sw + ":bad");
        good = vopen(sw + ":good");
        sink = vopen(sw + ":sink");
        ASSERT_TRUE(bad && good && sink);
        // sink's address is known behind sink
        ASSERT_TRUE(send(sink->tx_ring(0), bcast, mac(3)));
        ASSERT_EQ(sink->txsync(), 0);
        drain(*bad), drain(*good);
    }
    // good -> sink, checked frame by frame
    void good_traffic_still_flows(std::uint64_t seq) {
        drain(*sink); // make room
        ASSERT_TRUE(send(good->tx_ring(0), mac(3), mac(2), 2, seq, 200));
        ASSERT_EQ(good->txsync(), 0);
        auto rx = drain(*sink);
        std::vector<Rx> mine;
        for (auto& r : rx)
            if (r.src == mac(2)) mine.push_back(std::move(r));
        ASSERT_EQ(mine.size(), 1u);
        std::vector<char> want(200);
        fill(want.data(), 200, mac(3), mac(2), 2, seq);
        EXPECT_EQ(mine[0].bytes, want);
    }
};

TEST_F(Isolation, BufferIndexOutsideTheRegionIsRefused) {
    netmap_ring* r = bad->tx_ring(0);
    r->slot[r->cur].buf_idx = 0x7fffffff;
    r->slot[r->cur].len = 60;
    r->head = r->cur = nm_ring_next(r, r->cur);
    EXPECT_EQ(bad->txsync(), -EINVAL);
    EXPECT_GE(stats(sw + ":bad").prologue_errors, 1u);
    good_traffic_still_flows(1);
}

TEST_F(Isolation, LengthBeyondTheBufferIsRefused) {
    netmap_ring* r = bad->tx_ring(0);
    r->slot[r->cur].len = 65535;
    r->head = r->cur = nm_ring_next(r, r->cur);
    EXPECT_EQ(bad->txsync(), -EINVAL);
    good_traffic_still_flows(1);
}

TEST_F(Isolation, ReceiverScribblingOnItsFreeSlotsHurtsOnlyItself) {
    // The switch owns sink's slots beyond tail; sink writes garbage there anyway.
    netmap_ring* r = sink->rx_ring(0);
    for (std::uint32_t i = 0; i < r->num_slots; i++) r->slot[i].buf_idx = 0xdeadbeef - i;
    ASSERT_TRUE(send(good->tx_ring(0), mac(3), mac(2), 2, 5));
    ASSERT_EQ(good->txsync(), 0);
    EXPECT_EQ(stats(sw + ":sink").rx_packets, 1u); // delivered into sink's own reserved buffer
    ASSERT_TRUE(send(good->tx_ring(0), bcast, mac(2), 2, 6));
    ASSERT_EQ(good->txsync(), 0);
    EXPECT_EQ(drain(*bad).size(), 1u);
}

TEST_F(Isolation, OverwrittenRingHeaderDoesNotMisleadTheSwitch) {
    netmap_ring* r = bad->tx_ring(0);
    const std::uint32_t real = r->num_slots;
    r->num_slots = 1u << 30; // the switch must use its own copy
    ASSERT_TRUE(send(r, bcast, mac(1)));
    EXPECT_EQ(bad->txsync(), 0);
    r->num_slots = real;
    good_traffic_still_flows(1);
}

// Random garbage in every field the client can write, many times over;
// a canary in the other ports' tx buffers must survive, frames delivered to
// them must be sane, and good -> sink must keep working.
TEST_F(Isolation, FuzzedClientCannotCorruptOthers) {
    auto canary = [](Port& p, bool write) {
        netmap_ring* r = p.tx_ring(0);
        bool ok = true;
        for (std::uint32_t i = 0; i < r->num_slots; i++) {
            char* b = NETMAP_BUF(r, r->slot[i].buf_idx);
            for (std::uint32_t k = 0; k < r->nr_buf_size; k += 64) {
                if (write)
                    b[k] = char(0xc5);
                else
                    ok &= b[k] == char(0xc5);
            }
        }
        return ok;
    };
    canary(*sink, true);
    std::mt19937 rng(12345);
    netmap_ring* r = bad->tx_ring(0);
    const MemoryRegion& m = bad->memory();
    std::uint64_t seq = 100;
    for (int round = 0; round < 3000; round++) {
        const std::uint32_t n = r->num_slots;
        for (int k = 0; k < 8; k++) {
            netmap_slot& s = r->slot[rng() % n];
            switch (rng() % 6) {
            case 0: s.buf_idx = rng(); break;
            case 1: s.buf_idx = MemoryRegion::first_buf + rng() % (m.num_bufs() - MemoryRegion::first_buf); break;
            case 2: s.len = std::uint16_t(rng()); break;
            case 3: s.len = std::uint16_t(rng() % 2100); break;
            case 4: s.flags = std::uint16_t(rng()); break;
            default: std::memset(m.buf(m.valid_buf(s.buf_idx) ? s.buf_idx : 2), int(rng()), 64); break;
            }
        }
        if (rng() % 4 == 0) r->head = rng() % (n + 3);
        else r->head = (r->head + rng() % 70) % n;
        r->cur = rng() % 3 ? r->head : std::uint32_t(rng());
        if (rng() % 50 == 0) r->tail = rng();
        (void)bad->txsync();
        (void)bad->rxsync(); // its rx ring is not garbage-filled, but rxsync anyway
        for (auto& f : drain(*good)) {
            ASSERT_GE(f.bytes.size(), vale::min_frame_len);
            ASSERT_LE(f.bytes.size(), vale::max_frame_len);
        }
        if (round % 100 == 0) {
            good_traffic_still_flows(seq++);
            ASSERT_TRUE(canary(*sink, false)) << "round " << round;
        }
    }
    EXPECT_TRUE(canary(*sink, false));
    good_traffic_still_flows(seq++);
    auto st = stats(sw + ":bad");
    EXPECT_GT(st.prologue_errors + st.drop_malformed + st.tx_packets, 0u);
}

} // namespace
} // namespace upio::test
