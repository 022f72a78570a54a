// Ring arithmetic and netmap's ownership rules.
#include "helpers.hpp"

#include <cstddef>
#include <set>

namespace upio::test {
namespace {

TEST(RingHelpers, NextWrapsAndSpaceCountsToTail) {
    alignas(128) unsigned char mem[sizeof(netmap_ring) + 8 * sizeof(netmap_slot)] = {};
    auto* r = reinterpret_cast<netmap_ring*>(mem);
    r->num_slots = 8;
    EXPECT_EQ(nm_ring_next(r, 0), 1u);
    EXPECT_EQ(nm_ring_next(r, 7), 0u);
    r->cur = 6;
    r->tail = 2;
    EXPECT_EQ(nm_ring_space(r), 4u); // 6,7,0,1
    r->tail = 6;
    EXPECT_EQ(nm_ring_space(r), 0u);
    EXPECT_TRUE(nm_ring_empty(r));
    r->cur = 0;
    r->tail = 7;
    EXPECT_EQ(nm_ring_space(r), 7u);
}

TEST(RingLayout, SlotsAndHeaderMatchNetmap) {
    static_assert(sizeof(netmap_slot) == 16);
    static_assert(offsetof(netmap_slot, buf_idx) == 0 && offsetof(netmap_slot, len) == 4 &&
                  offsetof(netmap_slot, flags) == 6 && offsetof(netmap_slot, ptr) == 8);
    static_assert(offsetof(netmap_ring, slot) % NM_CACHE_ALIGN == 0);
    static_assert(offsetof(netmap_ring, head) < offsetof(netmap_ring, cur));
    SUCCEED();
}

TEST(RingOwnership, TxStartsWithAllButOneSlotFree) {
    auto p = open_ok("pipe:" + unique_name("own") + "{0", small_opts(16));
    netmap_ring* tx = p->tx_ring(0);
    EXPECT_EQ(tx->head, 0u);
    EXPECT_EQ(tx->cur, 0u);
    EXPECT_EQ(tx->tail, 15u); // one slot always empty
    EXPECT_EQ(nm_ring_space(tx), 15u);
    netmap_ring* rx = p->rx_ring(0);
    EXPECT_TRUE(nm_ring_empty(rx));
}

TEST(RingOwnership, NetmapIfLocatesRingsAndBuffers) {
    auto name = "pipe:" + unique_name("nifp") + "{3";
    auto p = open_ok(name);
    netmap_if* nifp = p->nifp();
    // ni_name is netmap's IFNAMSIZ: the name's first 15 characters; the Port keeps it whole
    EXPECT_EQ(std::string(nifp->ni_name), name.substr(0, IFNAMSIZ - 1));
    EXPECT_EQ(p->name().full, name);
    EXPECT_EQ(nifp->ni_tx_rings, 1u);
    EXPECT_EQ(nifp->ni_rx_rings, 1u);
    EXPECT_EQ(NETMAP_TXRING(nifp, 0), p->tx_ring(0));
    EXPECT_EQ(NETMAP_RXRING(nifp, 0), p->rx_ring(0));
    netmap_ring* r = p->tx_ring(0);
    char* b = NETMAP_BUF(r, r->slot[5].buf_idx);
    EXPECT_EQ(b, p->memory().buf(r->slot[5].buf_idx));
    EXPECT_EQ(NETMAP_BUF_IDX(r, b), r->slot[5].buf_idx);
    // every slot of every ring has a distinct valid buffer
    std::set<std::uint32_t> seen;
    for (auto* ring : {p->tx_ring(0), p->rx_ring(0)})
        for (std::uint32_t i = 0; i < ring->num_slots; i++) {
            EXPECT_TRUE(p->memory().valid_buf(ring->slot[i].buf_idx));
            EXPECT_TRUE(seen.insert(ring->slot[i].buf_idx).second);
        }
}

} // namespace
} // namespace upio::test
