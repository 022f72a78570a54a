// e1000 driver data path on the 8254x model: tx/rx with wrap-around,
// multi-slot frames, drops, zero-copy swaps, statistics, TX hang, filters,
// interrupt-driven waits.
#include "e1000_test_util.hpp"

#include "drivers/e1000/e1000_regs.hpp"

#include <chrono>
#include <thread>

using namespace upio;
using namespace upio::e1000;
using namespace upio::e1000::test;

namespace {

// A Port on a model, opened through the real factory.
struct Fixture {
    std::unique_ptr<Port> port;
    E1000Model* model = nullptr;
    E1000Adapter* adapter = nullptr;
    netmap_ring* tx = nullptr;
    netmap_ring* rx = nullptr;
    std::vector<Frame> wire; // what the model transmitted

    explicit Fixture(std::uint8_t dev, ModelConfig cfg = {}, PortOptions o = small_opts(64), bool capture = true) {
        use_models();
        ModelRegistry::get().configs[pci(dev)] = cfg;
        auto p = Port::open("e1000:" + pci(dev).str(), o);
        if (!p.ok()) {
            ADD_FAILURE() << p.error().message;
            return;
        }
        port = std::move(p.value());
        model = ModelRegistry::get().models[pci(dev)];
        adapter = dynamic_cast<E1000Adapter*>(&port->adapter());
        tx = port->tx_ring(0);
        rx = port->rx_ring(0);
        if (capture) model->set_wire([this](const std::uint8_t* f, std::size_t n) { wire.emplace_back(f, f + n); });
    }
    std::array<std::uint8_t, 6> mac() const { return adapter->mac(); }
};

std::size_t frame_len(std::uint32_t i) { return 60 + (i * 97) % (1514 - 60 + 1); }

} // namespace

TEST(E1000Traffic, TransmitsWithWrapAround) {
    Fixture f(10);
    ASSERT_TRUE(f.port);
    const std::uint32_t total = 1000;
    std::vector<Frame> sent;
    std::uint32_t i = 0;
    while (i < total) {
        for (int b = 0; b < 7 && i < total; b++, i++) {
            sent.push_back(make_frame({2, 0, 0, 0, 0, 2}, i, frame_len(i)));
            if (!put(f.tx, sent.back())) {
                sent.pop_back();
                i--;
                break;
            }
        }
        ASSERT_EQ(f.port->txsync(), 0) << f.port->last_error();
    }
    ASSERT_EQ(f.port->txsync(), 0);
    ASSERT_EQ(f.wire.size(), total);
    for (std::uint32_t k = 0; k < total; k++) ASSERT_EQ(f.wire[k], sent[k]) << "frame " << k;
    // every descriptor reclaimed: the whole ring is the application's again
    EXPECT_EQ(nm_ring_space(f.tx), 63u);
    EXPECT_EQ(f.port->counters(Direction::tx).packets, total);
}

TEST(E1000Traffic, PadsShortFramesAndJoinsFragments) {
    Fixture f(11);
    ASSERT_TRUE(f.port);
    Frame small = make_frame({2, 0, 0, 0, 0, 2}, 1, 42);
    ASSERT_TRUE(put(f.tx, small));
    // one frame in two slots
    Frame big = make_frame({2, 0, 0, 0, 0, 2}, 2, 1000);
    netmap_slot& s0 = f.tx->slot[f.tx->cur];
    std::memcpy(NETMAP_BUF(f.tx, s0.buf_idx), big.data(), 600);
    s0.len = 600;
    s0.flags = NS_MOREFRAG;
    f.tx->head = f.tx->cur = nm_ring_next(f.tx, f.tx->cur);
    netmap_slot& s1 = f.tx->slot[f.tx->cur];
    std::memcpy(NETMAP_BUF(f.tx, s1.buf_idx), big.data() + 600, 400);
    s1.len = 400;
    s1.flags = 0;
    f.tx->head = f.tx->cur = nm_ring_next(f.tx, f.tx->cur);
    ASSERT_EQ(f.port->txsync(), 0);
    ASSERT_EQ(f.wire.size(), 2u);
    EXPECT_EQ(f.wire[0].size(), 60u); // TCTL.PSP
    EXPECT_TRUE(std::equal(small.begin(), small.end(), f.wire[0].begin()));
    EXPECT_EQ(f.wire[1], big);
}

TEST(E1000Traffic, ReceivesWithWrapAround) {
    Fixture f(12);
    ASSERT_TRUE(f.port);
    const std::uint32_t total = 1000;
    std::uint32_t sent = 0, got = 0;
    while (got < total) {
        for (int b = 0; b < 13 && sent < total; b++, sent++)
            ASSERT_TRUE(f.model->receive(make_frame(f.mac(), sent, frame_len(sent)).data(), frame_len(sent)));
        ASSERT_EQ(f.port->rxsync(), 0);
        while (!nm_ring_empty(f.rx)) {
            ASSERT_EQ(slot_frame(f.rx, f.rx->cur), make_frame(f.mac(), got, frame_len(got))) << "frame " << got;
            EXPECT_EQ(f.rx->slot[f.rx->cur].flags & NS_MOREFRAG, 0);
            got++;
            f.rx->head = f.rx->cur = nm_ring_next(f.rx, f.rx->cur);
        }
    }
    EXPECT_EQ(f.port->counters(Direction::rx).packets, total);
    EXPECT_EQ(f.adapter->stats().rx_missed, 0u);
}

TEST(E1000Traffic, SplitsFramesLargerThanABuffer) {
    PortOptions o = small_opts(64);
    o.memory.buf_size = 1024;
    Fixture f(13, {}, o);
    ASSERT_TRUE(f.port);
    Frame big = make_frame(f.mac(), 5, 1514);
    ASSERT_TRUE(f.model->receive(big.data(), big.size()));
    ASSERT_EQ(f.port->rxsync(), 0);
    ASSERT_EQ(nm_ring_space(f.rx), 2u);
    EXPECT_EQ(f.rx->slot[0].flags, NS_MOREFRAG);
    EXPECT_EQ(f.rx->slot[0].len, 1024);
    EXPECT_EQ(f.rx->slot[1].flags, 0);
    Frame joined = slot_frame(f.rx, 0);
    Frame rest = slot_frame(f.rx, 1);
    joined.insert(joined.end(), rest.begin(), rest.end());
    EXPECT_EQ(joined, big);
    EXPECT_EQ(f.port->counters(Direction::rx).packets, 1u);
}

TEST(E1000Traffic, DropsAndCountsWhenTheRingIsFull) {
    Fixture f(14);
    ASSERT_TRUE(f.port);
    std::uint32_t accepted = 0;
    for (std::uint32_t i = 0; i < 100; i++) accepted += f.model->receive(make_frame(f.mac(), i, 60).data(), 60);
    EXPECT_EQ(accepted, 63u); // one descriptor always stays with the driver
    const HwStats& s = f.adapter->stats();
    EXPECT_EQ(s.rx_missed, 37u);
    EXPECT_EQ(s.rx_packets, 63u);
    EXPECT_EQ(f.port->counters(Direction::rx).drops, 37u);
    ASSERT_EQ(f.port->rxsync(), 0);
    EXPECT_EQ(nm_ring_space(f.rx), 63u);
    // release everything: the device has room again
    f.rx->head = f.rx->cur = f.rx->tail;
    ASSERT_EQ(f.port->rxsync(), 0);
    EXPECT_TRUE(f.model->receive(make_frame(f.mac(), 100, 60).data(), 60));
}

TEST(E1000Traffic, StatisticsAgreeWithTraffic) {
    Fixture f(15);
    ASSERT_TRUE(f.port);
    std::uint64_t tx_bytes = 0, rx_bytes = 0;
    for (std::uint32_t round = 0; round < 3; round++) {
        for (std::uint32_t i = 0; i < 50; i++) {
            std::size_t len = 42 + (i * 31) % 1400;
            ASSERT_TRUE(put(f.tx, make_frame({2, 0, 0, 0, 0, 2}, i, len)));
            tx_bytes += std::max<std::size_t>(len, 60) + 4; // padded, plus CRC
            std::size_t rlen = 60 + i * 20;
            ASSERT_TRUE(f.model->receive(make_frame(f.mac(), i, rlen).data(), rlen));
            rx_bytes += rlen + 4;
        }
        ASSERT_EQ(f.port->txsync(), 0);
        ASSERT_EQ(f.port->rxsync(), 0);
        f.rx->head = f.rx->cur = f.rx->tail;
        ASSERT_EQ(f.port->rxsync(), 0);
        (void)f.adapter->stats(); // the registers clear; the totals keep counting
    }
    Frame bcast = make_frame({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9, 60);
    ASSERT_TRUE(f.model->receive(bcast.data(), bcast.size()));
    const HwStats& s = f.adapter->stats();
    EXPECT_EQ(s.tx_packets, 150u);
    EXPECT_EQ(s.tx_total, 150u);
    EXPECT_EQ(s.tx_bytes, tx_bytes);
    EXPECT_EQ(s.rx_packets, 151u);
    EXPECT_EQ(s.rx_broadcast, 1u);
    EXPECT_EQ(s.rx_bytes, rx_bytes + 64);
    EXPECT_EQ(f.model->peek(0x4074), 0u); // GPRC cleared by the read
}

TEST(E1000Traffic, ZeroCopySwapBetweenTwoNics) {
    // A -> B -> (swap rx buffer into tx slot, NS_BUF_CHANGED) -> back to A
    Fixture a(16, {}, small_opts(64), false), b(17, {.mac = {0x52, 0x54, 0, 0, 0, 0x17}}, small_opts(64), false);
    ASSERT_TRUE(a.port && b.port);
    E1000Model::connect(*a.model, *b.model);
    const std::uint32_t total = 500;
    std::uint32_t sent = 0, back = 0;
    while (back < total) {
        for (int k = 0; k < 9 && sent < total; k++, sent++)
            if (!put(a.tx, make_frame(b.mac(), sent, frame_len(sent)))) break;
        ASSERT_EQ(a.port->txsync(), 0);
        ASSERT_EQ(b.port->rxsync(), 0);
        // forward by swapping buffers: no copy
        while (!nm_ring_empty(b.rx) && nm_ring_space(b.tx)) {
            netmap_slot& rs = b.rx->slot[b.rx->cur];
            netmap_slot& ts = b.tx->slot[b.tx->cur];
            char* p = NETMAP_BUF(b.rx, rs.buf_idx);
            std::memcpy(p, a.mac().data(), 6); // rewrite the destination in place
            std::swap(rs.buf_idx, ts.buf_idx);
            ts.len = rs.len;
            rs.flags |= NS_BUF_CHANGED;
            ts.flags = NS_BUF_CHANGED;
            b.rx->head = b.rx->cur = nm_ring_next(b.rx, b.rx->cur);
            b.tx->head = b.tx->cur = nm_ring_next(b.tx, b.tx->cur);
        }
        ASSERT_EQ(b.port->txsync(), 0);
        ASSERT_EQ(b.port->rxsync(), 0); // hands the swapped-in buffers to the NIC
        ASSERT_EQ(a.port->rxsync(), 0);
        while (!nm_ring_empty(a.rx)) {
            Frame want = make_frame(a.mac(), back, frame_len(back));
            ASSERT_EQ(slot_frame(a.rx, a.rx->cur), want) << "frame " << back;
            back++;
            a.rx->head = a.rx->cur = nm_ring_next(a.rx, a.rx->cur);
        }
    }
    EXPECT_EQ(b.adapter->stats().rx_missed, 0u);
    EXPECT_EQ(a.adapter->stats().rx_packets, total);
}

TEST(E1000Traffic, TxHangIsDetectedAndExplained) {
    Fixture f(18);
    ASSERT_TRUE(f.port);
    f.model->set_tx_engine(false);
    for (std::uint32_t i = 0; i < 5; i++) ASSERT_TRUE(put(f.tx, make_frame({2, 0, 0, 0, 0, 2}, i, 60)));
    EXPECT_EQ(f.port->txsync(), 0); // a stall is not a hang yet
    auto start = std::chrono::steady_clock::now();
    int rc = 0;
    while (rc == 0 && std::chrono::steady_clock::now() - start < std::chrono::seconds(2)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        rc = f.port->txsync();
    }
    EXPECT_EQ(rc, -ETIMEDOUT);
    std::string why = f.adapter->tx_hang_report(0);
    EXPECT_NE(why.find("not written back (DD)"), std::string::npos) << why;
    EXPECT_NE(why.find("TDH=0 TDT=5"), std::string::npos) << why; // as the hang left them
    EXPECT_NE(why.find("queue reset, 5 frames lost"), std::string::npos) << why;
    // the queue restarted at descriptor 5: the five frames are given up and
    // counted, the ring is the application's again
    EXPECT_FALSE(f.adapter->tx_hung(0));
    EXPECT_EQ(f.port->counters(Direction::tx).tx_hangs, 1u);
    EXPECT_EQ(f.port->counters(Direction::tx).drops, 5u);
    EXPECT_EQ(nm_ring_space(f.tx), 63u);
    f.model->set_tx_engine(true);
    EXPECT_EQ(f.wire.size(), 0u);
    ASSERT_TRUE(put(f.tx, make_frame({2, 0, 0, 0, 0, 2}, 5, 60)));
    EXPECT_EQ(f.port->txsync(), 0);
    ASSERT_EQ(f.wire.size(), 1u);
    EXPECT_EQ(f.wire[0], make_frame({2, 0, 0, 0, 0, 2}, 5, 60));
}

TEST(E1000Traffic, FiltersFollowPromiscuousAndMulticastSettings) {
    Fixture f(19);
    ASSERT_TRUE(f.port);
    auto other = make_frame({0x02, 9, 9, 9, 9, 9}, 1, 60);
    auto mcast = make_frame({0x01, 0x00, 0x5e, 0x00, 0x00, 0x42}, 2, 60);
    auto bcast = make_frame({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 3, 60);
    EXPECT_FALSE(f.model->receive(other.data(), 60));
    EXPECT_FALSE(f.model->receive(mcast.data(), 60));
    EXPECT_TRUE(f.model->receive(bcast.data(), 60));
    f.adapter->add_multicast({0x01, 0x00, 0x5e, 0x00, 0x00, 0x42});
    EXPECT_TRUE(f.model->receive(mcast.data(), 60));
    f.adapter->set_promiscuous(true);
    EXPECT_TRUE(f.model->receive(other.data(), 60));
    f.adapter->set_promiscuous(false);
    EXPECT_FALSE(f.model->receive(other.data(), 60));
    f.adapter->set_broadcast(false);
    EXPECT_FALSE(f.model->receive(bcast.data(), 60));
    f.adapter->set_all_multicast(true);
    auto m2 = make_frame({0x01, 0, 0, 0, 0, 7}, 4, 60);
    EXPECT_TRUE(f.model->receive(m2.data(), 60));
}

TEST(E1000Traffic, BlockingWaitWakesOnTheInterrupt) {
    Fixture f(20);
    ASSERT_TRUE(f.port);
    f.adapter->set_itr(0);
    std::thread feeder([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        f.model->receive(make_frame(f.adapter->mac(), 1, 60).data(), 60);
    });
    auto t0 = std::chrono::steady_clock::now();
    int rc = f.port->wait(Direction::rx, std::chrono::seconds(5));
    auto waited = std::chrono::steady_clock::now() - t0;
    feeder.join();
    EXPECT_EQ(rc, 1);
    EXPECT_LT(waited, std::chrono::seconds(2));
    EXPECT_GE(f.model->interrupts(0), 1u);
    EXPECT_EQ(nm_ring_space(f.rx), 1u);
    // nothing more: the wait times out
    f.rx->head = f.rx->cur = f.rx->tail;
    EXPECT_EQ(f.port->wait(Direction::rx, std::chrono::milliseconds(30)), 0);
}

TEST(E1000Traffic, LinkDownStopsTrafficAndIsReported) {
    Fixture f(21);
    ASSERT_TRUE(f.port);
    f.model->set_cable(false);
    EXPECT_FALSE(f.adapter->link_status().up);
    EXPECT_FALSE(f.model->receive(make_frame(f.mac(), 1, 60).data(), 60));
    f.model->set_cable(true);
    EXPECT_TRUE(f.adapter->link_status().up);
    EXPECT_TRUE(f.model->receive(make_frame(f.mac(), 1, 60).data(), 60));
}

// One doorbell per sync, legacy and advanced descriptors: a txsync of 32
// packets writes TDT once, an rxsync that returns slots writes RDT once.
TEST(E1000Traffic, WritesEachTailOncePerSync) {
    for (auto [chip, dev, tdt, rdt] :
         {std::tuple{Chip::i82540em, std::uint8_t(22), TDBAL_OLD[0].offset + Q_T, RDBAL_OLD[0].offset + Q_T},
          std::tuple{Chip::i82576, std::uint8_t(23), TDBAL_ADV[0].offset + Q_T, RDBAL_ADV[0].offset + Q_T}}) {
        Fixture f(dev, {.chip = chip});
        ASSERT_TRUE(f.port);
        for (int round = 0; round < 4; round++) {
            for (int i = 0; i < 32; i++) ASSERT_TRUE(put(f.tx, make_frame({2, 0, 0, 0, 0, 2}, i, 60)));
            const std::uint64_t before = f.model->register_writes(tdt);
            ASSERT_EQ(f.port->txsync(), 0);
            EXPECT_EQ(f.model->register_writes(tdt) - before, 1u) << "round " << round;
        }
        EXPECT_EQ(f.wire.size(), 128u);
        for (int round = 0; round < 4; round++) {
            for (int i = 0; i < 32; i++) {
                Frame fr = make_frame(f.mac(), i, 60);
                ASSERT_TRUE(f.model->receive(fr.data(), fr.size()));
            }
            ASSERT_EQ(f.port->rxsync(), 0);
            ASSERT_EQ(nm_ring_space(f.rx), 32u);
            f.rx->head = f.rx->cur = f.rx->tail; // return all 32
            const std::uint64_t before = f.model->register_writes(rdt);
            ASSERT_EQ(f.port->rxsync(), 0);
            EXPECT_EQ(f.model->register_writes(rdt) - before, 1u) << "round " << round;
        }
        EXPECT_EQ(f.model->faults(), 0u);
    }
}
