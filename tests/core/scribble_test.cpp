// Pipes whose application scribbles on slots it does not own while traffic
// runs: the pipe never hands an index outside the region (or a length above
// a buffer) to the other end, counts what it refused as drops, and a pipe
// of another name streams on untouched. Run under AddressSanitizer, not
// ThreadSanitizer (the scribbling races with the pipe on purpose).
#include "helpers.hpp"

#include "../common/scribble.hpp"

#include <cstdlib>
#include <thread>

namespace upio::test {
namespace {

std::uint64_t scaled(std::uint64_t n) {
    if (const char* s = std::getenv("UPIO_TEST_SCALE")) return std::max<std::uint64_t>(1000, std::uint64_t(double(n) * std::atof(s)));
    return n;
}

// A pipe of its own name streaming `total` sequence numbers, checked exactly.
struct CalmPipe {
    std::unique_ptr<Port> a, b;
    std::uint64_t total, received = 0, bad = 0;
    std::jthread sender;
    explicit CalmPipe(std::uint64_t n) : total(n) {
        const std::string name = unique_name("calm");
        a = open_ok("pipe:" + name + "{0");
        b = open_ok("pipe:" + name + "}0");
        sender = std::jthread([this] {
            netmap_ring* tx = a->tx_ring(0);
            for (std::uint64_t seq = 0; seq < total;) {
                while (seq < total && put(tx, seq)) seq++;
                ASSERT_EQ(a->txsync(), 0);
                if (nm_ring_empty(tx)) std::this_thread::yield();
            }
            for (int spins = 0; nm_tx_pending(tx) && spins < 10'000'000; spins++) {
                ASSERT_EQ(a->txsync(), 0);
                std::this_thread::yield();
            }
        });
    }
    // Receives one batch; true while frames are still due.
    bool poll() {
        netmap_ring* rx = b->rx_ring(0);
        EXPECT_EQ(b->rxsync(), 0);
        while (!nm_ring_empty(rx)) {
            if (seq_of(rx, rx->cur) != received) bad++;
            received++;
            rx->head = rx->cur = nm_ring_next(rx, rx->cur);
        }
        return received < total;
    }
    void finish() {
        for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
             poll() && std::chrono::steady_clock::now() < until;)
            std::this_thread::yield();
        sender.join();
        EXPECT_EQ(received, total) << "the untouched pipe lost frames";
        EXPECT_EQ(bad, 0u) << "the untouched pipe reordered or corrupted frames";
        EXPECT_EQ(b->counters(Direction::rx).drops, 0u);
        EXPECT_EQ(a->counters(Direction::tx).prologue_errors + b->counters(Direction::rx).prologue_errors, 0u);
    }
};

// The receiver scribbles on its free rx slots (the ones the sender swaps
// its frames into): the sender must never get an index outside the region.
TEST(PipeScribble, ReceiverScribblingItsFreeSlotsNeverReachesTheSender) {
    const std::string name = unique_name("scr");
    auto a = open_ok("pipe:" + name + "{0");
    auto b = open_ok("pipe:" + name + "}0");
    ASSERT_TRUE(a && b);
    const MemoryRegion& mem = a->adapter().memory();
    const std::uint64_t total = scaled(400000);
    CalmPipe calm(total);
    std::atomic<bool> sent{false};
    std::atomic<std::uint64_t> handed_bad{0};
    std::jthread sender([&] {
        netmap_ring* tx = a->tx_ring(0);
        const CarefulRing c(tx, mem);
        for (std::uint64_t seq = 0; seq < total;) {
            while (seq < total && !nm_ring_empty(tx)) {
                netmap_slot& s = tx->slot[tx->cur];
                if (!c.valid(s.buf_idx)) { // only the pipe writes this ring's slots
                    handed_bad.fetch_add(1, std::memory_order_relaxed);
                    break;
                }
                std::memcpy(NETMAP_BUF(tx, s.buf_idx), &seq, sizeof seq);
                s.len = 60;
                s.flags = 0;
                tx->head = tx->cur = nm_ring_next(tx, tx->cur);
                seq++;
            }
            if (handed_bad.load(std::memory_order_relaxed)) break;
            ASSERT_EQ(a->txsync(), 0);
            if (nm_ring_empty(tx)) std::this_thread::yield();
        }
        sent = true;
    });

    netmap_ring* rx = b->rx_ring(0);
    CarefulRing c(rx, mem);
    std::uint64_t frames = 0, repaired = 0, refused = 0;
    {
        Scribbler scribbler({rx}, mem.num_bufs(), true);
        while (!sent.load()) {
            refused += c.sync([&] { return b->rxsync(); });
            for (std::uint32_t n = c.avail(); n; n--) {
                netmap_slot& s = rx->slot[rx->cur];
                if (c.repair(s))
                    repaired++;
                else if (s.len >= 8)
                    frames++;
                rx->head = rx->cur = nm_ring_next(rx, rx->cur);
            }
            calm.poll();
        }
        EXPECT_GT(scribbler.writes(), 0u);
    }
    sender.join();
    calm.finish();
    EXPECT_EQ(handed_bad.load(), 0u) << "the pipe gave the sender a buffer index outside the region";
    const auto rc = b->counters(Direction::rx);
    EXPECT_GT(rc.drops, 0u) << "no scribbled slot was caught (" << repaired << " repaired by the receiver)";
    EXPECT_GT(frames, 0u);
    std::printf("frames %llu, drops %llu, repaired %llu, refused syncs %llu\n", (unsigned long long)frames,
                (unsigned long long)rc.drops, (unsigned long long)repaired, (unsigned long long)refused);
}

// The sender scribbles on its pending tx slots (queued for a slow receiver,
// re-read by later txsyncs): the receiver must never get an index outside
// the region or a length above a buffer.
TEST(PipeScribble, SenderScribblingItsPendingSlotsNeverReachesTheReceiver) {
    const std::string name = unique_name("scs");
    auto a = open_ok("pipe:" + name + "{0");
    auto b = open_ok("pipe:" + name + "}0");
    ASSERT_TRUE(a && b);
    const MemoryRegion& mem = a->adapter().memory();
    const std::uint64_t total = scaled(400000);
    CalmPipe calm(total);
    std::atomic<bool> sent{false};
    std::uint64_t refused = 0;
    std::jthread sender([&] {
        netmap_ring* tx = a->tx_ring(0);
        CarefulRing c(tx, mem);
        Scribbler scribbler({tx}, mem.num_bufs(), false);
        for (std::uint64_t seq = 0; seq < total;) {
            for (std::uint32_t n = c.avail(); n && seq < total; n--, seq++) {
                netmap_slot& s = tx->slot[tx->cur];
                c.repair(s);
                std::memcpy(NETMAP_BUF(tx, s.buf_idx), &seq, sizeof seq);
                s.len = 60;
                s.flags = 0;
                tx->head = tx->cur = nm_ring_next(tx, tx->cur);
            }
            refused += c.sync([&] { return a->txsync(); });
            std::this_thread::yield();
        }
        sent = true;
    });

    netmap_ring* rx = b->rx_ring(0);
    const CarefulRing c(rx, mem);
    std::uint64_t frames = 0, empty = 0, handed_bad = 0;
    for (std::uint64_t round = 0; !sent.load(); round++) {
        ASSERT_EQ(b->rxsync(), 0);
        // Slowly: take at most 8 frames a round, so the sender's ring fills
        // and its frames wait (pending) where the scribbler writes.
        for (int k = 0; k < 8 && !nm_ring_empty(rx); k++) {
            const netmap_slot& s = rx->slot[rx->cur];
            if (!c.valid(s.buf_idx) || s.len > c.buf_size)
                handed_bad++;
            else if (s.len == 0)
                empty++;
            else
                frames++;
            rx->head = rx->cur = nm_ring_next(rx, rx->cur);
        }
        calm.poll();
        std::this_thread::yield();
    }
    sender.join();
    calm.finish();
    EXPECT_EQ(handed_bad, 0u) << "the pipe gave the receiver an index outside the region or a length above a buffer";
    // A pending slot scribbled before a sync is refused by that sync's
    // prologue (prologue_errors), one scribbled during it by the swap (drops).
    const auto rc = b->counters(Direction::rx);
    const auto tc = a->counters(Direction::tx);
    EXPECT_GT(rc.drops + tc.prologue_errors, 0u) << "no scribbled slot was caught";
    EXPECT_GT(frames, 0u);
    std::printf("frames %llu, empty slots %llu, drops %llu, prologue errors %llu, sender's refused syncs %llu\n",
                (unsigned long long)frames, (unsigned long long)empty, (unsigned long long)rc.drops,
                (unsigned long long)tc.prologue_errors, (unsigned long long)refused);
}

} // namespace
} // namespace upio::test
