// The I350 on its model: what differs from the 82576 for this driver (device
// id, 8 queues, the IVAR layout), and traffic over every queue with RSS and
// an MSI-X vector per queue pair.
#include "e1000_test_util.hpp"

#include "drivers/e1000/e1000_regs.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

using namespace upio;
using namespace upio::e1000;
using namespace upio::e1000::test;

namespace {

// Model addresses of this file (bus 3: apart from the other files' models).
PciAddress addr(std::uint8_t dev) { return PciAddress{0, 3, dev, 0}; }

} // namespace

TEST(E1000I350, IsAnI350WithEightQueues) {
    auto nic = make_nic({.chip = Chip::i350}, small_opts(64, 8));
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    EXPECT_EQ(nic->model->device_id(), 0x1521);
    EXPECT_STREQ(nic->adapter->chip().name, "I350 (copper)");
    EXPECT_EQ(nic->adapter->num_rings(Direction::rx), 8u);
    EXPECT_EQ(nic->adapter->irq_kind(), IrqKind::msix);
    EXPECT_EQ(nic->adapter->irq_vectors(), 9u); // a vector per pair, one for other causes

    auto more = make_nic({.chip = Chip::i350}, small_opts(64, 9));
    ASSERT_FALSE(more.ok());
    EXPECT_NE(more.error().message.find("the I350 (copper) has at most 8"), std::string::npos)
        << more.error().message;
}

TEST(E1000I350, IvarHoldsTwoQueuesPerRegister) {
    // I350: IVAR[n] = rx 2n, tx 2n, rx 2n+1, tx 2n+1 (a byte each, valid in
    // bit 7) -- not the 82576's IVAR[q % 8]
    auto nic = make_nic({.chip = Chip::i350}, small_opts(64, 8));
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    for (unsigned n = 0; n < 4; n++) {
        const std::uint32_t v = nic->model->peek(IVAR0[n].offset);
        for (unsigned half = 0; half < 2; half++) {
            const unsigned q = 2 * n + half;
            EXPECT_EQ((v >> (16 * half)) & 0xff, q | IVAR_VALID) << "rx " << q;
            EXPECT_EQ((v >> (16 * half + 8)) & 0xff, q | IVAR_VALID) << "tx " << q;
        }
    }
    EXPECT_EQ(nic->model->peek(IVAR_MISC.offset), (8u | IVAR_VALID) << 8);
}

// Every queue's rx and tx interrupts arrive on that queue's vector and on no
// other: RSS spreads flows, each queue with frames fires its own vector once
// (then auto-masked), a queue without frames stays silent.
TEST(E1000I350, RssAndAVectorPerQueue) {
    constexpr std::uint32_t nq = 8, total = 400;
    auto nic = make_nic({.chip = Chip::i350}, small_opts(256, nq));
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    auto& a = *nic->adapter;
    E1000Model& m = *nic->model;
    ASSERT_TRUE(a.register_port(true).ok());
    EXPECT_EQ(m.peek(MRQC.offset) & 7, MRQC_RSS);
    for (std::uint32_t q = 0; q < nq; q++) a.set_interrupts(a.kring(Direction::rx, q), true);
    for (std::uint32_t i = 0; i < total; i++) {
        Frame f = udp_frame(a.mac(), i, std::uint16_t(2000 + 7 * i));
        ASSERT_TRUE(m.receive(f.data(), f.size())) << i;
    }
    std::set<std::uint32_t> seqs;
    std::uint32_t used = 0;
    for (std::uint32_t q = 0; q < nq; q++) {
        KRing& k = a.kring(Direction::rx, q);
        k.rhead = k.rcur = k.ring->head;
        ASSERT_EQ(a.rxsync(k, 0), 0);
        const std::uint32_t n = k.distance(k.ring->head, k.nr_hwtail.load());
        for (std::uint32_t i = 0; i < n; i++) seqs.insert(seq_of(a.memory().buf(k.ring->slot[i].buf_idx)));
        used += n > 0;
        EXPECT_EQ(m.interrupts(q), n > 0 ? 1u : 0u) << "queue " << q << " received " << n;
        EXPECT_EQ(readable(a.wait_fds(k).at(0)), n > 0) << q;
    }
    EXPECT_EQ(seqs.size(), total);
    EXPECT_GE(used, 6u) << "RSS should use most of the 8 queues";
    EXPECT_EQ(m.interrupts(nq), 0u); // the other-causes vector

    // transmit on every queue: each queue's tx completion fires its vector
    for (std::uint32_t q = 0; q < nq; q++) {
        const std::uint64_t before = m.interrupts(q);
        a.set_interrupts(a.kring(Direction::tx, q), true);
        KRing& k = a.kring(Direction::tx, q);
        ASSERT_TRUE(put(k.ring, make_frame({2, 0, 0, 0, 0, 2}, q, 60)));
        k.rhead = k.rcur = k.ring->head;
        ASSERT_EQ(a.txsync(k, 0), 0);
        EXPECT_EQ(m.interrupts(q), before + 1) << q;
    }
    ASSERT_TRUE(a.register_port(false).ok());
}

// A Port per queue pair (as one thread per pair would open them), each
// blocking on its own vector: UDP flows are spread by RSS and every frame is
// echoed back out of the queue pair it arrived on.
TEST(E1000I350, EchoOnFourQueuePairsWithBlockingWaits) {
    constexpr std::uint32_t nq = 4, total = 600;
    use_models();
    ModelRegistry::get().configs[addr(1)] = ModelConfig{.chip = Chip::i350};
    PortOptions o = small_opts(256, nq);
    std::vector<std::unique_ptr<Port>> ports;
    for (std::uint32_t q = 0; q < nq; q++) {
        auto p = Port::open("e1000:" + addr(1).str() + "-" + std::to_string(q), o);
        ASSERT_TRUE(p.ok()) << p.error().message;
        ports.push_back(std::move(p.value()));
    }
    E1000Model* m = ModelRegistry::get().models[addr(1)];
    auto& a = dynamic_cast<E1000Adapter&>(ports[0]->adapter());
    ASSERT_EQ(a.num_rings(Direction::rx), nq);
    std::mutex wire_mu;
    std::set<std::uint32_t> echoed;
    m->set_wire([&](const std::uint8_t* f, std::size_t n) {
        std::lock_guard lk(wire_mu);
        if (n >= 46) echoed.insert(seq_of(f));
    });

    std::atomic<std::uint32_t> received{0};
    std::atomic<bool> failed{false};
    std::vector<std::uint32_t> per_queue(nq, 0);
    std::vector<std::thread> workers;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (std::uint32_t q = 0; q < nq; q++)
        workers.emplace_back([&, q] {
            Port& p = *ports[q];
            netmap_ring* rx = p.rx_ring(q);
            netmap_ring* tx = p.tx_ring(q);
            while (received.load() < total && std::chrono::steady_clock::now() < deadline) {
                if (p.wait(Direction::rx, std::chrono::milliseconds(50)) < 0) {
                    failed = true;
                    return;
                }
                while (!nm_ring_empty(rx) && nm_ring_space(tx) > 0) {
                    netmap_slot& s = rx->slot[rx->cur];
                    netmap_slot& t = tx->slot[tx->cur];
                    std::swap(s.buf_idx, t.buf_idx); // zero copy: the received buffer goes out
                    t.len = s.len;
                    t.flags = NS_BUF_CHANGED;
                    s.flags = NS_BUF_CHANGED;
                    rx->head = rx->cur = nm_ring_next(rx, rx->cur);
                    tx->head = tx->cur = nm_ring_next(tx, tx->cur);
                    per_queue[q]++;
                    received++;
                }
                if (p.txsync() < 0) {
                    failed = true;
                    return;
                }
            }
            for (int i = 0; i < 100 && nm_ring_space(tx) != tx->num_slots - 1; i++) {
                p.txsync();
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (std::uint32_t i = 0; i < total; i++) {
        Frame f = udp_frame(a.mac(), i, std::uint16_t(5000 + 13 * i));
        while (!m->receive(f.data(), f.size()) && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::microseconds(200)); // ring full: the queue's thread catches up
    }
    for (auto& w : workers) w.join();
    EXPECT_FALSE(failed);
    EXPECT_EQ(received.load(), total);
    {
        std::lock_guard lk(wire_mu);
        EXPECT_EQ(echoed.size(), total);
    }
    std::uint32_t used = 0;
    for (std::uint32_t q = 0; q < nq; q++) used += per_queue[q] > 0;
    EXPECT_GE(used, 3u);
    EXPECT_EQ(a.stats().rx_packets, total);
    // the threads slept before the first frames came: interrupts woke them
    EXPECT_GE(a.irq_wakeups(), 1u);
}
