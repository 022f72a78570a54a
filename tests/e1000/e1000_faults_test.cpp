// The e1000 driver against a hostile model, legacy descriptors (8254x,
// 82574L) and advanced ones (82576, I350): bad receive write-backs never
// reach the application and are counted; surprise removal (all-ones reads)
// turns the port into "device removed"; the link lost and back, or the
// transmit queue hung, mid-stream: the port goes on.
#include "e1000_test_util.hpp"

#include "../common/nic_stream.hpp"
#include "../common/rx_fault_stream.hpp"

#include <atomic>
#include <chrono>
#include <thread>

using namespace upio;
using namespace upio::e1000;
using namespace upio::e1000::test;
using upio::test::RxFault;

namespace {

struct Fixture {
    std::unique_ptr<Port> port;
    E1000Model* model = nullptr;
    E1000Adapter* adapter = nullptr;

    Fixture(std::uint8_t dev, Chip chip, PortOptions o = small_opts(64), DriverOptions d = fast_opts()) {
        use_models();
        Factory::set_default_options(d);
        ModelConfig cfg;
        cfg.chip = chip;
        ModelRegistry::get().configs[pci(dev)] = cfg;
        auto p = Port::open("e1000:" + pci(dev).str(), o);
        if (!p.ok()) {
            ADD_FAILURE() << p.error().message;
            return;
        }
        port = std::move(p.value());
        model = ModelRegistry::get().models[pci(dev)];
        adapter = dynamic_cast<E1000Adapter*>(&port->adapter());
        model->set_wire([](const std::uint8_t*, std::size_t) {});
    }
    std::function<Frame(std::uint32_t, std::size_t)> make() const {
        return [mac = adapter->mac()](std::uint32_t seq, std::size_t len) { return make_frame(mac, seq, len); };
    }
    std::function<bool(const Frame&)> feed() const {
        return [m = model](const Frame& fr) { return m->receive(fr.data(), fr.size()); };
    }
};

// 1 KiB buffers: a 1514-byte frame is a chain of two.
PortOptions small_bufs() {
    PortOptions o = small_opts(64);
    o.memory.buf_size = 1024;
    return o;
}

struct ChipCase {
    Chip chip;
    const char* name;
};
const ChipCase chips[] = {{Chip::i82540em, "82540EM (legacy)"},
                          {Chip::i82574l, "82574L (legacy, MSI-X)"},
                          {Chip::i82576, "82576 (advanced)"},
                          {Chip::i350, "I350 (advanced)"}};

bool asleep(const KRing& k) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!k.sleeping.load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    return k.sleeping.load();
}

} // namespace

TEST(E1000Faults, BadWriteBacksNeverReachTheApplicationAndAreCounted) {
        for (const ChipCase& c : chips) {
        SCOPED_TRACE(c.name);
        Fixture f(28, c.chip, small_bufs());
        ASSERT_TRUE(f.port);
        upio::test::run_fault_stream(*f.port, *f.model, f.make(), f.feed(), upio::test::frame_faults(), 6, 1514);
    }
}

TEST(E1000Faults, AChainThatCannotEndIsDroppedWhole) {
        for (const ChipCase& c : chips) {
        SCOPED_TRACE(c.name);
        Fixture f(28, c.chip, small_bufs());
        ASSERT_TRUE(f.port);
        upio::test::run_endless_chain(*f.port, *f.model, f.make(), f.feed());
    }
}

TEST(E1000Faults, RemovalIsSeenByLinkStatusAndFailsEverySync) {
        for (const ChipCase& c : chips) {
        SCOPED_TRACE(c.name);
        Fixture f(28, c.chip);
        ASSERT_TRUE(f.port);
        EXPECT_TRUE(f.port->adapter().link_up());
        f.model->set_removed(true);
        EXPECT_FALSE(f.adapter->removed());
        EXPECT_FALSE(f.port->adapter().link_up()); // STATUS reads all-ones: not "link up"
        EXPECT_TRUE(f.adapter->removed());
        EXPECT_EQ(f.port->rxsync(), -ENODEV);
        expect_has(f.port->last_error(), "device removed");
        EXPECT_EQ(f.port->txsync(), -ENODEV);
        EXPECT_EQ(f.port->wait(Direction::tx, std::chrono::seconds(30)), -ENODEV);
        const HwStats s = f.adapter->stats();
        EXPECT_EQ(s.rx_packets, 0u);
        EXPECT_EQ(f.port->counters(Direction::rx).drops, 0u);
    }
}

TEST(E1000Faults, RemovalWakesABlockedWaiter) {
        for (const ChipCase& c : chips) {
        SCOPED_TRACE(c.name);
        Fixture f(28, c.chip);
        ASSERT_TRUE(f.port);
        std::atomic<int> rc{1};
        std::thread waiter([&] { rc = f.port->wait(Direction::rx, std::chrono::seconds(60)); });
        EXPECT_TRUE(asleep(f.port->adapter().kring(Direction::rx, 0)));
        f.model->set_removed(true);
        (void)f.adapter->link_status(); // the control path finds it gone and wakes every waiter
        waiter.join();
        EXPECT_EQ(rc.load(), -ENODEV); // woken, not timed out (0)
    }
}

TEST(E1000Faults, TheHostsRequestForTheDeviceWakesABlockedWaiter) {
    for (const ChipCase& c : chips) {
        SCOPED_TRACE(c.name);
        Fixture f(28, c.chip);
        ASSERT_TRUE(f.port);
        std::atomic<int> rc{1};
        std::thread waiter([&] { rc = f.port->wait(Direction::rx, std::chrono::seconds(60)); });
        EXPECT_TRUE(asleep(f.port->adapter().kring(Direction::rx, 0)));
        f.model->request_release(); // nobody else looks
        waiter.join();
        EXPECT_EQ(rc.load(), -ENODEV);
        EXPECT_EQ(f.port->txsync(), -ENODEV);
        expect_has(f.port->last_error(), "device removed");
        EXPECT_FALSE(f.port->adapter().link_up());
    }
}

TEST(E1000Faults, ATxSyncThatStallsOnARemovedDeviceSaysRemoved) {
    Fixture f(29, Chip::i82540em);
    ASSERT_TRUE(f.port);
    f.model->set_removed(true);
    ASSERT_TRUE(put(f.port->tx_ring(0), make_frame(f.adapter->mac(), 1, 60)));
    int rc = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (rc == 0 && std::chrono::steady_clock::now() < until) rc = f.port->txsync();
    EXPECT_EQ(rc, -ENODEV);
    EXPECT_TRUE(f.adapter->removed());
}

TEST(E1000Faults, CloseAfterRemovalDoesNotWaitOnTheHardware) {
    // timeouts an hour long: a close that waited for any register would
    // outlast the test's own timeout
    DriverOptions d = fast_opts();
    d.reset_timeout = d.queue_timeout = std::chrono::hours(1);
        for (const ChipCase& c : chips) {
        SCOPED_TRACE(c.name);
        Fixture f(28, c.chip, small_opts(64), d);
        ASSERT_TRUE(f.port);
        f.model->set_removed(true); // nobody looks before the close
        f.port.reset();
    }
}

// The slots the driver holds (rx: from tail to head) are not the
// application's, but it can write them. A dropped frame's buffers go back
// to the device through those slots (drivers::rx_drop): an index scribbled
// there must not reach the device as an address (nor be looked up outside
// the IOVA table); the reserved buffer 0 takes its place, as in netmap.
TEST(E1000Faults, ScribbledDriverSlotsNeverBecomeDeviceAddresses) {
    for (const ChipCase& c : chips) {
        SCOPED_TRACE(c.name);
        Fixture f(28, c.chip);
        ASSERT_TRUE(f.port);
        netmap_ring* rx = f.port->rx_ring(0);
        ASSERT_EQ(f.port->rxsync(), 0);
        ASSERT_EQ(rx->head, rx->tail); // nothing received: every slot is the driver's
        for (std::uint32_t i = 0; i < rx->num_slots; i++) rx->slot[i].buf_idx = 0xfffffff0u - i;
        f.model->inject_rx_fault(RxFault::len_huge);
        const Frame fr = make_frame(f.adapter->mac(), 1, 60);
        ASSERT_TRUE(f.model->receive(fr.data(), fr.size()));
        ASSERT_EQ(f.port->rxsync(), 0); // the bad frame is dropped, its descriptor re-armed
        EXPECT_EQ(f.port->counters(Direction::rx).rx_errors, 1u);
        EXPECT_EQ(nm_ring_space(rx), 0u);
        // the device goes on: frames land in the buffers it still has
        for (std::uint32_t i = 0; i < 3; i++) ASSERT_TRUE(f.model->receive(fr.data(), fr.size()));
        ASSERT_EQ(f.port->rxsync(), 0);
        EXPECT_EQ(nm_ring_space(rx), 3u);
        EXPECT_EQ(f.model->faults(), 0u) << f.model->last_fault();
    }
}

// A device that DMAs where it should not (here: a receive descriptor whose
// buffer address names the application's RX ring header, as the device
// itself could write it) cannot reach the rings or netmap_ifs: they are
// outside its DMA mapping, the write faults, and the ring reads the same.
TEST(E1000Faults, ADevicesDmaCannotReachTheRingsTheApplicationReads) {
    for (const ChipCase& c : chips) {
        SCOPED_TRACE(c.name);
        Fixture f(28, c.chip);
        ASSERT_TRUE(f.port);
        MemoryRegion& m = f.port->memory();
        for (const void* p : {static_cast<const void*>(f.port->nifp()), static_cast<const void*>(f.port->rx_ring(0)),
                              static_cast<const void*>(f.port->tx_ring(0))})
            EXPECT_LT(m.offset_of(p), m.device_offset());
        netmap_ring* rx = f.port->rx_ring(0);
        const netmap_ring before = *rx;
        const bool adv = c.chip == Chip::i82576 || c.chip == Chip::i350;
        const std::uint32_t q = adv ? 0xC000 : 0x2800; // RDBAL of queue 0
        const std::uint64_t base = f.model->read32(q) | std::uint64_t(f.model->read32(q + 4)) << 32;
        const std::uint32_t rdh = f.model->read32(q + 0x10);
        const std::size_t desc_off = base - m.iova(m.base()).value; // iova() is linear over the region
        ASSERT_GE(desc_off, m.device_offset());                      // descriptors: within the device's reach
        // the descriptor the device fills next: its buffer address (bytes 0..7
        // in both formats) becomes the ring header's IOVA
        auto* desc = reinterpret_cast<std::uint64_t*>(m.at(desc_off + 16u * rdh));
        desc[0] = m.iova(rx).value;
        std::string seen;
        f.model->set_fault_handler([&seen](const std::string& what) { seen = what; });
        const std::uint64_t faults = f.model->faults();
        const Frame fr = make_frame(f.adapter->mac(), 1, 1000);
        f.model->receive(fr.data(), fr.size());
        EXPECT_GT(f.model->faults(), faults);
        EXPECT_NE(seen.find("outside every mapped range"), std::string::npos) << seen;
        EXPECT_EQ(std::memcmp(&before, rx, sizeof before), 0);
        EXPECT_EQ(rx->num_slots, 64u);
    }
}

// -- link flaps and TX hangs mid-stream: two models of a chip back to back,
// a sender thread on one, a receiver thread on the other

namespace {

struct BackToBack {
    std::unique_ptr<Port> a, b;
    E1000Model* ma = nullptr;
    E1000Model* mb = nullptr;

    BackToBack(std::uint8_t da, std::uint8_t db, Chip chip) {
        use_models();
        for (std::uint8_t d : {da, db}) {
            ModelConfig cfg;
            cfg.chip = chip;
            cfg.mac[5] = d;
            ModelRegistry::get().configs[pci(d)] = cfg;
        }
        auto pa = Port::open("e1000:" + pci(da).str(), small_opts(64));
        auto pb = Port::open("e1000:" + pci(db).str(), small_opts(64));
        if (!pa.ok() || !pb.ok()) {
            ADD_FAILURE() << (pa.ok() ? pb.error().message : pa.error().message);
            return;
        }
        a = std::move(pa.value());
        b = std::move(pb.value());
        ma = model_at(pci(da));
        mb = model_at(pci(db));
        E1000Model::connect(*ma, *mb);
    }
    static E1000Adapter& nic(Port& p) { return dynamic_cast<E1000Adapter&>(p.adapter()); }
    upio::test::NicStream::MakeFrame frames() const {
        return [dst = nic(*b).mac()](std::uint32_t seq) { return make_frame(dst, seq, 60 + seq % 200); };
    }
    static std::uint32_t seq(const std::uint8_t* p) { // make_frame's, at byte 14
        std::uint32_t v;
        std::memcpy(&v, p + 14, 4);
        return v;
    }
};

bool hangs_reach(const Port& p, std::uint64_t n) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (p.counters(Direction::tx).tx_hangs < n && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return p.counters(Direction::tx).tx_hangs >= n;
}

} // namespace

// The link goes down three times mid-stream: both ports say so, frames sent
// meanwhile wait in the ring and leave once it is back (the receiver's side
// first): not one is lost, none reordered, no reopen.
TEST(E1000Faults, LinkFlapsMidStreamLoseNothing) {
    for (const ChipCase& c : chips) {
        SCOPED_TRACE(c.name);
        BackToBack n(20, 21, c.chip);
        ASSERT_TRUE(n.a && n.b);
        constexpr std::uint32_t total = 8000;
        upio::test::NicStream s(*n.a, *n.b, total, n.frames(), &BackToBack::seq);
        s.start();
        for (std::uint32_t flap = 1; flap <= 3; flap++) {
            ASSERT_TRUE(s.wait_received(flap * 2000)) << s.why();
            n.ma->set_cable(false);
            n.mb->set_cable(false);
            EXPECT_FALSE(n.a->link_up());
            EXPECT_FALSE(n.b->link_up());
            ASSERT_TRUE(s.wait_syncs(20));
            n.mb->set_cable(true);
            ASSERT_TRUE(BackToBack::nic(*n.b).wait_link(std::chrono::seconds(10)).ok());
            n.ma->set_cable(true);
            ASSERT_TRUE(BackToBack::nic(*n.a).wait_link(std::chrono::seconds(10)).ok());
            EXPECT_TRUE(n.a->link_up());
        }
        s.join();
        ASSERT_FALSE(s.failed()) << s.why();
        EXPECT_EQ(s.received(), total);
        EXPECT_EQ(s.missing(), 0u);
        EXPECT_EQ(s.lost(), 0u);
        EXPECT_EQ(n.a->counters(Direction::tx).tx_hangs, 0u);
        EXPECT_EQ(n.ma->faults() + n.mb->faults(), 0u);
    }
}

// The transmit queue hangs mid-stream (until it is reset): a sync finds it
// within the hang timeout, says -ETIMEDOUT once with the report in
// last_error, resets the queue (TXDCTL.ENABLE on the 82576 and I350, TCTL.EN
// on the 8254x and 82574L) and the stream goes on on the same port; the
// driver's count of frames lost is exactly the gap the receiver saw.
TEST(E1000Faults, TxHangMidStreamIsResetAndTheStreamGoesOn) {
    for (const ChipCase& c : chips) {
        SCOPED_TRACE(c.name);
        BackToBack n(22, 23, c.chip);
        ASSERT_TRUE(n.a && n.b);
        constexpr std::uint32_t total = 8000;
        upio::test::NicStream s(*n.a, *n.b, total, n.frames(), &BackToBack::seq);
        s.start();
        ASSERT_TRUE(s.wait_received(3000)) << s.why();
        n.ma->hang_tx(0);
        ASSERT_TRUE(hangs_reach(*n.a, 1));
        s.join();
        ASSERT_FALSE(s.failed()) << s.why();
        EXPECT_EQ(n.a->counters(Direction::tx).tx_hangs, 1u);
        EXPECT_EQ(s.timeouts(), 1u);
        EXPECT_GT(s.lost(), 0u);
        EXPECT_LE(s.lost(), 32u);
        EXPECT_EQ(s.missing(), s.lost());
        EXPECT_EQ(s.received() + s.lost(), total);
        EXPECT_FALSE(n.ma->tx_hung(0));
        expect_has(n.a->last_error(), "tx ring 0: TX hang: descriptor");
        expect_has(n.a->last_error(), "; link up; queue reset, ");
        EXPECT_EQ(n.ma->faults() + n.mb->faults(), 0u);
    }
}

// A sender asleep in wait() for free slots on a hung queue wakes within the
// hang timeout, finds the hang and returns it; the next wait finds the ring
// free, and frames leave again.
TEST(E1000Faults, ATxWaitOnAHungQueueWakesToTheHang) {
    for (const ChipCase& c : chips) {
        SCOPED_TRACE(c.name);
        std::atomic<unsigned> sent{0}; // (outlives the model's wire)
        Fixture f(24, c.chip);
        ASSERT_TRUE(f.port);
        f.model->set_wire([&](const std::uint8_t*, std::size_t) { sent++; });
        f.model->hang_tx(0);
        netmap_ring* r = f.port->tx_ring(0);
        while (put(r, make_frame({2, 0, 0, 0, 0, 2}, 1, 60))) {
        }
        ASSERT_EQ(f.port->txsync(), 0);
        EXPECT_EQ(f.port->wait(Direction::tx, std::chrono::seconds(60)), -ETIMEDOUT);
        expect_has(f.port->last_error(), "queue reset, 63 frames lost");
        EXPECT_EQ(f.port->wait(Direction::tx, std::chrono::seconds(60)), 1);
        EXPECT_EQ(nm_ring_space(r), 63u);
        ASSERT_TRUE(put(r, make_frame({2, 0, 0, 0, 0, 2}, 2, 60)));
        ASSERT_EQ(f.port->txsync(), 0);
        EXPECT_EQ(sent.load(), 1u);
        EXPECT_EQ(f.model->faults(), 0u);
    }
}
