// ixgbe multi-queue with one thread per ring pair (netmap's -p): two 82599
// models back to back, each thread on its own "-N" Port of a shared adapter.
#include "ixgbe_test_util.hpp"

#include <atomic>
#include <chrono>
#include <thread>

using namespace upio;
using namespace upio::ixgbe;
using namespace upio::ixgbe::test;

namespace {

std::string fmt_name(std::uint8_t dev, unsigned ring) { return "ixgbe:" + pci(dev).str() + "-" + std::to_string(ring); }

std::unique_ptr<Port> open_pair(std::uint8_t dev, unsigned ring, const PortOptions& o) {
    auto p = Port::open(fmt_name(dev, ring), o);
    if (!p.ok()) {
        ADD_FAILURE() << p.error().message;
        return nullptr;
    }
    return std::move(p.value());
}

} // namespace

TEST(IxgbeThreads, OneThreadPerQueuePairBackToBack) {
    constexpr unsigned nq = 4;
    constexpr std::uint32_t per_queue = 20000;
    const PortOptions o = small_opts(256, nq);
    use_model(0x0e);
    use_model(0x0f);
    std::unique_ptr<Port> tx[nq], rx[nq];
    for (unsigned q = 0; q < nq; q++) {
        tx[q] = open_pair(0x0e, q, o);
        rx[q] = open_pair(0x0f, q, o);
        ASSERT_TRUE(tx[q] && rx[q]);
    }
    // one adapter per function, shared by the Ports
    EXPECT_EQ(&tx[0]->adapter(), &tx[3]->adapter());
    IxgbeModel* ma = model_at(0x0e);
    IxgbeModel* mb = model_at(0x0f);
    IxgbeModel::connect(*ma, *mb);
    const Mac dst = dynamic_cast<IxgbeAdapter&>(rx[0]->adapter()).mac();

    std::atomic<std::uint32_t> received[nq] = {};
    std::atomic<bool> failed{false};
    std::vector<std::thread> threads;
    for (unsigned q = 0; q < nq; q++) {
        const std::uint16_t flow = flow_for_queue(*mb, dst, q, nq, std::uint16_t(1000 + 500 * q));
        threads.emplace_back([&, q, flow] { // sender on pair q of A
            netmap_ring* r = tx[q]->tx_ring(q);
            std::uint32_t sent = 0;
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            while (sent < per_queue && !failed && std::chrono::steady_clock::now() < deadline) {
                // stay within the receiver's ring so nothing is dropped
                while (sent < per_queue && sent - received[q].load() < 200 &&
                       put(r, make_frame(dst, q << 24 | sent, 60 + sent % 200, flow)))
                    sent++;
                if (tx[q]->txsync() != 0) failed = true;
                std::this_thread::yield();
            }
            if (sent != per_queue) failed = true;
        });
        threads.emplace_back([&, q] { // receiver on pair q of B, sleeping on its MSI-X vector
            netmap_ring* r = rx[q]->rx_ring(q);
            std::uint32_t next = 0;
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            while (next < per_queue && !failed && std::chrono::steady_clock::now() < deadline) {
                if (rx[q]->wait(Direction::rx, std::chrono::milliseconds(50)) < 0) failed = true;
                while (!nm_ring_empty(r)) {
                    const netmap_slot& s = r->slot[r->cur];
                    const auto* p = reinterpret_cast<const std::uint8_t*>(NETMAP_BUF(r, s.buf_idx));
                    if (frame_seq(p) != (q << 24 | next) || s.len != 60 + next % 200) failed = true;
                    next++;
                    r->head = r->cur = nm_ring_next(r, r->cur);
                }
                // give the slots back to the NIC before telling the sender
                if (rx[q]->rxsync() < 0) failed = true;
                received[q].store(next);
            }
        });
    }
    for (auto& t : threads) t.join();
    ASSERT_FALSE(failed);
    for (unsigned q = 0; q < nq; q++) {
        EXPECT_EQ(received[q].load(), per_queue);
        EXPECT_EQ(mb->rx_frames(q), per_queue);
        EXPECT_EQ(tx[q]->counters(Direction::tx).packets, per_queue);
    }
    EXPECT_EQ(dynamic_cast<IxgbeAdapter&>(rx[0]->adapter()).stats().rx_missed, 0u);
    EXPECT_EQ(ma->faults() + mb->faults(), 0u);
}
