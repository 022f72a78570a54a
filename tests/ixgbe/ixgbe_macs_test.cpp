// The X540 and X550 on the model: what the driver does differently for them
// (link from the firmware-run copper PHY, 384 KiB packet buffer, the X550's
// 512-entry RSS table and NBASE-T speeds), traffic and RSS on each, and the
// X550EM parts it refuses.
#include "ixgbe_test_util.hpp"

#include "drivers/ixgbe/ixgbe_regs.hpp"

using namespace upio;
using namespace upio::ixgbe;
using namespace upio::ixgbe::test;

namespace {

struct MacCase {
    std::uint16_t device_id;
    Family family;
    const char* name;
    unsigned rss_queues; // queues the redirection table can name
};

const MacCase x540{0x1528, Family::x540, "X540-T2", 16};
const MacCase x550{0x1563, Family::x550, "X550-T2", 64};

struct MacPort : ModelPort {
    MacPort(std::uint8_t dev, const MacCase& c, unsigned rings, unsigned link_mbps = 10000)
        : ModelPort(dev, small_opts(256, rings), fast_opts(),
                    ModelConfig{.device_id = c.device_id, .link_mbps = link_mbps}) {}
};

// Init, link, traffic both ways and RSS over the queues the MAC can spread to.
void init_link_traffic_rss(std::uint8_t dev, const MacCase& c, unsigned rings) {
    MacPort p(dev, c, rings);
    ASSERT_TRUE(p.port);
    IxgbeAdapter& a = *p.adapter;
    IxgbeModel& m = *p.model;
    EXPECT_EQ(a.chip().family, c.family);
    EXPECT_STREQ(a.chip().name, c.name);
    // link: the PHY's firmware brought it up; AUTOC was never written (the
    // model faults, and aborts, on an AUTOC write by an X540/X550 driver)
    LinkStatus l = a.link_status();
    EXPECT_TRUE(l.up);
    EXPECT_EQ(l.speed_mbps, 10000u);
    EXPECT_EQ(m.peek(RXPBSIZE[0].offset), 384u << 10);
    // transmit on every ring
    for (unsigned r = 0; r < rings; r++) {
        for (std::uint32_t i = 0; i < 4; i++)
            ASSERT_TRUE(put(p.port->tx_ring(r), make_frame(Mac{0x02, 0, 0, 0, 0, 2}, r * 100 + i, 60 + i)));
        ASSERT_EQ(p.port->txsync_ring(r), 0) << p.port->last_error();
    }
    EXPECT_EQ(p.wire.size(), 4u * rings);
    // receive 2000 flows: every queue the table can name gets its share, the
    // others none
    const unsigned spread = std::min(rings, c.rss_queues);
    for (std::uint32_t i = 0; i < 2000; i++) {
        Frame f = make_frame(a.mac(), i, 80, std::uint16_t(20000 + i * 13));
        ASSERT_TRUE(m.receive(f.data(), f.size())) << i;
        if (i % 100 == 99) {
            ASSERT_EQ(p.port->rxsync(), 0);
            for (unsigned r = 0; r < rings; r++) take_all(p.port->rx_ring(r));
        }
    }
    for (unsigned q = 0; q < rings; q++) {
        if (q < spread)
            EXPECT_GT(m.rx_frames(q), 2000u / spread / 3) << c.name << " queue " << q;
        else
            EXPECT_EQ(m.rx_frames(q), 0u) << c.name << " queue " << q;
    }
    EXPECT_EQ(p.port->counters(Direction::rx).packets, 2000u);
    EXPECT_EQ(m.faults(), 0u);
}

} // namespace

TEST(IxgbeMacs, X540InitLinkTrafficAndRssOnSixteenQueues) {
    init_link_traffic_rss(0x07, x540, 32);
}

TEST(IxgbeMacs, X550InitLinkTrafficAndRssOverAllQueues) {
    init_link_traffic_rss(0x08, x550, 32);
}

TEST(IxgbeMacs, X550RedirectionTableHas512EntriesInRetaAndEreta) {
    MacPort p(0x09, x550, 48);
    ASSERT_TRUE(p.port);
    IxgbeModel& m = *p.model;
    // entry i names queue i % 48: RETA holds 0-127, ERETA 128-511, 6-bit
    EXPECT_EQ(m.peek(RETA[0].offset), 0x03020100u);
    EXPECT_EQ(m.peek(RETA[11].offset), 0x2f2e2d2cu);  // entries 44-47
    EXPECT_EQ(m.peek(RETA[12].offset), 0x03020100u);  // entries 48-51 -> 0-3
    EXPECT_EQ(m.peek(ERETA[0].offset), 0x23222120u);  // entries 128-131 -> 32-35
    EXPECT_EQ(m.peek(ERETA[95].offset), 0x1f1e1d1cu); // entries 508-511 -> 28-31
    // the X540 leaves ERETA alone (it has none)
    MacPort q(0x0a, x540, 48);
    ASSERT_TRUE(q.port);
    EXPECT_EQ(q.model->peek(ERETA[0].offset), 0u);
    EXPECT_EQ(q.model->peek(RETA[3].offset), 0x0f0e0d0cu);
}

TEST(IxgbeMacs, X550ReportsNbaseTSpeeds) {
    for (auto [mbps, dev] : {std::pair{2500u, std::uint8_t(0x0b)}, std::pair{5000u, std::uint8_t(0x0c)},
                             std::pair{1000u, std::uint8_t(0x0d)}}) {
        MacPort p(dev, x550, 1, mbps);
        ASSERT_TRUE(p.port);
        EXPECT_EQ(p.adapter->link_status().speed_mbps, mbps);
    }
    // the X540's copper link at 1 Gb/s
    MacPort p(0x1f, x540, 1, 1000);
    ASSERT_TRUE(p.port);
    EXPECT_EQ(p.adapter->link_status().speed_mbps, 1000u);
}

TEST(IxgbeMacs, X550emIsRefusedAsNotSupportedYet) {
    for (std::uint16_t id : {0x15AA, 0x15AB, 0x15AC, 0x15AD, 0x15AE, 0x15C8, 0x15CE}) {
        auto nic = make_nic({.device_id = id});
        ASSERT_FALSE(nic.ok()) << std::hex << id;
        EXPECT_EQ(nic.error().code, ENOTSUP);
        const std::string& msg = nic.error().message;
        EXPECT_NE(msg.find("not supported yet"), std::string::npos) << msg;
        EXPECT_NE(msg.find(id >= 0x15C8 ? "X550EM_a" : "X550EM_x"), std::string::npos) << msg;
        EXPECT_NE(msg.find("kernel's ixgbe driver"), std::string::npos) << msg;
    }
}

TEST(IxgbeMacs, ModelFaultsWhereTheX540DiffersFromThe82599) {
    std::vector<std::string> faults; // outlives the NIC
    auto nic = make_nic({.device_id = 0x1560});
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    IxgbeModel& m = *nic->model;
    EXPECT_EQ(nic->adapter->chip().family, Family::x540);
    m.set_fault_handler([&](const std::string& f) { faults.push_back(f); });
    // an 82599 driver restarting MAC autonegotiation
    m.write32(AUTOC.offset, AUTOC_LMS_10G_SERIAL | AUTOC_RESTART_AN);
    ASSERT_EQ(faults.size(), 1u);
    EXPECT_NE(faults.back().find("AUTOC written"), std::string::npos) << faults.back();
    EXPECT_NE(faults.back().find("X540"), std::string::npos) << faults.back();
    // an 82599 driver giving PB0 512 KiB
    m.write32(RXPBSIZE[0].offset, 512u << 10);
    m.write32(SECRXCTRL.offset, SECRXCTRL_RX_DIS); // receive is enabled with the security path halted (4.6.7)
    m.write32(RXCTRL.offset, RXCTRL_RXEN);
    ASSERT_EQ(faults.size(), 2u);
    EXPECT_NE(faults.back().find("384 KiB"), std::string::npos) << faults.back();
    m.write32(RXCTRL.offset, 0);
}
