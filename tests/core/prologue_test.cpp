// The validation prologue: every bad ring is refused with a clear error and a
// counter, nothing moves, other ports are unaffected, and a repaired ring
// works again. Also ring selection and ownership of rings across Ports.
#include "helpers.hpp"

#include <upio/backend/port_type.hpp>

namespace upio::test {
namespace {

struct PipeFixture : ::testing::Test {
    void SetUp() override {
        std::string n = unique_name("prol");
        a = open_ok("pipe:" + n + "{0");
        b = open_ok("pipe:" + n + "}0");
        ASSERT_TRUE(a && b);
        tx = a->tx_ring(0);
        rx = b->rx_ring(0);
    }
    // The sync fails with EINVAL, the error names `what`, one more counter.
    void expect_rejected(Port& p, Direction d, const char* what) {
        auto before = p.counters(d).prologue_errors;
        int rc = d == Direction::tx ? p.txsync() : p.rxsync();
        EXPECT_EQ(rc, -EINVAL);
        EXPECT_NE(std::string(p.last_error()).find(what), std::string::npos) << p.last_error();
        EXPECT_EQ(p.counters(d).prologue_errors, before + 1);
    }
    std::size_t received() {
        EXPECT_EQ(b->rxsync(), 0);
        return nm_ring_space(rx);
    }
    std::unique_ptr<Port> a, b;
    netmap_ring *tx = nullptr, *rx = nullptr;
};

TEST_F(PipeFixture, HeadOrCurBeyondTheRing) {
    tx->head = tx->num_slots;
    expect_rejected(*a, Direction::tx, "beyond the ring");
    tx->head = 0;
    tx->cur = tx->num_slots + 7;
    expect_rejected(*a, Direction::tx, "beyond the ring");
    tx->cur = 0;
    EXPECT_EQ(a->txsync(), 0);
}

TEST_F(PipeFixture, HeadMovedBackwards) {
    for (int i = 0; i < 5; i++) ASSERT_TRUE(put(tx, std::uint64_t(i)));
    ASSERT_EQ(a->txsync(), 0);
    EXPECT_EQ(received(), 5u);
    rx->head = rx->cur = 3; // release three
    ASSERT_EQ(b->rxsync(), 0);
    rx->head = rx->cur = 1; // behind the previous head
    expect_rejected(*b, Direction::rx, "head outside");
    rx->head = rx->cur = 3; // repaired
    EXPECT_EQ(b->rxsync(), 0);
    EXPECT_EQ(nm_ring_space(rx), 2u);
}

TEST_F(PipeFixture, TxHeadBackOverSlotsThePortStillHolds) {
    // The peer is full, so the sender's last txsync kept its slots in
    // [hwcur, head): they belong to the port now. Moving head back over them
    // (to take them back) is refused, although hwcur has not moved.
    const std::uint32_t n = tx->num_slots - 1;
    for (std::uint32_t i = 0; i < n; i++) ASSERT_TRUE(put(tx, i));
    ASSERT_EQ(a->txsync(), 0); // all delivered: the peer's rx ring is now full
    for (std::uint32_t i = 0; i < 5; i++) ASSERT_TRUE(put(tx, 100 + i));
    ASSERT_EQ(a->txsync(), 0); // no room: the five stay queued in the port
    const std::uint32_t queued_head = tx->head;
    tx->head = tx->cur = (queued_head + tx->num_slots - 3) % tx->num_slots; // behind the previous head
    expect_rejected(*a, Direction::tx, "head outside");
    tx->head = tx->cur = queued_head; // repaired
    EXPECT_EQ(a->txsync(), 0);
    ASSERT_EQ(b->rxsync(), 0);
    ASSERT_EQ(nm_ring_space(rx), n);
    rx->head = rx->cur = rx->tail; // the receiver drains: the five go through
    ASSERT_EQ(b->rxsync(), 0);
    ASSERT_EQ(a->txsync(), 0);
    ASSERT_EQ(b->rxsync(), 0);
    ASSERT_EQ(nm_ring_space(rx), 5u);
    EXPECT_EQ(seq_of(rx, rx->cur), 100u);
}

TEST_F(PipeFixture, RxHeadPastTail) {
    ASSERT_EQ(b->rxsync(), 0);
    EXPECT_EQ(rx->tail, 0u);
    rx->head = rx->cur = 3; // nothing was received: tail is 0
    expect_rejected(*b, Direction::rx, "head outside");
    rx->head = rx->cur = 0;
    EXPECT_EQ(b->rxsync(), 0);
}

TEST_F(PipeFixture, CurBeforeHead) {
    ASSERT_TRUE(put(tx, 1));
    ASSERT_TRUE(put(tx, 2));
    tx->cur = 1; // head is 2
    expect_rejected(*a, Direction::tx, "cur outside");
    EXPECT_EQ(received(), 0u); // nothing moved
    tx->cur = 2;
    EXPECT_EQ(a->txsync(), 0);
    EXPECT_EQ(received(), 2u);
}

TEST_F(PipeFixture, BufIdxOutsideTheRegion) {
    const std::uint32_t nbufs = a->memory().num_bufs();
    for (std::uint32_t bad : {0u, 1u, nbufs, nbufs + 1000, 0xffffffffu}) {
        std::uint32_t good = tx->slot[tx->cur].buf_idx;
        ASSERT_TRUE(put(tx, 9));
        tx->slot[0].buf_idx = bad;
        expect_rejected(*a, Direction::tx, "buf_idx outside the region");
        EXPECT_EQ(received(), 0u);
        tx->slot[0].buf_idx = good;
        tx->head = tx->cur = 0; // un-queue for the next round
    }
    ASSERT_TRUE(put(tx, 9));
    EXPECT_EQ(a->txsync(), 0);
    EXPECT_EQ(received(), 1u);
}

TEST_F(PipeFixture, LenLargerThanABuffer) {
    ASSERT_TRUE(put(tx, 1, 60));
    tx->slot[0].len = std::uint16_t(a->memory().buf_size() + 1);
    expect_rejected(*a, Direction::tx, "len larger than a buffer");
    tx->slot[0].len = std::uint16_t(a->memory().buf_size()); // exactly one buffer: fine
    EXPECT_EQ(a->txsync(), 0);
    EXPECT_EQ(received(), 1u);
    EXPECT_EQ(rx->slot[rx->cur].len, a->memory().buf_size());
}

TEST_F(PipeFixture, RxReleasedSlotWithABadBuffer) {
    ASSERT_TRUE(put(tx, 1));
    ASSERT_EQ(a->txsync(), 0);
    ASSERT_EQ(received(), 1u);
    std::uint32_t good = rx->slot[0].buf_idx;
    rx->slot[0].buf_idx = 1;
    rx->head = rx->cur = 1;
    expect_rejected(*b, Direction::rx, "buf_idx outside the region");
    rx->slot[0].buf_idx = good;
    EXPECT_EQ(b->rxsync(), 0);
}

TEST_F(PipeFixture, CorruptedTailIsRestored) {
    tx->tail = 3;
    EXPECT_EQ(a->txsync(), 0);
    EXPECT_EQ(tx->tail, tx->num_slots - 1);
}

// Every slot a sync hands over is checked, wherever it sits in the run
// (the check goes four slots at a time, then one by one) and when the run
// wraps around the end of the ring; the error names the bad slot.
TEST_F(PipeFixture, EverySlotOfARunIsChecked) {
    const std::uint32_t nbufs = a->memory().num_bufs();
    const std::uint16_t too_long = std::uint16_t(a->memory().buf_size() + 1);
    const std::uint32_t n_slots = tx->num_slots;
    for (std::uint32_t start : {0u, n_slots - 5}) {
        // move the ring on to `start`: send and release that many packets
        while (tx->cur != start) {
            ASSERT_TRUE(put(tx, 0));
            ASSERT_EQ(a->txsync(), 0);
            ASSERT_EQ(b->rxsync(), 0);
            rx->head = rx->cur = rx->tail;
            ASSERT_EQ(b->rxsync(), 0);
        }
        for (std::uint32_t n = 1; n <= 11; n++)
            for (std::uint32_t pos = 0; pos < n; pos++)
                for (int kind = 0; kind < 6; kind++) {
                    for (std::uint32_t i = 0; i < n; i++) ASSERT_TRUE(put(tx, i));
                    netmap_slot& s = tx->slot[(start + pos) % n_slots];
                    const netmap_slot saved = s;
                    const char* what = "buf_idx outside the region";
                    switch (kind) {
                    case 0: s.buf_idx = 0; break;
                    case 1: s.buf_idx = 1; break;
                    case 2: s.buf_idx = nbufs; break;
                    case 3: s.buf_idx = 0x80000001u; break;
                    case 4: s.buf_idx = 0xffffffffu; break;
                    default: s.len = too_long; what = "len larger than a buffer"; break;
                    }
                    SCOPED_TRACE(testing::Message() << "start " << start << ", run " << n << ", bad slot " << pos
                                                    << ", kind " << kind);
                    expect_rejected(*a, Direction::tx, what);
                    std::string slot = "(";
                    slot += std::to_string((start + pos) % n_slots);
                    slot += ", ";
                    EXPECT_NE(std::string(a->last_error()).find(slot), std::string::npos) << a->last_error();
                    s = saved;
                    tx->head = tx->cur = start; // un-queue for the next round
                }
    }
    // the first and the last buffer of the region are valid, a full buffer's
    // length too
    for (std::uint64_t i = 0; i < 5; i++) ASSERT_TRUE(put(tx, i, i == 0 ? std::uint16_t(a->memory().buf_size()) : 60));
    tx->slot[(tx->cur + n_slots - 4) % n_slots].buf_idx = MemoryRegion::first_buf;
    tx->slot[(tx->cur + n_slots - 3) % n_slots].buf_idx = nbufs - 1;
    EXPECT_EQ(a->txsync(), 0) << a->last_error();
}

// A chain whose NS_MOREFRAG runs through every slot the port holds can
// never end: the application has no slot left for the last fragment and a
// pipe sends whole packets only. The sync says so instead of stalling the
// ring for good; clearing the flag on the last slot repairs it.
TEST_F(PipeFixture, ChainThatFillsTheRingIsRefused) {
    const std::uint32_t n = tx->num_slots - 1;
    for (std::uint32_t i = 0; i < n; i++) ASSERT_TRUE(put(tx, i, 60, NS_MOREFRAG));
    expect_rejected(*a, Direction::tx, "chain fills the ring and can never end");
    EXPECT_EQ(received(), 0u); // nothing moved
    EXPECT_EQ(tx->tail, n);
    tx->slot[n - 1].flags = 0; // the chain ends on its last slot
    ASSERT_EQ(a->txsync(), 0) << a->last_error();
    ASSERT_EQ(received(), n);
    EXPECT_TRUE(rx->slot[0].flags & NS_MOREFRAG);
    EXPECT_FALSE(rx->slot[n - 1].flags & NS_MOREFRAG);
    EXPECT_EQ(seq_of(rx, n - 1), n - 1);
}

// The same check where the chain wraps around the ring's edge, starts in
// slots handed over by an earlier sync, and where a packet ends before an
// unfinished chain (that chain can still be ended: the packet frees a slot).
TEST_F(PipeFixture, UnfinishedChainsThatCanStillEndAreKept) {
    const std::uint32_t n = tx->num_slots;
    for (std::uint32_t i = 0; i < n - 3; i++) ASSERT_TRUE(put(tx, i)); // move on to slot n - 3
    ASSERT_EQ(a->txsync(), 0);
    ASSERT_EQ(received(), n - 3);
    rx->head = rx->cur = rx->tail;
    ASSERT_EQ(b->rxsync(), 0);
    ASSERT_EQ(a->txsync(), 0);
    ASSERT_EQ(tx->head, n - 3);

    // half a chain now, the rest of the ring later: it wraps, never ends
    for (std::uint32_t i = 0; i < 10; i++) ASSERT_TRUE(put(tx, 1000 + i, 60, NS_MOREFRAG));
    ASSERT_EQ(a->txsync(), 0); // can still end: kept in the port
    const std::uint32_t held = tx->head;
    while (put(tx, 2000, 60, NS_MOREFRAG)) {}
    expect_rejected(*a, Direction::tx, "can never end");
    EXPECT_NE(std::string(a->last_error()).find("(" + std::to_string(n - 3) + ", "), std::string::npos)
        << a->last_error();
    tx->head = tx->cur = held; // or take the new slots back: that is fine too
    ASSERT_EQ(a->txsync(), 0) << a->last_error();
    while (put(tx, 3000)) {} // the packet ends on the last free slot
    ASSERT_EQ(a->txsync(), 0) << a->last_error();
    EXPECT_EQ(received(), n - 1);

    // a whole packet before an unfinished chain filling the rest: the
    // packet goes, the chain waits for its end
    rx->head = rx->cur = rx->tail;
    ASSERT_EQ(b->rxsync(), 0);
    ASSERT_TRUE(put(tx, 1));
    while (put(tx, 2, 60, NS_MOREFRAG)) {}
    ASSERT_EQ(a->txsync(), 0) << a->last_error();
    ASSERT_EQ(received(), 1u);
    rx->head = rx->cur = rx->tail; // room for the whole chain
    ASSERT_EQ(b->rxsync(), 0);
    ASSERT_TRUE(put(tx, 3)); // the freed slot ends the chain
    ASSERT_EQ(a->txsync(), 0) << a->last_error();
    EXPECT_EQ(received(), n - 1);
}

TEST_F(PipeFixture, OtherPortsKeepWorkingWhileOneIsBroken) {
    std::string n = unique_name("other");
    auto c = open_ok("pipe:" + n + "{0");
    auto d = open_ok("pipe:" + n + "}0");
    tx->head = 12345; // port a is broken
    for (int round = 0; round < 3; round++) {
        EXPECT_EQ(a->txsync(), -EINVAL);
        ASSERT_TRUE(put(c->tx_ring(0), std::uint64_t(round)));
        EXPECT_EQ(c->txsync(), 0);
        EXPECT_EQ(d->rxsync(), 0);
        EXPECT_EQ(nm_ring_space(d->rx_ring(0)), std::uint32_t(round + 1));
    }
    EXPECT_EQ(c->counters(Direction::tx).prologue_errors, 0u);
    EXPECT_EQ(a->counters(Direction::tx).prologue_errors, 3u);
}

// A test port type with four ring pairs, to check ring selection.
class FourRings final : public Adapter {
public:
    FourRings() : Adapter("four:a") {}
    Status init() {
        MemoryConfig c;
        c.hugepages = HugepagePolicy::never;
        RingConfig rc{4, 4, 32, 32};
        auto m = MemoryRegion::create("four", ring_bytes(rc) + 8 * nifp_bytes(8), 300, c);
        if (!m) return std::move(m).error();
        return create_rings(std::move(m.value()), rc);
    }
    int txsync(KRing& k, unsigned) noexcept override { // everything "sent" at once
        k.nr_hwcur.store(k.rhead);
        k.nr_hwtail.store(k.prev(k.rhead));
        RingCounters::add(k.stats.packets, 1);
        return 0;
    }
    int rxsync(KRing& k, unsigned) noexcept override {
        k.nr_hwcur.store(k.rhead);
        return 0;
    }
};

std::shared_ptr<FourRings> g_four;
Result<std::shared_ptr<Adapter>> four_factory(const PortName&, const PortOptions&) {
    if (!g_four) {
        g_four = std::make_shared<FourRings>();
        if (Status s = g_four->init(); !s) return std::move(s).error();
    }
    return std::shared_ptr<Adapter>(g_four);
}

// "four:NAME": NAME is letters, then the shorthand suffixes may follow.
void register_four() {
    PortType t;
    t.name = "four";
    t.syntax = "four:NAME";
    t.shorthands = shorthand_ring | shorthand_dir;
    t.parse = [](std::string_view, std::string_view body) -> Result<std::size_t> {
        return std::min(body.find_first_not_of("abcdefghijklmnopqrstuvwxyz"), body.size());
    };
    t.open = &four_factory;
    register_port_type(std::move(t));
}

TEST(RingSelection, OnePairPerPortAndOwnership) {
    register_four();
    auto all = Port::open("four:a");
    ASSERT_TRUE(all.ok()) << all.error().message;
    EXPECT_EQ(all.value()->first_ring(Direction::tx), 0u);
    EXPECT_EQ(all.value()->last_ring(Direction::tx), 4u);
    auto again = Port::open("four:a-2");
    ASSERT_FALSE(again.ok()); // ring 2 belongs to `all`
    EXPECT_EQ(again.error().code, EBUSY);
    EXPECT_NE(again.error().message.find("already open"), std::string::npos);
    all.value().reset();

    auto r2 = Port::open("four:a-2");
    ASSERT_TRUE(r2.ok()) << r2.error().message;
    EXPECT_EQ(r2.value()->first_ring(Direction::rx), 2u);
    EXPECT_EQ(r2.value()->last_ring(Direction::rx), 3u);
    auto r3tx = Port::open("four:a,ring=3,tx");
    ASSERT_TRUE(r3tx.ok());
    EXPECT_EQ(r3tx.value()->last_ring(Direction::rx) - r3tx.value()->first_ring(Direction::rx), 0u);
    auto r3rx = Port::open("four:a-3/R"); // the rx ring 3 is still free
    ASSERT_TRUE(r3rx.ok()) << r3rx.error().message;
    auto r9 = Port::open("four:a,ring=9");
    ASSERT_FALSE(r9.ok());
    EXPECT_NE(r9.error().message.find("ring 9 does not exist (four:a has 4 tx rings: 0..3)"), std::string::npos)
        << r9.error().message;

    // a sync touches only the selected rings
    ASSERT_TRUE(put(r2.value()->tx_ring(2), 1));
    EXPECT_EQ(r2.value()->txsync(), 0);
    EXPECT_EQ(g_four->kring(Direction::tx, 2).stats.packets.load(), 1u);
    EXPECT_EQ(g_four->kring(Direction::tx, 1).stats.packets.load(), 0u);
    EXPECT_EQ(r2.value()->txsync_ring(1), -EINVAL);
    r2.value().reset();
    r3tx.value().reset();
    r3rx.value().reset();
    g_four.reset();
}

} // namespace
} // namespace upio::test
