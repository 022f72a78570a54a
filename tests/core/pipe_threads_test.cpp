// Pipes between two threads: 10^7 sequence-numbered packets with none lost,
// duplicated or reordered, and no lost wake-up between sleeping peers.
#include "helpers.hpp"

#include <cstdlib>
#include <thread>

namespace upio::test {
namespace {

std::uint64_t scaled(std::uint64_t n) {
    // UPIO_TEST_SCALE shrinks the counts under slow sanitizers (e.g. 0.1)
    if (const char* s = std::getenv("UPIO_TEST_SCALE")) return std::max<std::uint64_t>(1000, std::uint64_t(double(n) * std::atof(s)));
    return n;
}

// spin: PortOptions::wait_spin; 0 makes every wait that finds nothing sleep
// at once (the arm / eventfd path), the default polls 50 us first.
PortOptions opts(std::uint32_t slots, std::chrono::microseconds spin) {
    PortOptions o = small_opts(slots);
    o.wait_spin = spin;
    return o;
}

void stream(std::uint64_t total, std::uint32_t batch, bool blocking, std::uint32_t slots,
            std::chrono::microseconds spin = PortOptions{}.wait_spin) {
    std::string n = unique_name("seq");
    auto a = open_ok("pipe:" + n + "{0", opts(slots, spin));
    auto b = open_ok("pipe:" + n + "}0", opts(slots, spin));
    ASSERT_TRUE(a && b);
    std::jthread sender([&] {
        netmap_ring* tx = a->tx_ring(0);
        std::uint64_t seq = 0;
        while (seq < total) {
            if (nm_ring_empty(tx)) {
                if (blocking)
                    ASSERT_GE(a->wait(Direction::tx, std::chrono::seconds(10)), 1) << "sender starved";
                else
                    ASSERT_EQ(a->txsync(), 0);
                continue;
            }
            for (std::uint32_t k = 0; k < batch && seq < total && put(tx, seq); k++) seq++;
            ASSERT_EQ(a->txsync(), 0);
        }
        // packets the full peer could not take yet are pushed by later syncs
        for (int spins = 0; nm_tx_pending(tx) && spins < 10'000'000; spins++) {
            ASSERT_EQ(a->txsync(), 0);
            std::this_thread::yield();
        }
        EXPECT_FALSE(nm_tx_pending(tx));
    });
    netmap_ring* rx = b->rx_ring(0);
    std::uint64_t expect = 0, bad = 0;
    while (expect < total) {
        if (blocking) {
            ASSERT_EQ(b->wait(Direction::rx, std::chrono::seconds(10)), 1) << "lost wake-up at " << expect;
        } else {
            ASSERT_EQ(b->rxsync(), 0);
        }
        while (!nm_ring_empty(rx)) {
            if (seq_of(rx, rx->cur) != expect) bad++;
            expect++;
            rx->head = rx->cur = nm_ring_next(rx, rx->cur);
        }
    }
    sender.join();
    EXPECT_EQ(bad, 0u) << "lost, duplicated or reordered packets";
    EXPECT_EQ(expect, total);
    EXPECT_EQ(b->counters(Direction::rx).packets, total);
    if (blocking && spin.count() == 0) {
        EXPECT_GT(a->counters(Direction::tx).wakeups + b->counters(Direction::rx).wakeups, 0u)
            << "no side ever slept: the sleeping path was not exercised";
    }
}

TEST(PipeThreads, TenMillionPacketsInOrderBusy) { stream(scaled(10'000'000), 256, false, 1024); }

TEST(PipeThreads, SequenceBlockingSmallBatches) { stream(scaled(1'000'000), 7, true, 64); }

TEST(PipeThreads, SequenceBlockingSleepAtOnce) { stream(scaled(200'000), 7, true, 64, std::chrono::microseconds(0)); }

// Sleep/wake stress: tiny rings and batch 1 make both sides block all the
// time; a lost wake-up shows up as a 10 s timeout in wait(). With spin 0
// every wait sleeps (waking a sleeping vCPU takes tens of microseconds here,
// hence fewer rounds).
void ping_pong(std::uint64_t rounds, std::chrono::microseconds spin) {
    std::string n = unique_name("pp");
    auto a = open_ok("pipe:" + n + "{0", opts(4, spin));
    auto b = open_ok("pipe:" + n + "}0", opts(4, spin));
    std::jthread echo([&] {
        netmap_ring* rx = b->rx_ring(0);
        netmap_ring* tx = b->tx_ring(0);
        for (std::uint64_t i = 0; i < rounds; i++) {
            ASSERT_EQ(b->wait(Direction::rx, std::chrono::seconds(10)), 1) << "echo lost a wake-up at " << i;
            std::uint64_t v = seq_of(rx, rx->cur);
            rx->head = rx->cur = nm_ring_next(rx, rx->cur);
            ASSERT_EQ(b->wait(Direction::tx, std::chrono::seconds(10)), 1);
            ASSERT_TRUE(put(tx, v + 1));
            ASSERT_EQ(b->txsync(), 0);
        }
    });
    netmap_ring* tx = a->tx_ring(0);
    netmap_ring* rx = a->rx_ring(0);
    for (std::uint64_t i = 0; i < rounds; i++) {
        ASSERT_EQ(a->wait(Direction::tx, std::chrono::seconds(10)), 1);
        ASSERT_TRUE(put(tx, 2 * i));
        ASSERT_EQ(a->txsync(), 0);
        ASSERT_EQ(a->wait(Direction::rx, std::chrono::seconds(10)), 1) << "lost a wake-up at " << i;
        ASSERT_EQ(seq_of(rx, rx->cur), 2 * i + 1);
        rx->head = rx->cur = nm_ring_next(rx, rx->cur);
    }
    echo.join();
    if (spin.count() == 0) {
        EXPECT_GT(a->counters(Direction::rx).wakeups + b->counters(Direction::rx).wakeups, 0u)
            << "no side ever slept: the sleeping path was not exercised";
    }
}

TEST(PipeThreads, NoLostWakeupsPingPong) { ping_pong(scaled(200'000), PortOptions{}.wait_spin); }

TEST(PipeThreads, NoLostWakeupsPingPongSleepAtOnce) { ping_pong(scaled(20'000), std::chrono::microseconds(0)); }

} // namespace
} // namespace upio::test
