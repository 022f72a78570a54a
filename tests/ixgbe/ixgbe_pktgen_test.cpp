// pkt-gen's sender and receiver (the code behind `pkt-gen -f txrx`) on two
// 82599 models wired back to back, through the real "ixgbe:" factory.
#include "ixgbe_test_util.hpp"

#include "pktgen.hpp"

#include <thread>

using namespace upio;
using namespace upio::ixgbe;
using namespace upio::ixgbe::test;

TEST(IxgbePktgen, TxRxBackToBack) {
    use_model(0x05);
    use_model(0x06);
    pktgen::Config cfg;
    cfg.mode = "txrx";
    cfg.count = 20000;
    cfg.batch = 64;
    cfg.slots = 512;
    cfg.frame.size = 60; // broadcast: FCTRL.BAM accepts it
    PortOptions o = small_opts(512);
    auto tx = Port::open("ixgbe:" + pci(0x05).str(), o);
    auto rx = Port::open("ixgbe:" + pci(0x06).str(), o);
    ASSERT_TRUE(tx.ok()) << tx.error().message;
    ASSERT_TRUE(rx.ok()) << rx.error().message;
    IxgbeModel::connect(*model_at(0x05), *model_at(0x06));

    pktgen::Worker s, r;
    s.role = pktgen::Role::sender;
    r.role = pktgen::Role::receiver;
    s.port = std::move(tx.value());
    r.port = std::move(rx.value());
    pktgen::Shared sh;
    std::thread rt([&] { pktgen::run_receiver(r, cfg, sh); });
    std::thread st([&] {
        pktgen::run_sender(s, cfg, sh);
        sh.senders_done = true;
    });
    st.join();
    rt.join();
    EXPECT_EQ(s.error, "");
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(s.stats.packets.load(), cfg.count);
    // a receiver slower than the sender may miss frames: its queue drops
    // them (QPRDC) and the ring counts them
    auto& ra = dynamic_cast<IxgbeAdapter&>(r.port->adapter());
    const HwStats& hs = ra.stats();
    EXPECT_EQ(r.stats.packets.load() + hs.rx_queue_drops, cfg.count);
    EXPECT_EQ(r.port->counters(Direction::rx).drops, hs.rx_queue_drops);
    EXPECT_EQ(hs.rx_missed, 0u);
    EXPECT_GT(r.stats.packets.load(), 0u);
    EXPECT_EQ(hs.rx_packets, r.stats.packets.load());
}
