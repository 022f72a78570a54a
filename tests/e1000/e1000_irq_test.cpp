// Interrupts on the models: the 82574L on MSI-X (IVAR, EIAC, IAM, CTRL_EXT)
// and its fallback to MSI, the 82576 / I350 without MSI-X (one vector, MSI
// then INTx, shared by every queue), throttling (ITR / EITR) coalescing
// interrupts on the model's clock, and driver errors reaching
// Port::last_error() through Adapter::explain().
#include "e1000_test_util.hpp"

#include "drivers/e1000/e1000_regs.hpp"

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

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

// -- 82576 / I350 without MSI-X: one vector (MSI, else INTx) for every queue

namespace {

constexpr Chip advanced_chips[] = {Chip::i82576, Chip::i350};

const char* chip_name(Chip c) { return c == Chip::i82576 ? "82576" : "I350"; }

// Waits (up to 10 s) for `done`; false when it never came.
template <class F>
bool eventually(F&& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return true;
}

// Gives back every frame of the Port's rx ring `q`; how many there were.
std::uint32_t consume(Port& p, std::uint32_t q) {
    netmap_ring* rx = p.rx_ring(q);
    const std::uint32_t n = nm_ring_space(rx);
    rx->head = rx->cur = rx->tail;
    (void)p.rxsync();
    return n;
}

} // namespace

TEST(E1000OneVector82576, FallsBackToMsiThenIntx) {
    for (Chip chip : advanced_chips) {
        SCOPED_TRACE(chip_name(chip));
        for (bool msi : {true, false}) {
            auto nic = make_nic({.chip = chip, .msix = false, .msi = msi}, small_opts(64, 4));
            ASSERT_TRUE(nic.ok()) << nic.error().message;
            auto& a = *nic->adapter;
            E1000Model& m = *nic->model;
            EXPECT_EQ(a.irq_kind(), msi ? IrqKind::msi : IrqKind::intx);
            EXPECT_EQ(a.irq_vectors(), 1u);
            expect_has(a.irq_error(), msi ? "interrupts on MSI, one vector (MSI-X unavailable: "
                                          : "interrupts on INTx, one vector (MSI-X unavailable: ");
            expect_has(a.irq_error(), "5 MSI-X vectors requested"); // a vector per pair and one more
            if (!msi) expect_has(a.irq_error(), "MSI vectors requested");
            // one-vector mode: Multiple_MSIX (and EIAME, PBA_SUPPORT) clear,
            // every ICR read clears ICR, nothing auto-masks or auto-clears
            EXPECT_EQ(m.peek(GPIE.offset), GPIE_NSICR);
            EXPECT_EQ(m.peek(IAM.offset), 0u);
            EXPECT_EQ(m.peek(EIAC.offset), 0u);
            EXPECT_EQ(m.peek(EIAM.offset), 0u);
            EXPECT_EQ(m.peek(EIMS.offset), 0u);
            EXPECT_EQ(m.peek(IMS.offset), 0u); // until a waiter sleeps
            // every queue's causes name EICR bit 0
            for (unsigned q = 0; q < 4; q++) {
                const bool i350 = chip == Chip::i350;
                const unsigned idx = i350 ? q / 2 : q % 8, shift = (i350 ? q % 2 : q / 8) * 16;
                EXPECT_EQ((m.peek(IVAR0[idx].offset) >> shift) & 0xffff, IVAR_VALID | (IVAR_VALID << 8)) << q;
            }
            EXPECT_EQ(m.peek(IVAR_MISC.offset), 0u);
            // every ring waits on the one vector
            const int fd = a.wait_fds(a.kring(Direction::rx, 0)).at(0);
            for (std::uint32_t q = 0; q < 4; q++)
                for (Direction d : {Direction::rx, Direction::tx}) EXPECT_EQ(a.wait_fds(a.kring(d, q)).at(0), fd);
            // throttling on EITR[0], the one vector's
            a.set_itr(100);
            EXPECT_EQ(m.peek(EITR[0].offset), 100u << 2);
            EXPECT_EQ(m.peek(EITR[1].offset), 0u);
        }
    }
}

TEST(E1000OneVector82576, WaitersOfEveryQueueShareRxdwAndTxdw) {
    for (Chip chip : advanced_chips) {
        SCOPED_TRACE(chip_name(chip));
        auto nic = make_nic({.chip = chip, .msix = false}, small_opts(64, 4), manual_opts(0));
        ASSERT_TRUE(nic.ok()) << nic.error().message;
        auto& a = *nic->adapter;
        E1000Model& m = *nic->model;
        ASSERT_EQ(a.irq_kind(), IrqKind::msi);
        ASSERT_TRUE(a.register_port(true).ok());
        const int fd = a.wait_fds(a.kring(Direction::rx, 0)).at(0);
        (void)m.read32(ICR.offset); // LSC from the link coming up at open

        // RXDW stays enabled while any queue's rx waiter sleeps
        arm(a, Direction::rx, 2);
        EXPECT_EQ(m.peek(IMS.offset), ICR_RXDW);
        arm(a, Direction::rx, 0);
        a.set_interrupts(a.kring(Direction::rx, 2), false);
        EXPECT_EQ(m.peek(IMS.offset), ICR_RXDW);
        a.set_interrupts(a.kring(Direction::rx, 0), false);
        EXPECT_EQ(m.peek(IMS.offset), 0u);

        // a frame on queue 0 fires the vector the queue 3 waiter sleeps on
        arm(a, Direction::rx, 3);
        feed(*nic, 1); // not IP: queue 0
        EXPECT_EQ(m.interrupts(0), 1u);
        EXPECT_TRUE(readable(fd));
        EXPECT_EQ(m.peek(ICR.offset), ICR_RXDW);
        EXPECT_EQ(m.peek(EICR.offset), 1u | EICR_OTHER); // IVAR: EICR bit 0; an enabled ICR cause
        a.ack_wait_fd(fd);
        EXPECT_FALSE(readable(fd));
        EXPECT_EQ(a.irq_wakeups(), 1u);
        EXPECT_EQ(m.peek(ICR.offset), 0u);      // NSICR: the read cleared it
        EXPECT_EQ(m.peek(IMS.offset), ICR_RXDW); // IAM 0: the waiter's enable stays
        a.set_interrupts(a.kring(Direction::rx, 3), false);
        feed(*nic, 1, 1); // nobody waits: pending, no interrupt
        EXPECT_EQ(m.interrupts(0), 1u);
        EXPECT_TRUE(m.peek(ICR.offset) & ICR_RXDW);

        // tx: a completion on queue 2 fires the vector the queue 1 waiter sleeps on
        arm(a, Direction::tx, 1);
        EXPECT_EQ(m.peek(IMS.offset), ICR_TXDW);
        EXPECT_EQ(m.interrupts(0), 1u); // RXDW pending but not enabled
        KRing& tk = a.kring(Direction::tx, 2);
        ASSERT_TRUE(put(tk.ring, make_frame({2, 0, 0, 0, 0, 2}, 9, 60)));
        tk.rhead = tk.rcur = tk.ring->head;
        ASSERT_EQ(a.txsync(tk, 0), 0);
        EXPECT_EQ(m.interrupts(0), 2u);
        EXPECT_TRUE(m.peek(ICR.offset) & ICR_TXDW);
        a.ack_wait_fd(fd);
        EXPECT_EQ(m.peek(ICR.offset), 0u);
        a.set_interrupts(a.kring(Direction::tx, 1), false);
        EXPECT_EQ(m.peek(IMS.offset), 0u);
        ASSERT_TRUE(a.register_port(false).ok());
    }
}

TEST(E1000OneVector82576, IntxIsUnmaskedAfterEachInterrupt) {
    for (Chip chip : advanced_chips) {
        SCOPED_TRACE(chip_name(chip));
        auto nic = make_nic({.chip = chip, .msix = false, .msi = false}, small_opts(64, 2), manual_opts(0));
        ASSERT_TRUE(nic.ok()) << nic.error().message;
        auto& a = *nic->adapter;
        E1000Model& m = *nic->model;
        ASSERT_EQ(a.irq_kind(), IrqKind::intx);
        ASSERT_TRUE(a.register_port(true).ok());
        const int fd = a.wait_fds(a.kring(Direction::rx, 1)).at(0);
        arm(a, Direction::rx, 1);
        feed(*nic, 1);
        EXPECT_EQ(m.interrupts(0), 1u);
        feed(*nic, 1, 1); // the host keeps the line masked until the driver unmasks it
        EXPECT_EQ(m.interrupts(0), 1u);
        a.ack_wait_fd(fd); // reads ICR (clearing it), unmasks
        feed(*nic, 1, 2);
        EXPECT_EQ(m.interrupts(0), 2u);
        a.ack_wait_fd(fd);
        EXPECT_EQ(a.irq_wakeups(), 2u);
        ASSERT_TRUE(a.register_port(false).ok());
    }
}

// A Port per queue pair, a thread on each, every one blocked on the one
// vector: a frame for queue q wakes q's waiter (the others may wake and
// sleep again), and a tx completion wakes every queue's tx waiter.
TEST(E1000OneVector82576, BlockedWaitsOnEveryQueueWake) {
    constexpr std::uint32_t nq = 4, rounds = 3;
    std::uint8_t dev = 10;
    for (Chip chip : advanced_chips) {
        for (bool msi : {true, false}) {
            SCOPED_TRACE(std::string(chip_name(chip)) + (msi ? " MSI" : " INTx"));
            const PciAddress at = addr(dev++);
            use_models();
            DriverOptions d = fast_opts();
            d.tx_hang_timeout = std::chrono::seconds(60); // the tx rings stay full on purpose
            Factory::set_default_options(d);
            ModelRegistry::get().configs[at] = ModelConfig{.chip = chip, .msix = false, .msi = msi};
            std::vector<std::unique_ptr<Port>> ports;
            for (std::uint32_t q = 0; q < nq; q++) {
                auto p = Port::open("e1000:" + at.str() + "-" + std::to_string(q), small_opts(64, nq));
                ASSERT_TRUE(p.ok()) << p.error().message;
                ports.push_back(std::move(p.value()));
            }
            Factory::set_default_options(fast_opts());
            E1000Model* m = model_at(at);
            auto& a = dynamic_cast<E1000Adapter&>(ports[0]->adapter());
            ASSERT_EQ(a.irq_kind(), msi ? IrqKind::msi : IrqKind::intx);
            ASSERT_EQ(a.irq_vectors(), 1u);

            // which UDP flow RSS puts on which queue
            std::array<int, nq> flow{-1, -1, -1, -1};
            for (std::uint16_t sport = 1000; sport < 1400; sport++) {
                Frame f = udp_frame(a.mac(), sport, sport);
                ASSERT_TRUE(m->receive(f.data(), f.size()));
                for (std::uint32_t q = 0; q < nq; q++) {
                    (void)ports[q]->rxsync();
                    if (consume(*ports[q], q) && flow[q] < 0) flow[q] = sport;
                }
            }
            for (std::uint32_t q = 0; q < nq; q++) ASSERT_GE(flow[q], 0) << "no flow lands on queue " << q;

            // rx: one frame at a time for each queue, its thread asleep
            std::array<std::atomic<std::uint32_t>, nq> got{};
            std::atomic<std::uint32_t> failures{0};
            std::vector<std::thread> threads;
            for (std::uint32_t q = 0; q < nq; q++)
                threads.emplace_back([&, q] {
                    while (got[q].load() < rounds) {
                        if (ports[q]->wait(Direction::rx, std::chrono::seconds(20)) != 1) {
                            failures++;
                            return;
                        }
                        got[q] += consume(*ports[q], q);
                    }
                });
            for (std::uint32_t r = 0; r < rounds && failures.load() == 0; r++)
                for (std::uint32_t i = 0; i < nq; i++) {
                    const std::uint32_t q = (i + r) % nq;
                    EXPECT_TRUE(eventually([&] { return a.kring(Direction::rx, q).sleeping.load() != 0; })) << q;
                    Frame f = udp_frame(a.mac(), r, std::uint16_t(flow[q]));
                    EXPECT_TRUE(m->receive(f.data(), f.size())); // (an ASSERT would leave the threads running)
                    EXPECT_TRUE(eventually([&] { return got[q].load() == r + 1; })) << "queue " << q << " round " << r;
                }
            for (auto& t : threads) t.join();
            threads.clear();
            EXPECT_EQ(failures.load(), 0u);
            for (std::uint32_t q = 0; q < nq; q++) EXPECT_EQ(got[q].load(), rounds) << q;
            EXPECT_GE(m->interrupts(0), 1u);

            // tx: every ring full with the transmitter stopped, a thread
            // blocked on each; the transmitter restarts and completes all
            m->set_tx_engine(false);
            for (std::uint32_t q = 0; q < nq; q++) {
                netmap_ring* tx = ports[q]->tx_ring(q);
                for (std::uint32_t i = 0; put(tx, make_frame({2, 0, 0, 0, 0, 2}, i, 60)); i++) {
                }
                ASSERT_EQ(ports[q]->txsync(), 0);
                ASSERT_EQ(nm_ring_space(tx), 0u);
            }
            const std::uint64_t before = m->interrupts(0);
            std::array<int, nq> rc{};
            for (std::uint32_t q = 0; q < nq; q++)
                threads.emplace_back([&, q] { rc[q] = ports[q]->wait(Direction::tx, std::chrono::seconds(20)); });
            for (std::uint32_t q = 0; q < nq; q++)
                EXPECT_TRUE(eventually([&] { return a.kring(Direction::tx, q).sleeping.load() != 0; })) << q;
            m->set_tx_engine(true);
            for (auto& t : threads) t.join();
            for (std::uint32_t q = 0; q < nq; q++) {
                EXPECT_EQ(rc[q], 1) << "tx waiter of queue " << q;
                EXPECT_GT(nm_ring_space(ports[q]->tx_ring(q)), 0u) << q;
            }
            EXPECT_GT(m->interrupts(0), before);
            EXPECT_GE(a.irq_wakeups(), 2u);
        }
    }
}

// The model's side of the one-vector mode, which the tests above rely on.
TEST(E1000OneVector82576, ModelIcrReadFollowsNsicrAndIam) {
    auto nic = make_nic({.chip = Chip::i82576, .msix = false}, small_opts(64), manual_opts(0));
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    E1000Model& m = *nic->model;
    EXPECT_EQ(m.read32(ICR.offset), ICR_LSC); // the link came up at open
    // NSICR clear: a read clears ICR only with IMS 0 or INTA set
    m.write32(GPIE.offset, 0);
    m.write32(IMS.offset, ICR_TXDW);
    m.write32(ICS.offset, ICR_RXDW); // pending, not enabled: no INTA
    EXPECT_EQ(m.read32(ICR.offset), ICR_RXDW);
    EXPECT_EQ(m.peek(ICR.offset), ICR_RXDW); // still there
    m.write32(IAM.offset, ICR_TXDW);
    m.write32(ICS.offset, ICR_TXDW); // enabled: INTA, the read clears and auto-masks
    EXPECT_EQ(m.read32(ICR.offset), ICR_RXDW | ICR_TXDW | ICR_INTA);
    EXPECT_EQ(m.peek(ICR.offset), 0u);
    EXPECT_EQ(m.peek(IMS.offset), 0u);
    // NSICR set: every read clears
    m.write32(GPIE.offset, GPIE_NSICR);
    m.write32(IAM.offset, 0);
    m.write32(IMS.offset, ICR_TXDW);
    m.write32(ICS.offset, ICR_RXDW);
    EXPECT_EQ(m.read32(ICR.offset), ICR_RXDW);
    EXPECT_EQ(m.peek(ICR.offset), 0u);
    EXPECT_EQ(m.peek(IMS.offset), ICR_TXDW);
}

// A driver that left GPIE in MSI-X mode on an MSI vector would send nothing:
// the model reports it.
TEST(E1000OneVector82576, ModelFaultsOnMsixModeWithoutMsix) {
    auto nic = make_nic({.chip = Chip::i350, .msix = false}, small_opts(64), manual_opts(0));
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    E1000Model& m = *nic->model;
    std::string fault;
    m.set_fault_handler([&](const std::string& w) { fault = w; });
    ASSERT_TRUE(nic->adapter->register_port(true).ok());
    m.write32(GPIE.offset, GPIE_NSICR | GPIE_MULTIPLE_MSIX);
    m.write32(IVAR0[0].offset, IVAR_VALID | (IVAR_VALID << 8));
    m.write32(EIMS.offset, 1);
    feed(*nic, 1);
    EXPECT_EQ(m.faults(), 1u);
    expect_has(fault, "while the host enabled MSI");
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
    Factory::set_default_options(d);
    ModelRegistry::get().configs[addr(3)] = ModelConfig{.cable = false};
    auto p = Port::open("e1000:" + addr(3).str(), small_opts(64));
    Factory::set_default_options(fast_opts());
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
