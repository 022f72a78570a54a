// The 82576 path on its model: advanced descriptors, several queues with RSS,
// MSI-X per queue.
#include "e1000_test_util.hpp"

#include "drivers/e1000/e1000_regs.hpp"

#include <set>
#include <thread>

using namespace upio;
using namespace upio::e1000;
using namespace upio::e1000::test;

TEST(E1000Igb, BringsUpWithMsixPerQueue) {
    auto nic = make_nic({.chip = Chip::i82576}, small_opts(64, 4));
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    auto& a = *nic->adapter;
    EXPECT_STREQ(a.chip().name, "82576");
    EXPECT_EQ(a.irq_kind(), IrqKind::msix);
    EXPECT_EQ(a.num_rings(Direction::rx), 4u);
    ASSERT_TRUE(a.register_port(true).ok());
    for (unsigned q = 0; q < 4; q++) {
        EXPECT_TRUE(nic->model->peek(0xC028 + 0x40 * q) & XDCTL_ENABLE) << q; // RXDCTL
        EXPECT_TRUE(nic->model->peek(0xE028 + 0x40 * q) & XDCTL_ENABLE) << q; // TXDCTL
        EXPECT_EQ(nic->model->peek(0xC00C + 0x40 * q) & drivers::adv::SRRCTL_DESCTYPE_MASK,
                  drivers::adv::SRRCTL_DESCTYPE_ADV_ONEBUF);
    }
    EXPECT_EQ(nic->model->peek(MRQC.offset) & 7, MRQC_RSS);
    ASSERT_TRUE(a.register_port(false).ok());
}

TEST(E1000Igb, AdvancedDescriptorsBackToBack) {
    use_models();
    ModelRegistry::get().configs[pci(30)] = ModelConfig{.chip = Chip::i82576};
    ModelRegistry::get().configs[pci(31)] = ModelConfig{.chip = Chip::i82576, .mac = {0x52, 0x54, 0, 0, 0, 0x31}};
    auto pa = Port::open("e1000:0000:00:1e.0", small_opts(64));
    auto pb = Port::open("e1000:0000:00:1f.0", small_opts(64));
    ASSERT_TRUE(pa.ok() && pb.ok());
    E1000Model::connect(*ModelRegistry::get().models[pci(30)], *ModelRegistry::get().models[pci(31)]);
    auto& b = dynamic_cast<E1000Adapter&>(pb.value()->adapter());
    netmap_ring* tx = pa.value()->tx_ring(0);
    netmap_ring* rx = pb.value()->rx_ring(0);
    std::uint32_t sent = 0, got = 0;
    const std::uint32_t total = 700;
    while (got < total) {
        for (int k = 0; k < 11 && sent < total; k++, sent++)
            if (!put(tx, make_frame(b.mac(), sent, 60 + sent % 1400))) break;
        ASSERT_EQ(pa.value()->txsync(), 0);
        ASSERT_EQ(pb.value()->rxsync(), 0);
        while (!nm_ring_empty(rx)) {
            ASSERT_EQ(slot_frame(rx, rx->cur), make_frame(b.mac(), got, 60 + got % 1400)) << got;
            got++;
            rx->head = rx->cur = nm_ring_next(rx, rx->cur);
        }
    }
    EXPECT_EQ(b.stats().rx_packets, total);
}

TEST(E1000Igb, RssSpreadsFlowsOverQueues) {
    auto nic = make_nic({.chip = Chip::i82576}, small_opts(256, 4));
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    auto& a = *nic->adapter;
    ASSERT_TRUE(a.register_port(true).ok());
    const std::uint32_t total = 200;
    for (std::uint32_t i = 0; i < total; i++) {
        Frame f = udp_frame(a.mac(), i, std::uint16_t(1000 + i));
        ASSERT_TRUE(nic->model->receive(f.data(), f.size()));
    }
    std::uint32_t got = 0, used = 0;
    std::set<std::uint32_t> seqs;
    for (std::uint32_t q = 0; q < 4; q++) {
        KRing& k = a.kring(Direction::rx, q);
        k.rhead = k.rcur = k.ring->head;
        ASSERT_EQ(a.rxsync(k, 0), 0);
        std::uint32_t n = k.distance(k.ring->head, k.nr_hwtail.load());
        used += n > 0;
        for (std::uint32_t i = 0; i < n; i++) {
            netmap_slot& s = k.ring->slot[i];
            std::uint32_t seq;
            std::memcpy(&seq, a.memory().buf(s.buf_idx) + 42, 4);
            seqs.insert(seq);
        }
        got += n;
    }
    EXPECT_EQ(got, total);
    EXPECT_EQ(seqs.size(), total);
    EXPECT_GE(used, 3u) << "RSS should use most of the 4 queues";
    ASSERT_TRUE(a.register_port(false).ok());
}

TEST(E1000Igb, BlockingWaitOnAQueueVector) {
    auto p = open_on_model(pci(29), {.chip = Chip::i82576}, small_opts(64));
    ASSERT_TRUE(p.ok()) << p.error().message;
    E1000Model* m = model_at(pci(29));
    auto& a = dynamic_cast<E1000Adapter&>(p.value()->adapter());
    std::thread feeder([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        m->receive(make_frame(a.mac(), 1, 60).data(), 60);
    });
    int rc = p.value()->wait(Direction::rx, std::chrono::seconds(5));
    feeder.join();
    EXPECT_EQ(rc, 1);
    EXPECT_GE(m->interrupts(0), 1u);
    // EIAM masked the vector when it fired
    EXPECT_FALSE(m->peek(EIMS.offset) & 1u);
}
