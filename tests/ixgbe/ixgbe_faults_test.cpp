// The ixgbe driver against a hostile 82599 model: bad receive write-backs
// (lengths, error bits, garbage, chains without an end) never reach the
// application and are counted; surprise removal (all-ones reads) turns the
// port into "device removed": syncs fail with ENODEV, the link is down,
// blocked waiters wake, close does not wait on the hardware; the link lost
// and back, or a transmit queue hung, mid-stream: the port goes on.
#include "ixgbe_test_util.hpp"

#include "../common/nic_stream.hpp"
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

// Slots the driver holds, scribbled by the application: a dropped frame's
// buffers go back to the device through them (drivers::rx_drop), and a bad
// index there becomes the reserved buffer 0, never a device address.
TEST(IxgbeFaults, ScribbledDriverSlotsNeverBecomeDeviceAddresses) {
    ModelPort f(0x15);
    ASSERT_TRUE(f.port);
    netmap_ring* rx = f.rx();
    ASSERT_EQ(f.port->rxsync(), 0);
    ASSERT_EQ(rx->head, rx->tail); // nothing received: every slot is the driver's
    for (std::uint32_t i = 0; i < rx->num_slots; i++) rx->slot[i].buf_idx = 0xfffffff0u - i;
    f.model->inject_rx_fault(RxFault::len_huge);
    const Frame fr = make_frame(f.mac(), 1, 60);
    ASSERT_TRUE(f.model->receive(fr.data(), fr.size()));
    ASSERT_EQ(f.port->rxsync(), 0);
    EXPECT_EQ(f.port->counters(Direction::rx).rx_errors, 1u);
    for (std::uint32_t i = 0; i < 3; i++) ASSERT_TRUE(f.model->receive(fr.data(), fr.size()));
    ASSERT_EQ(f.port->rxsync(), 0);
    EXPECT_EQ(nm_ring_space(rx), 3u);
    EXPECT_EQ(f.model->faults(), 0u) << f.model->last_fault();
}

// -- link flaps and TX hangs mid-stream: two 82599 models back to back, a
// sender thread on one, a receiver thread on the other

namespace {

struct BackToBack {
    std::unique_ptr<Port> a, b;
    IxgbeModel* ma = nullptr;
    IxgbeModel* mb = nullptr;

    BackToBack(std::uint8_t da, std::uint8_t db) {
        use_model(da);
        use_model(db);
        auto pa = Port::open("ixgbe:" + pci(da).str(), small_opts(64));
        auto pb = Port::open("ixgbe:" + pci(db).str(), small_opts(64));
        if (!pa.ok() || !pb.ok()) {
            ADD_FAILURE() << (pa.ok() ? pb.error().message : pa.error().message);
            return;
        }
        a = std::move(pa.value());
        b = std::move(pb.value());
        ma = model_at(da);
        mb = model_at(db);
        IxgbeModel::connect(*ma, *mb);
    }
    static IxgbeAdapter& nic(Port& p) { return dynamic_cast<IxgbeAdapter&>(p.adapter()); }
    upio::test::NicStream::MakeFrame frames() const {
        return [dst = nic(*b).mac()](std::uint32_t seq) { return make_frame(dst, seq, 60 + seq % 200); };
    }
    static std::uint32_t seq(const std::uint8_t* p) { return frame_seq(p); }
};

// Waits (bounded) until the port's tx counters show `n` hangs.
bool hangs_reach(const Port& p, std::uint64_t n) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (p.counters(Direction::tx).tx_hangs < n && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return p.counters(Direction::tx).tx_hangs >= n;
}

} // namespace

// The link goes down three times mid-stream: both ports say so, frames sent
// meanwhile wait in the ring and leave once it is back (the receiver's side
// first, so none arrives at a port without a link): not one is lost, none
// reordered, no reopen.
TEST(IxgbeFaults, LinkFlapsMidStreamLoseNothing) {
    BackToBack n(0x10, 0x11);
    ASSERT_TRUE(n.a && n.b);
    constexpr std::uint32_t total = 20000;
    upio::test::NicStream s(*n.a, *n.b, total, n.frames(), &BackToBack::seq);
    s.start();
    for (std::uint32_t flap = 1; flap <= 3; flap++) {
        ASSERT_TRUE(s.wait_received(flap * 4000)) << s.why();
        n.ma->set_cable(false);
        n.mb->set_cable(false);
        EXPECT_FALSE(n.a->link_up());
        EXPECT_FALSE(n.b->link_up());
        ASSERT_TRUE(s.wait_syncs(20)); // the sender goes on into a ring that cannot drain
        n.mb->set_cable(true);
        ASSERT_TRUE(BackToBack::nic(*n.b).wait_link(std::chrono::seconds(10)).ok());
        n.ma->set_cable(true);
        ASSERT_TRUE(BackToBack::nic(*n.a).wait_link(std::chrono::seconds(10)).ok());
        EXPECT_TRUE(n.a->link_up());
        EXPECT_TRUE(n.b->link_up());
    }
    s.join();
    ASSERT_FALSE(s.failed()) << s.why();
    EXPECT_EQ(s.received(), total);
    EXPECT_EQ(s.missing(), 0u);
    EXPECT_EQ(s.lost(), 0u);
    EXPECT_EQ(n.a->counters(Direction::tx).tx_hangs, 0u); // a link down is not a hang to reset
    EXPECT_EQ(n.ma->faults() + n.mb->faults(), 0u);
}

// The transmit queue hangs mid-stream (the model's queue stops until it is
// reset): a sync finds it within the hang timeout, says -ETIMEDOUT once with
// the report in last_error, resets the queue and the stream goes on on the
// same port. The frames in flight are the only loss: the driver's count is
// exactly the gap the receiver saw.
TEST(IxgbeFaults, TxHangMidStreamIsResetAndTheStreamGoesOn) {
    BackToBack n(0x12, 0x13);
    ASSERT_TRUE(n.a && n.b);
    constexpr std::uint32_t total = 20000;
    upio::test::NicStream s(*n.a, *n.b, total, n.frames(), &BackToBack::seq);
    s.start();
    ASSERT_TRUE(s.wait_received(5000)) << s.why();
    n.ma->hang_tx(0);
    ASSERT_TRUE(hangs_reach(*n.a, 1));
    s.join();
    ASSERT_FALSE(s.failed()) << s.why();
    EXPECT_EQ(n.a->counters(Direction::tx).tx_hangs, 1u);
    EXPECT_EQ(s.timeouts(), 1u); // one hang, reported once
    EXPECT_GT(s.lost(), 0u);
    EXPECT_LE(s.lost(), 32u); // the sender's window
    EXPECT_EQ(s.missing(), s.lost());
    EXPECT_EQ(s.received() + s.lost(), total);
    EXPECT_FALSE(n.ma->tx_hung(0)); // the driver reset the queue
    EXPECT_FALSE(BackToBack::nic(*n.a).tx_hung(0));
    expect_has(n.a->last_error(), "tx ring 0: TX hang: descriptor");
    expect_has(n.a->last_error(), "; link up; queue reset, ");
    expect_has(BackToBack::nic(*n.a).tx_hang_report(0), "frames lost");
    EXPECT_EQ(n.ma->faults() + n.mb->faults(), 0u);
}

// A sender asleep in wait() for free slots on a hung queue: no interrupt
// will come, but the wait wakes to sync within the hang timeout, finds the
// hang and returns it; the queue is reset, the next wait finds the ring free.
TEST(IxgbeFaults, ATxWaitOnAHungQueueWakesToTheHang) {
    ModelPort f(0x14);
    ASSERT_TRUE(f.port);
    f.model->hang_tx(0);
    while (put(f.tx(), make_frame(f.mac(), 1, 60))) {
    }
    ASSERT_EQ(f.port->txsync(), 0);
    EXPECT_EQ(f.port->wait(Direction::tx, std::chrono::seconds(60)), -ETIMEDOUT);
    expect_has(f.port->last_error(), "queue reset, 63 frames lost");
    EXPECT_EQ(f.port->wait(Direction::tx, std::chrono::seconds(60)), 1);
    EXPECT_EQ(nm_ring_space(f.tx()), 63u);
    EXPECT_EQ(f.port->counters(Direction::tx).drops, 63u);
    // and it sends again
    ASSERT_TRUE(put(f.tx(), make_frame(f.mac(), 2, 60)));
    ASSERT_EQ(f.port->txsync(SYNC_FORCE_RECLAIM), 0);
    EXPECT_EQ(f.wire.size(), 1u);
}
