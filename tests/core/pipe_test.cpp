// Pipes on one thread: zero copy, whole packets only, a full peer.
#include "helpers.hpp"

#include <poll.h>

#include <chrono>

namespace upio::test {
namespace {

struct Pipe {
    explicit Pipe(std::uint32_t slots = 64) {
        std::string n = unique_name("p");
        a = open_ok("pipe:" + n + "{0", small_opts(slots));
        b = open_ok("pipe:" + n + "}0", small_opts(slots));
    }
    std::unique_ptr<Port> a, b;
};

// An open that fails (the ring is taken) leaves the Port that holds the
// ring as it was: still its only owner, still woken when it sleeps.
TEST(Pipe, AFailedOpenLeavesTheOpenPortAlone) {
    std::string n = unique_name("failopen");
    auto a = open_ok("pipe:" + n + "{0");
    auto b = open_ok("pipe:" + n + "}0");
    ASSERT_TRUE(a && b);
    for (int i = 0; i < 2; i++) { // the second try: the first did not free the ring
        auto again = Port::open("pipe:" + n + "}0", small_opts());
        ASSERT_FALSE(again);
        EXPECT_EQ(again.error().code, EBUSY) << again.error().message;
    }
    // b still owns its rings, and a sleeping b is still woken by a's send
    std::thread sender([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        netmap_ring* tx = a->tx_ring(0);
        ASSERT_TRUE(put(tx, 7));
        EXPECT_EQ(a->txsync(), 0);
    });
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(b->wait(Direction::rx, std::chrono::seconds(5)), 1);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4)) << "the wake-up was lost";
    sender.join();
}

TEST(Pipe, MovesSlotsNotBytes) {
    Pipe p;
    netmap_ring* tx = p.a->tx_ring(0);
    netmap_ring* rx = p.b->rx_ring(0);
    std::uint32_t sent_buf = tx->slot[0].buf_idx;
    char* sent_ptr = NETMAP_BUF(tx, sent_buf);
    ASSERT_TRUE(put(tx, 42, 100));
    ASSERT_EQ(p.a->txsync(), 0);
    ASSERT_EQ(p.b->rxsync(), 0);
    ASSERT_EQ(nm_ring_space(rx), 1u);
    EXPECT_EQ(rx->slot[0].buf_idx, sent_buf); // the very same buffer
    EXPECT_EQ(NETMAP_BUF(rx, rx->slot[0].buf_idx), sent_ptr);
    EXPECT_EQ(rx->slot[0].len, 100);
    EXPECT_EQ(seq_of(rx, 0), 42u);
    // the sender got a different, free buffer back, flagged as changed
    EXPECT_NE(tx->slot[0].buf_idx, sent_buf);
    EXPECT_TRUE(tx->slot[0].flags & NS_BUF_CHANGED);
    EXPECT_EQ(p.a->counters(Direction::tx).packets, 1u);
    EXPECT_EQ(p.b->counters(Direction::rx).packets, 1u);
    EXPECT_EQ(p.b->counters(Direction::rx).bytes, 100u);
}

TEST(Pipe, BothDirections) {
    Pipe p;
    ASSERT_TRUE(put(p.b->tx_ring(0), 7));
    ASSERT_EQ(p.b->txsync(), 0);
    ASSERT_EQ(p.a->rxsync(), 0);
    ASSERT_EQ(nm_ring_space(p.a->rx_ring(0)), 1u);
    EXPECT_EQ(seq_of(p.a->rx_ring(0), 0), 7u);
}

// A producer makes a system call (the eventfd write) only for a peer that
// is asleep, and once per sleep; streaming to an awake peer costs none.
TEST(Pipe, WakesAPeerOnlyWhenItSleeps) {
    Pipe p;
    netmap_ring* tx = p.a->tx_ring(0);
    netmap_ring* rx = p.b->rx_ring(0);
    auto wakeups = [&](Port& port, Direction d) { return port.counters(d).wakeups; };
    auto readable = [](Port& port) {
        pollfd f{port.fd(), POLLIN, 0};
        return ::poll(&f, 1, 0) == 1;
    };
    for (std::uint64_t i = 0; i < 20; i++) {
        ASSERT_TRUE(put(tx, i));
        ASSERT_EQ(p.a->txsync(), 0);
    }
    EXPECT_EQ(wakeups(*p.b, Direction::rx), 0u) << "the receiver was awake: no wake-up is due";
    ASSERT_EQ(p.b->rxsync(), 0);
    rx->head = rx->cur = rx->tail;
    ASSERT_EQ(p.b->rxsync(), 0);

    ASSERT_TRUE(p.b->arm(Direction::rx)); // the receiver goes to sleep
    EXPECT_FALSE(readable(*p.b));
    ASSERT_TRUE(put(tx, 20));
    ASSERT_EQ(p.a->txsync(), 0);
    EXPECT_EQ(wakeups(*p.b, Direction::rx), 1u);
    EXPECT_TRUE(readable(*p.b)) << "the sleeper's descriptor must fire";
    ASSERT_TRUE(put(tx, 21));
    ASSERT_EQ(p.a->txsync(), 0);
    EXPECT_EQ(wakeups(*p.b, Direction::rx), 1u) << "already woken: no second system call";
    p.b->disarm(Direction::rx);
    EXPECT_FALSE(readable(*p.b)) << "disarm consumes the wake-up";
    ASSERT_EQ(p.b->rxsync(), 0);
    EXPECT_EQ(nm_ring_space(rx), 2u);

    // The sender sleeps on a full ring; the receiver's release wakes it.
    while (put(tx, 0)) {
    }
    ASSERT_EQ(p.a->txsync(), 0);
    while (put(tx, 0)) {
    }
    ASSERT_EQ(p.a->txsync(), 0); // the peer is full now
    if (p.a->arm(Direction::tx)) {
        ASSERT_EQ(p.b->rxsync(), 0);
        rx->head = rx->cur = rx->tail;
        ASSERT_EQ(p.b->rxsync(), 0);
        EXPECT_EQ(wakeups(*p.a, Direction::tx), 1u);
        EXPECT_TRUE(readable(*p.a));
        p.a->disarm(Direction::tx);
    } else {
        ADD_FAILURE() << "the sender's tx ring should have been full";
    }
}

TEST(Pipe, PublishesWholePacketsOnly) {
    Pipe p;
    netmap_ring* tx = p.a->tx_ring(0);
    netmap_ring* rx = p.b->rx_ring(0);
    ASSERT_TRUE(put(tx, 1, 60, NS_MOREFRAG));
    ASSERT_TRUE(put(tx, 2, 60, NS_MOREFRAG)); // the packet's last fragment is not queued yet
    ASSERT_EQ(p.a->txsync(), 0);
    ASSERT_EQ(p.b->rxsync(), 0);
    EXPECT_EQ(nm_ring_space(rx), 0u);
    ASSERT_TRUE(put(tx, 3, 60, 0));
    ASSERT_EQ(p.a->txsync(), 0);
    ASSERT_EQ(p.b->rxsync(), 0);
    ASSERT_EQ(nm_ring_space(rx), 3u);
    EXPECT_TRUE(rx->slot[0].flags & NS_MOREFRAG);
    EXPECT_TRUE(rx->slot[1].flags & NS_MOREFRAG);
    EXPECT_FALSE(rx->slot[2].flags & NS_MOREFRAG);
    EXPECT_EQ(seq_of(rx, 2), 3u);
}

TEST(Pipe, FullPeerKeepsPacketsQueuedUntilSpaceFrees) {
    Pipe p(16);
    netmap_ring* tx = p.a->tx_ring(0);
    netmap_ring* rx = p.b->rx_ring(0);
    std::uint64_t seq = 0;
    while (put(tx, seq)) seq++;
    EXPECT_EQ(seq, 15u); // one slot always empty
    ASSERT_EQ(p.a->txsync(), 0);
    while (put(tx, seq)) seq++; // refill the freed slots
    ASSERT_EQ(p.a->txsync(), 0); // the peer has room for none of these
    EXPECT_EQ(nm_ring_space(tx), 0u);
    ASSERT_EQ(p.b->rxsync(), 0);
    ASSERT_EQ(nm_ring_space(rx), 15u);
    std::uint64_t expect = 0;
    for (int round = 0; round < 3; round++) {
        while (!nm_ring_empty(rx)) {
            EXPECT_EQ(seq_of(rx, rx->cur), expect++);
            rx->head = rx->cur = nm_ring_next(rx, rx->cur);
        }
        ASSERT_EQ(p.b->rxsync(), 0); // release
        ASSERT_EQ(p.a->txsync(), 0); // pending packets flow now
        ASSERT_EQ(p.b->rxsync(), 0);
    }
    EXPECT_EQ(expect, seq);
}

TEST(Pipe, WaitTimesOutWhenNothingArrives) {
    Pipe p;
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(p.b->wait(Direction::rx, std::chrono::milliseconds(30)), 0);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(30));
    EXPECT_EQ(p.a->wait(Direction::tx, std::chrono::milliseconds(0)), 1); // tx has room
}

TEST(Pipe, AWaitInADirectionThePortDoesNotHaveIsAnError) {
    // "/T": no rx rings, so nothing could ever end a wait for rx (a negative
    // timeout would sleep forever)
    std::string n = unique_name("dironly");
    auto tx_only = open_ok("pipe:" + n + "{0/T");
    EXPECT_EQ(tx_only->wait(Direction::rx, std::chrono::milliseconds(-1)), -EINVAL);
    EXPECT_NE(std::string(tx_only->last_error()).find("no rx rings (opened /T)"), std::string::npos)
        << tx_only->last_error();
    EXPECT_EQ(tx_only->wait(Direction::tx, std::chrono::milliseconds(0)), 1);
    auto rx_only = open_ok("pipe:" + n + "}0/R");
    EXPECT_EQ(rx_only->wait(Direction::tx, std::chrono::milliseconds(10)), -EINVAL);
    EXPECT_NE(std::string(rx_only->last_error()).find("no tx rings (opened /R)"), std::string::npos)
        << rx_only->last_error();
}

TEST(Pipe, EachEndOpensOnce) {
    std::string n = unique_name("once");
    auto a = open_ok("pipe:" + n + "{0");
    auto again = Port::open("pipe:" + n + "{0", small_opts());
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, EBUSY);
}

TEST(Pipe, DataSurvivesUntilThePeerOpens) {
    std::string n = unique_name("late");
    auto a = open_ok("pipe:" + n + "{0");
    ASSERT_TRUE(put(a->tx_ring(0), 5));
    ASSERT_EQ(a->txsync(), 0);
    auto b = open_ok("pipe:" + n + "}0");
    ASSERT_EQ(b->rxsync(), 0);
    ASSERT_EQ(nm_ring_space(b->rx_ring(0)), 1u);
    EXPECT_EQ(seq_of(b->rx_ring(0), b->rx_ring(0)->cur), 5u);
}

// An end closed with a broken ring header (a head past the ring, a
// scribbled num_slots and buffer offset, a head moved without a sync) is
// reopened while its peer keeps the pipe: the new Port starts from the ring
// as the framework knows it and works at once, with what was synced before
// still there.
TEST(Pipe, AReopenedEndDoesNotInheritABrokenRingHeader) {
    std::string n = unique_name("reopen");
    auto a = open_ok("pipe:" + n + "{0");
    auto b = open_ok("pipe:" + n + "}0");
    ASSERT_TRUE(a && b);
    netmap_ring* tx = a->tx_ring(0);
    for (std::uint64_t i = 0; i < 3; i++) ASSERT_TRUE(put(tx, i));
    ASSERT_EQ(a->txsync(), 0);
    netmap_ring* rx = b->rx_ring(0);
    ASSERT_EQ(b->rxsync(), 0);
    ASSERT_EQ(nm_ring_space(rx), 3u);
    rx->head = rx->cur = 1; // one released...
    ASSERT_EQ(b->rxsync(), 0);
    const std::int64_t buf_ofs = rx->buf_ofs;
    const std::uint32_t slots = rx->num_slots, tail = rx->tail;
    rx->head = 999; // ...then the owner breaks the header and goes away
    rx->cur = 2;
    rx->tail = 0;
    rx->num_slots = 7;
    rx->buf_ofs = 12345;
    rx->nr_buf_size = 1;
    ASSERT_EQ(b->rxsync(), -EINVAL);
    b.reset();

    b = open_ok("pipe:" + n + "}0");
    ASSERT_TRUE(b);
    rx = b->rx_ring(0);
    EXPECT_EQ(rx->num_slots, slots);
    EXPECT_EQ(rx->buf_ofs, buf_ofs);
    EXPECT_EQ(rx->nr_buf_size, b->memory().buf_size());
    EXPECT_EQ(rx->head, 1u);
    EXPECT_EQ(rx->cur, 1u);
    EXPECT_EQ(rx->tail, tail);
    ASSERT_EQ(b->rxsync(), 0) << b->last_error();
    ASSERT_EQ(nm_ring_space(rx), 2u); // the two packets not yet released
    EXPECT_EQ(seq_of(rx, rx->cur), 1u);

    // a tx head moved but never synced is not the new owner's either
    ASSERT_TRUE(put(tx, 3));
    a.reset();
    a = open_ok("pipe:" + n + "{0");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->tx_ring(0)->head, 3u);
    ASSERT_EQ(a->txsync(), 0) << a->last_error();
    ASSERT_EQ(b->rxsync(), 0);
    EXPECT_EQ(nm_ring_space(rx), 2u);
}

TEST(Pipe, RegionFullSaysHowToGrowIt) {
    std::string n = unique_name("full");
    PortOptions o = small_opts(64);
    o.memory.num_bufs = 300; // room for one pipe of 64-slot rings (256 buffers)
    auto a = open_ok("pipe:" + n + "{0", o);
    auto b = Port::open("pipe:" + n + "{1", o);
    ASSERT_FALSE(b.ok());
    EXPECT_NE(b.error().message.find("num_bufs"), std::string::npos) << b.error().message;
}

} // namespace
} // namespace upio::test
