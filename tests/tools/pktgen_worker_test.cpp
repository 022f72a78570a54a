// pkt-gen's workers on a port whose rings the test drives: what arrives,
// and when, is decided here, so partial NS_MOREFRAG chains and persistent
// errors are reproducible.
#include "pktgen.hpp"

#include <upio/backend/adapter.hpp>
#include <upio/backend/port_type.hpp>
#include <upio/port.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

namespace {

using namespace std::chrono_literals;
using upio::Direction;

// What "arrives" on the rx ring is what the test puts there (produce()); the
// tx ring takes frames and never completes them (a dead link), or every
// txsync fails with tx_error.
class TestPort final : public upio::Adapter {
public:
    TestPort() : Adapter("tap:pktgen0") {}
    upio::Status init() {
        upio::MemoryConfig c;
        c.hugepages = upio::HugepagePolicy::never;
        upio::RingConfig rc{1, 1, 64, 64};
        auto m = upio::MemoryRegion::create("pktgen-test", upio::ring_bytes(rc) + 2 * upio::nifp_bytes(2), 200, c);
        if (!m) return std::move(m).error();
        return create_rings(std::move(m.value()), rc);
    }
    int txsync(upio::KRing& k, unsigned) noexcept override {
        if (int e = tx_error.load()) return e;
        k.nr_hwcur.store(k.rhead, std::memory_order_relaxed);
        return 0;
    }
    int rxsync(upio::KRing& k, unsigned) noexcept override {
        rxsyncs.fetch_add(1, std::memory_order_relaxed);
        k.nr_hwcur.store(k.rhead, std::memory_order_release);
        return 0;
    }
    // One slot of `len` bytes arrives on the rx ring (NS_MOREFRAG: more of
    // its frame follows), as a producer publishes it.
    void produce(std::uint16_t len, bool more) {
        upio::KRing& k = kring(Direction::rx, 0);
        const std::uint32_t j = k.nr_hwtail.load(std::memory_order_relaxed);
        netmap_slot& s = k.ring->slot[j];
        s.len = len;
        s.flags = more ? NS_MOREFRAG : 0;
        k.nr_hwtail.store(k.next(j), std::memory_order_release);
        upio::wake_if_sleeping(k);
    }

    std::atomic<int> tx_error{0};
    std::atomic<std::uint64_t> rxsyncs{0};
};

std::shared_ptr<TestPort> g_port;
upio::Result<std::shared_ptr<upio::Adapter>> test_factory(const upio::PortName&, const upio::PortOptions&) {
    return std::shared_ptr<upio::Adapter>(g_port);
}

// A fresh TestPort, opened; wait() sleeps at once (no spin), so the number
// of rxsyncs tells sleeping from spinning.
std::unique_ptr<upio::Port> open_test_port(std::shared_ptr<TestPort>& adapter) {
    adapter = std::make_shared<TestPort>();
    if (!adapter->init()) return nullptr;
    g_port = adapter;
    upio::register_port_type("tap", &test_factory);
    upio::PortOptions o;
    o.wait_spin = 0us;
    auto p = upio::Port::open("tap:pktgen0", o);
    g_port.reset();
    return p ? std::move(p.value()) : nullptr;
}

// Runs `fn` in a thread until it returns by itself or `limit` passes; then
// sets sh.stop and joins. True when it returned by itself.
template <class Fn>
bool run_until(pktgen::Worker& w, pktgen::Shared& sh, std::chrono::milliseconds limit, Fn fn) {
    std::thread t(fn);
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!w.done.load() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
    const bool by_itself = w.done.load();
    sh.stop.store(true);
    t.join();
    return by_itself;
}

TEST(PktGenFrameReader, LeavesAChainStillArrivingInTheRingAndWaitSleeps) {
    std::shared_ptr<TestPort> a;
    auto port = open_test_port(a);
    ASSERT_TRUE(port);
    netmap_ring* r = port->rx_ring(0);
    a->produce(100, false); // a frame
    a->produce(2048, true); // the first slot of a chain
    ASSERT_EQ(port->rxsync(), 0);
    ASSERT_EQ(r->tail, 2u);

    pktgen::FrameReader f(r);
    std::uint32_t first = 99, nslots = 0;
    std::size_t len = 0;
    ASSERT_TRUE(f.next(first, nslots, len));
    EXPECT_EQ(first, 0u);
    EXPECT_EQ(nslots, 1u);
    EXPECT_EQ(len, 100u);
    EXPECT_FALSE(f.next(first, nslots, len)) << "the chain is not whole yet";
    f.release();
    EXPECT_EQ(r->head, 1u) << "the chain's first slot stays in the ring";
    EXPECT_EQ(r->cur, 2u) << "cur at tail: wait() sleeps until more arrives";

    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(port->wait(Direction::rx, 100ms), 0) << "nothing new arrived: the wait times out";
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 90ms);

    a->produce(2048, true);
    a->produce(500, false); // the chain is complete
    EXPECT_EQ(port->wait(Direction::rx, 5s), 1);
    pktgen::FrameReader g(r);
    ASSERT_TRUE(g.next(first, nslots, len)) << "read again from head: the whole chain";
    EXPECT_EQ(first, 1u);
    EXPECT_EQ(nslots, 3u);
    EXPECT_EQ(len, 2048u + 2048 + 500);
    EXPECT_FALSE(g.next(first, nslots, len));
    g.release();
    EXPECT_EQ(r->head, 4u);
    EXPECT_EQ(r->cur, 4u);
    EXPECT_EQ(port->rxsync(), 0) << port->last_error();
}

TEST(PktGenReceiver, SleepsWhileAChainIsIncompleteThenReceivesItWhole) {
    std::shared_ptr<TestPort> a;
    pktgen::Worker w;
    w.role = pktgen::Role::receiver;
    w.port = open_test_port(a);
    ASSERT_TRUE(w.port);
    netmap_ring* r = w.port->rx_ring(0);
    a->produce(2048, true); // only the first slot of a chain

    pktgen::Config cfg;
    cfg.mode = "rx";
    {
        pktgen::Shared sh;
        const std::uint64_t before = a->rxsyncs.load();
        EXPECT_FALSE(run_until(w, sh, 300ms, [&] { pktgen::run_receiver(w, cfg, sh); }));
        // a sleeping receiver syncs a few times per 100 ms wait; one that
        // spins on the half chain does so without pause
        EXPECT_LT(a->rxsyncs.load() - before, 100u) << "the receiver spun while the chain was incomplete";
    }
    EXPECT_TRUE(w.error.empty()) << w.error;
    EXPECT_EQ(w.stats.packets.load(), 0u);
    EXPECT_EQ(r->head, 0u) << "the incomplete chain stays in the ring";
    EXPECT_EQ(r->cur, r->tail) << "cur at tail: the receiver's wait sleeps";

    a->produce(1000, false); // the rest of the chain
    cfg.count = 1;
    w.done.store(false);
    pktgen::Shared sh;
    EXPECT_TRUE(run_until(w, sh, 10s, [&] { pktgen::run_receiver(w, cfg, sh); }));
    EXPECT_TRUE(w.error.empty()) << w.error;
    EXPECT_EQ(w.stats.packets.load(), 1u);
    EXPECT_EQ(w.stats.bytes.load(), 3048u) << "one frame: both slots of the chain";
    EXPECT_EQ(r->head, 2u);
    EXPECT_EQ(r->cur, 2u);
}

TEST(PktGenPong, StopsOnAPersistentTxError) {
    std::shared_ptr<TestPort> a;
    pktgen::Worker w;
    w.role = pktgen::Role::pong;
    w.port = open_test_port(a);
    ASSERT_TRUE(w.port);
    // the tx ring is full (taken, never completed) and every txsync fails
    netmap_ring* tx = w.port->tx_ring(0);
    tx->head = tx->cur = tx->tail;
    ASSERT_EQ(w.port->txsync(), 0) << w.port->last_error();
    ASSERT_EQ(nm_ring_space(tx), 0u);
    a->tx_error.store(-EIO);
    a->produce(100, false); // a frame to answer

    pktgen::Config cfg;
    cfg.mode = "pong";
    pktgen::Shared sh;
    EXPECT_TRUE(run_until(w, sh, 5s, [&] { pktgen::run_pong(w, cfg, sh); }))
        << "pong kept retrying a tx ring whose sync fails";
    EXPECT_NE(w.error.find(std::strerror(EIO)), std::string::npos) << w.error;
}

} // namespace
