// The e1000 driver against a hostile model, legacy descriptors (8254x,
// 82574L) and advanced ones (82576, I350): bad receive write-backs never
// reach the application and are counted; surprise removal (all-ones reads)
// turns the port into "device removed".
#include "e1000_test_util.hpp"

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
