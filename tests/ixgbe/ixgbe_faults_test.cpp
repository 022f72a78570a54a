// The ixgbe driver against a hostile 82599 model: bad receive write-backs
// (lengths, error bits, garbage, chains without an end) never reach the
// application and are counted; surprise removal (all-ones reads) turns the
// port into "device removed": syncs fail with ENODEV, the link is down,
// blocked waiters wake, close does not wait on the hardware.
#include "ixgbe_test_util.hpp"

#include "../common/rx_fault_stream.hpp"

#include <atomic>
#include <chrono>
#include <thread>

using namespace upio;
using namespace upio::ixgbe;
using namespace upio::ixgbe::test;
using upio::test::RxFault;

namespace {

// 1 KiB buffers: a 1514-byte frame is a chain of two.
PortOptions small_bufs() {
    PortOptions o = small_opts(64);
    o.memory.buf_size = 1024;
    return o;
}

auto maker(const ModelPort& f) {
    return [mac = f.mac()](std::uint32_t seq, std::size_t len) { return make_frame(mac, seq, len); };
}
auto feeder(const ModelPort& f) {
    return [m = f.model](const Frame& fr) { return m->receive(fr.data(), fr.size()); };
}

// Waits (bounded) until the ring's owner is asleep in Port::wait.
bool asleep(const KRing& k) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!k.sleeping.load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    return k.sleeping.load();
}

} // namespace

TEST(IxgbeFaults, BadWriteBacksNeverReachTheApplicationAndAreCounted) {
    ModelPort f(0x1c, small_bufs());
    ASSERT_TRUE(f.port);
    upio::test::run_fault_stream(*f.port, *f.model, maker(f), feeder(f), upio::test::frame_faults(), 6, 1514);
}

TEST(IxgbeFaults, EveryFaultAloneOnAFreshRing) {
    // the first drop on a ring happens on the fast path's check (descriptor
    // i is slot i until then): each fault once on its own port
    for (RxFault fault : upio::test::frame_faults()) {
        SCOPED_TRACE(upio::test::fault_name(fault));
        ModelPort f(0x1c, small_bufs());
        ASSERT_TRUE(f.port);
        upio::test::run_fault_stream(*f.port, *f.model, maker(f), feeder(f), {fault}, 1, 1514);
    }
}

TEST(IxgbeFaults, AChainThatCannotEndIsDroppedWhole) {
    ModelPort f(0x1c, small_bufs());
    ASSERT_TRUE(f.port);
    upio::test::run_endless_chain(*f.port, *f.model, maker(f), feeder(f));
}

TEST(IxgbeFaults, QueueDropsAreStillCountedAfterADrop) {
    ModelPort f(0x1c, small_opts(64));
    ASSERT_TRUE(f.port);
    f.model->inject_rx_fault(RxFault::len_huge);
    Frame bad = make_frame(f.mac(), 0xbad, 60);
    ASSERT_TRUE(f.model->receive(bad.data(), bad.size()));
    ASSERT_EQ(f.port->rxsync(), 0);
    EXPECT_TRUE(nm_ring_empty(f.rx()));
    EXPECT_EQ(f.port->counters(Direction::rx).rx_errors, 1u);
    // slots and descriptors are one apart now; a full ring still drops in
    // the queue, and the sync still counts it
    int accepted = 0;
    for (int i = 0; i < 100; i++) {
        Frame fr = make_frame(f.mac(), i, 60);
        accepted += f.model->receive(fr.data(), fr.size());
    }
    EXPECT_EQ(accepted, 63);
    ASSERT_EQ(f.port->rxsync(), 0);
    EXPECT_EQ(f.port->counters(Direction::rx).drops, 37u);
    auto frames = take_all(f.rx());
    ASSERT_EQ(frames.size(), 63u);
    for (int i = 0; i < 63; i++) EXPECT_EQ(frames[i], make_frame(f.mac(), i, 60)) << i;
    EXPECT_EQ(f.adapter->stats().rx_queue_drops, 37u);
    EXPECT_EQ(f.port->counters(Direction::rx).rx_errors, 1u);
}

TEST(IxgbeFaults, RemovalIsSeenByLinkStatusAndFailsEverySync) {
    ModelPort f(0x1c);
    ASSERT_TRUE(f.port);
    EXPECT_TRUE(f.port->adapter().link_up());
    f.model->set_removed(true);
    EXPECT_FALSE(f.adapter->removed()); // nobody has looked yet
    EXPECT_FALSE(f.adapter->link_status().up);
    EXPECT_FALSE(f.port->adapter().link_up());
    EXPECT_TRUE(f.adapter->removed());
    EXPECT_EQ(f.port->rxsync(), -ENODEV);
    expect_has(f.port->last_error(), "device removed");
    EXPECT_EQ(f.port->txsync(), -ENODEV);
    expect_has(f.port->last_error(), "device removed");
    EXPECT_EQ(f.port->wait(Direction::rx, std::chrono::seconds(30)), -ENODEV);
    // the counters are not read as all-ones
    const HwStats s = f.adapter->stats();
    EXPECT_EQ(s.rx_packets, 0u);
    EXPECT_EQ(s.rx_missed, 0u);
    EXPECT_EQ(f.port->counters(Direction::rx).drops, 0u);
}

TEST(IxgbeFaults, RemovalWakesABlockedWaiter) {
    ModelPort f(0x1c);
    ASSERT_TRUE(f.port);
    ASSERT_TRUE(f.adapter->has_interrupts());
    std::atomic<int> rc{1};
    std::thread waiter([&] { rc = f.port->wait(Direction::rx, std::chrono::seconds(60)); });
    ASSERT_TRUE(asleep(f.port->adapter().kring(Direction::rx, 0)));
    f.model->set_removed(true);
    (void)f.adapter->link_status(); // the control path finds it gone and wakes every waiter
    waiter.join();
    EXPECT_EQ(rc.load(), -ENODEV); // woken, not timed out (0)
    expect_has(f.port->last_error(), "device removed");
}

TEST(IxgbeFaults, TheHostsRequestForTheDeviceWakesABlockedWaiter) {
    // VFIO's request interrupt: the host wants the device back (an unbind,
    // a hot-unplug on its way); nobody else looks
    ModelPort f(0x1c);
    ASSERT_TRUE(f.port);
    std::atomic<int> rc{1};
    std::thread waiter([&] { rc = f.port->wait(Direction::rx, std::chrono::seconds(60)); });
    ASSERT_TRUE(asleep(f.port->adapter().kring(Direction::rx, 0)));
    f.model->request_release();
    waiter.join();
    EXPECT_EQ(rc.load(), -ENODEV);
    expect_has(f.port->last_error(), "device removed");
    EXPECT_TRUE(f.adapter->removed());
    EXPECT_FALSE(f.port->adapter().link_up());
    EXPECT_EQ(f.port->txsync(), -ENODEV);
}

TEST(IxgbeFaults, ATxSyncThatStallsOnARemovedDeviceSaysRemoved) {
    ModelPort f(0x1c);
    ASSERT_TRUE(f.port);
    f.model->set_removed(true);
    ASSERT_TRUE(put(f.tx(), make_frame(f.mac(), 1, 60)));
    int rc = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (rc == 0 && std::chrono::steady_clock::now() < until) rc = f.port->txsync(SYNC_FORCE_RECLAIM);
    EXPECT_EQ(rc, -ENODEV); // not -ETIMEDOUT: the stall made the driver look
    EXPECT_TRUE(f.adapter->removed());
}

TEST(IxgbeFaults, CloseAfterRemovalDoesNotWaitOnTheHardware) {
    // timeouts an hour long: a close that waited for any register would
    // outlast the test's own timeout
    DriverOptions d = fast_opts();
    d.reset_timeout = d.queue_timeout = std::chrono::hours(1);
    {
        ModelPort f(0x1c, small_opts(64), d);
        ASSERT_TRUE(f.port);
        f.model->set_removed(true); // and nobody looks before the close
        f.port.reset();
    }
    {
        ModelPort f(0x1d, small_opts(64, 4), d);
        ASSERT_TRUE(f.port);
        f.model->set_removed(true);
        EXPECT_FALSE(f.port->adapter().link_up());
        f.port.reset();
    }
}
