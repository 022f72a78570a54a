// Interrupts on the models: the 82574L on MSI-X (IVAR, EIAC, IAM, CTRL_EXT)
// and its fallback to MSI, throttling (ITR / EITR) coalescing interrupts on
// the model's clock, and driver errors reaching Port::last_error() through
// Adapter::explain().
#include "e1000_test_util.hpp"

#include "drivers/e1000/e1000_regs.hpp"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

using namespace upio;
using namespace upio::e1000;
using namespace upio::e1000::test;

namespace {

// Arms a ring's interrupt the way Port::wait() does around its sleep.
void arm(E1000Adapter& a, Direction d, std::uint32_t ring = 0) { a.set_interrupts(a.kring(d, ring), true); }

// Frames to the NIC's own address, all at the same instant of the model's clock.
void feed(Nic& nic, std::uint32_t n, std::uint32_t first = 0) {
    for (std::uint32_t i = 0; i < n; i++) {
        Frame f = make_frame(nic.adapter->mac(), first + i, 60);
        ASSERT_TRUE(nic.model->receive(f.data(), f.size())) << first + i;
    }
}

// Gives every received frame back (rxsync with head = tail).
void drain(E1000Adapter& a, std::uint32_t ring = 0) {
    KRing& k = a.kring(Direction::rx, ring);
    k.rhead = k.rcur = k.ring->head;
    ASSERT_EQ(a.rxsync(k, 0), 0);
    k.ring->head = k.ring->cur = k.rhead = k.rcur = k.nr_hwtail.load();
    ASSERT_EQ(a.rxsync(k, 0), 0);
}

// Model addresses of this file (bus 2: apart from the other files' models).
PciAddress addr(std::uint8_t dev) { return PciAddress{0, 2, dev, 0}; }

DriverOptions manual_opts(std::uint32_t itr_us) {
    DriverOptions d = fast_opts();
    d.itr_us = itr_us;
    return d;
}

} // namespace

// -- 82574L MSI-X

TEST(E1000Msix82574, ProgramsIvarEiacIamAndCtrlExt) {
    auto nic = make_nic({.chip = Chip::i82574l});
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    auto& a = *nic->adapter;
    EXPECT_EQ(a.irq_kind(), IrqKind::msix);
    EXPECT_EQ(a.irq_vectors(), 2u);
    EXPECT_TRUE(a.irq_error().empty()) << a.irq_error();
    E1000Model& m = *nic->model;
    // RxQ0 and TxQ0 on vector 0, other causes on vector 1, the unused queues invalid
    const std::uint32_t ivar = m.peek(IVAR_82574.offset);
    EXPECT_EQ((ivar >> IVAR_82574_RXQ0) & 0xf, 0u | IVAR_82574_VALID);
    EXPECT_EQ((ivar >> IVAR_82574_TXQ0) & 0xf, 0u | IVAR_82574_VALID);
    EXPECT_EQ((ivar >> IVAR_82574_OTHER) & 0xf, 1u | IVAR_82574_VALID);
    EXPECT_EQ((ivar >> IVAR_82574_RXQ1) & IVAR_82574_VALID, 0u);
    EXPECT_EQ((ivar >> IVAR_82574_TXQ1) & IVAR_82574_VALID, 0u);
    const std::uint32_t ext = m.peek(CTRL_EXT.offset);
    EXPECT_TRUE(ext & CTRL_EXT_PBA_SUPPORT);
    EXPECT_TRUE(ext & CTRL_EXT_EIAME);
    EXPECT_FALSE(ext & CTRL_EXT_IAME);
    for (std::uint32_t bit : {ICR_RXQ0, ICR_TXQ0}) {
        EXPECT_TRUE(m.peek(EIAC_82574.offset) & bit);
        EXPECT_TRUE(m.peek(IAM.offset) & bit);
    }
    // throttling goes to the vectors' EITR, not to ITR
    a.set_itr(100);
    EXPECT_EQ(m.peek(EITR_82574[0].offset), 100u * 1000 / 256);
    EXPECT_EQ(m.peek(EITR_82574[1].offset), 100u * 1000 / 256);
}

TEST(E1000Msix82574, QueueCausesFireVectorZeroThenClearAndMask) {
    auto nic = make_nic({.chip = Chip::i82574l}, small_opts(64), manual_opts(0));
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    auto& a = *nic->adapter;
    E1000Model& m = *nic->model;
    ASSERT_TRUE(a.register_port(true).ok());
    const int fd = a.wait_fds(a.kring(Direction::rx, 0)).at(0);
    EXPECT_EQ(a.wait_fds(a.kring(Direction::tx, 0)).at(0), fd); // one vector for the pair

    feed(*nic, 1); // nobody waits: the cause waits in ICR, no message
    EXPECT_EQ(m.interrupts(0), 0u);
    EXPECT_TRUE(m.peek(ICR.offset) & ICR_RXQ0);
    arm(a, Direction::rx); // unmasking a pending cause sends it
    EXPECT_EQ(m.interrupts(0), 1u);
    EXPECT_TRUE(readable(fd));
    EXPECT_FALSE(m.peek(ICR.offset) & ICR_RXQ0); // EIAC cleared it
    EXPECT_FALSE(m.peek(IMS.offset) & ICR_RXQ0); // IAM masked it
    a.ack_wait_fd(fd);
    EXPECT_EQ(a.irq_wakeups(), 1u);
    feed(*nic, 3, 1); // masked: no message until the next wait arms it
    EXPECT_EQ(m.interrupts(0), 1u);
    EXPECT_EQ(m.interrupts(1), 0u);

    // tx completions: TxQ0, same vector
    arm(a, Direction::tx);
    EXPECT_EQ(m.interrupts(0), 1u);
    KRing& tk = a.kring(Direction::tx, 0);
    ASSERT_TRUE(put(tk.ring, make_frame({2, 0, 0, 0, 0, 2}, 9, 60)));
    tk.rhead = tk.rcur = tk.ring->head;
    ASSERT_EQ(a.txsync(tk, 0), 0);
    EXPECT_EQ(m.interrupts(0), 2u);
    EXPECT_FALSE(m.peek(IMS.offset) & ICR_TXQ0);
    EXPECT_EQ(m.interrupts(1), 0u);
    ASSERT_TRUE(a.register_port(false).ok());
}

TEST(E1000Msix82574, BlockingWaitThroughThePortRunsOnMsix) {
    auto p = open_on_model(addr(1), {.chip = Chip::i82574l}, small_opts(64));
    ASSERT_TRUE(p.ok()) << p.error().message;
    E1000Model* m = model_at(addr(1));
    auto& a = dynamic_cast<E1000Adapter&>(p.value()->adapter());
    ASSERT_EQ(a.irq_kind(), IrqKind::msix);
    std::thread feeder([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        Frame f = make_frame(a.mac(), 1, 60);
        m->receive(f.data(), f.size());
    });
    int rc = p.value()->wait(Direction::rx, std::chrono::seconds(5));
    feeder.join();
    EXPECT_EQ(rc, 1);
    EXPECT_EQ(nm_ring_space(p.value()->rx_ring(0)), 1u);
    EXPECT_GE(m->interrupts(0), 1u);
    EXPECT_GE(a.irq_wakeups(), 1u);
    EXPECT_EQ(m->interrupts(1), 0u);
}

TEST(E1000Msix82574, FallsBackToMsiWhenMsixIsRefused) {
    auto nic = make_nic({.chip = Chip::i82574l, .msix = false});
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    auto& a = *nic->adapter;
    EXPECT_EQ(a.irq_kind(), IrqKind::msi);
    EXPECT_EQ(a.irq_vectors(), 1u);
    expect_has(a.irq_error(), "interrupts on MSI, one vector (MSI-X unavailable: ");
    expect_has(a.irq_error(), "MSI-X vectors requested"); // what the device said
    EXPECT_FALSE(nic->model->peek(CTRL_EXT.offset) & CTRL_EXT_PBA_SUPPORT);
    // interrupts work the 8254x way: RXT0 on the one vector
    ASSERT_TRUE(a.register_port(true).ok());
    arm(a, Direction::rx);
    feed(*nic, 1);
    EXPECT_EQ(nic->model->interrupts(0), 1u);
    EXPECT_TRUE(nic->model->peek(ICR.offset) & ICR_RXT0);
    ASSERT_TRUE(a.register_port(false).ok());
}

TEST(E1000Msix82574, ModelRefusesMsixWithoutPbaSupport) {
    // The model checks the datasheet's rule, so a driver that forgot the bit
    // would fail every MSI-X test above.
    auto nic = make_nic({.chip = Chip::i82574l});
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    std::string fault;
    nic->model->set_fault_handler([&](const std::string& w) { fault = w; });
    nic->model->write32(CTRL_EXT.offset, nic->model->peek(CTRL_EXT.offset) & ~CTRL_EXT_PBA_SUPPORT);
    ASSERT_TRUE(nic->adapter->register_port(true).ok());
    arm(*nic->adapter, Direction::rx);
    feed(*nic, 1);
    EXPECT_EQ(nic->model->faults(), 1u);
    expect_has(fault, "PBA_SUPPORT");
    ASSERT_TRUE(nic->adapter->register_port(false).ok());
}

// -- throttling: a burst at one instant of the model's clock

TEST(E1000Throttling, ItrCoalescesABurstOnMsi) {
    const std::uint32_t burst = 40;
    // ITR off: one interrupt per received frame (MSI, IMS stays enabled)
    auto off = make_nic({.chip = Chip::i82545em, .manual_clock = true}, small_opts(64), manual_opts(0));
    ASSERT_TRUE(off.ok()) << off.error().message;
    ASSERT_EQ(off->adapter->irq_kind(), IrqKind::msi);
    ASSERT_TRUE(off->adapter->register_port(true).ok());
    arm(*off->adapter, Direction::rx);
    feed(*off, burst);
    EXPECT_EQ(off->model->interrupts(0), burst);

    // ITR 100 us: the first frame fires, the rest of the burst waits for the
    // interval and then goes as one interrupt
    auto on = make_nic({.chip = Chip::i82545em, .manual_clock = true}, small_opts(64), manual_opts(100));
    ASSERT_TRUE(on.ok()) << on.error().message;
    ASSERT_EQ(on->model->peek(ITR.offset), 100u * 1000 / 256);
    ASSERT_TRUE(on->adapter->register_port(true).ok());
    arm(*on->adapter, Direction::rx);
    feed(*on, burst);
    EXPECT_EQ(on->model->interrupts(0), 1u);
    on->model->advance_time(50'000); // half the interval: still held back
    EXPECT_EQ(on->model->interrupts(0), 1u);
    on->model->advance_time(50'000);
    EXPECT_EQ(on->model->interrupts(0), 2u);
    on->model->advance_time(1'000'000); // nothing else pending
    EXPECT_EQ(on->model->interrupts(0), 2u);

    // a stream of one frame per 10 us for 1 ms: about one interrupt per
    // 100 us instead of one per frame
    drain(*on->adapter);
    const std::uint64_t before = on->model->interrupts(0);
    for (std::uint32_t i = 0; i < 100; i++) {
        feed(*on, 1, 1000 + i);
        drain(*on->adapter);
        on->model->advance_time(10'000);
    }
    on->model->advance_time(200'000);
    const std::uint64_t stream = on->model->interrupts(0) - before;
    EXPECT_GE(stream, 9u);
    EXPECT_LE(stream, 12u);
    for (auto* n : {&*off, &*on}) ASSERT_TRUE(n->adapter->register_port(false).ok());
}

TEST(E1000Throttling, ClearedCausesAreNotDeliveredLate) {
    auto nic = make_nic({.chip = Chip::i82545em, .manual_clock = true}, small_opts(64), manual_opts(100));
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    auto& a = *nic->adapter;
    ASSERT_TRUE(a.register_port(true).ok());
    arm(a, Direction::rx);
    feed(*nic, 2);
    EXPECT_EQ(nic->model->interrupts(0), 1u);
    a.set_interrupts(a.kring(Direction::rx, 0), false); // the waiter left: masked
    nic->model->advance_time(200'000);
    EXPECT_EQ(nic->model->interrupts(0), 1u);
    ASSERT_TRUE(a.register_port(false).ok());
}

// MSI-X with auto-mask: each wait re-arms its vector; within the interval the
// re-armed vector is held back and fires when the interval ends.
TEST(E1000Throttling, EitrHoldsBackAReArmedVector) {
    for (Chip chip : {Chip::i82576, Chip::i350, Chip::i82574l}) {
        SCOPED_TRACE(int(chip));
        for (std::uint32_t itr : {0u, 100u}) {
            auto nic = make_nic({.chip = chip, .manual_clock = true}, small_opts(64), manual_opts(itr));
            ASSERT_TRUE(nic.ok()) << nic.error().message;
            auto& a = *nic->adapter;
            ASSERT_EQ(a.irq_kind(), IrqKind::msix);
            ASSERT_TRUE(a.register_port(true).ok());
            for (std::uint32_t i = 0; i < 5; i++) {
                arm(a, Direction::rx);
                feed(*nic, 1, i);
            }
            if (itr == 0) {
                EXPECT_EQ(nic->model->interrupts(0), 5u); // every re-arm, every frame
            } else {
                EXPECT_EQ(nic->model->interrupts(0), 1u);
                nic->model->advance_time(99'000);
                EXPECT_EQ(nic->model->interrupts(0), 1u);
                nic->model->advance_time(2'000);
                EXPECT_EQ(nic->model->interrupts(0), 2u);
            }
            ASSERT_TRUE(a.register_port(false).ok());
        }
    }
}

// On the steady clock the model's timer delivers the held-back interrupt
// with no other activity (a sleeping waiter is woken late, not never).
TEST(E1000Throttling, HeldBackInterruptArrivesOnTheSteadyClock) {
    auto nic = make_nic({.chip = Chip::i82545em}, small_opts(64), manual_opts(5000));
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    auto& a = *nic->adapter;
    ASSERT_TRUE(a.register_port(true).ok());
    arm(a, Direction::rx);
    feed(*nic, 3);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (nic->model->interrupts(0) < 2 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(nic->model->interrupts(0), 2u); // the first at once, the other two coalesced
    ASSERT_TRUE(a.register_port(false).ok());
}

// -- driver errors through Adapter::explain()

TEST(E1000Explain, TxHangReachesLastError) {
    auto p = open_on_model(addr(2), {.chip = Chip::i82574l}, small_opts(64));
    ASSERT_TRUE(p.ok()) << p.error().message;
    E1000Model* m = model_at(addr(2));
    auto& a = dynamic_cast<E1000Adapter&>(p.value()->adapter());
    m->set_tx_engine(false);
    for (std::uint32_t i = 0; i < 3; i++) ASSERT_TRUE(put(p.value()->tx_ring(0), make_frame({2, 0, 0, 0, 0, 2}, i, 60)));
    ASSERT_EQ(upio::test::txsync_until_error(*p.value()), -ETIMEDOUT);
    const std::string err = p.value()->last_error();
    expect_has(err, "e1000:0000:02:02.0 tx ring 0: TX hang");
    expect_has(err, "not written back (DD)");
    expect_has(err, "TDT=3");
    expect_has(err, "; link up");
    // the same words from explain() and, with the port's name, from tx_hang_report()
    EXPECT_EQ(std::string(a.explain(a.kring(Direction::tx, 0), -ETIMEDOUT)), err.substr(err.find("TX hang")));
    expect_has(a.tx_hang_report(0), "TX hang");
    // errors the driver has nothing to add to: strerror
    EXPECT_STREQ(a.explain(a.kring(Direction::rx, 0), -EIO), std::strerror(EIO));
}

TEST(E1000Explain, LinkThatNeverCameUpIsTheHangsReason) {
    use_models();
    DriverOptions d = fast_opts();
    d.require_link = false;
    d.link_timeout = std::chrono::milliseconds(5);
    set_default_options(d);
    ModelRegistry::get().configs[addr(3)] = ModelConfig{.cable = false};
    auto p = Port::open("e1000:" + addr(3).str(), small_opts(64));
    set_default_options(fast_opts());
    ASSERT_TRUE(p.ok()) << p.error().message;
    ASSERT_TRUE(put(p.value()->tx_ring(0), make_frame({2, 0, 0, 0, 0, 2}, 1, 60)));
    ASSERT_EQ(upio::test::txsync_until_error(*p.value()), -ETIMEDOUT);
    const std::string err = p.value()->last_error();
    expect_has(err, "TX hang");
    expect_has(err, "link down since open: nothing is sent without a link");
    auto& a = dynamic_cast<E1000Adapter&>(p.value()->adapter());
    expect_has(a.tx_hang_report(0), "check the cable and the link partner");
    EXPECT_FALSE(a.link_up());
}
