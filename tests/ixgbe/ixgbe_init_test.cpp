// ixgbe bring-up on the 82599 model: the 4.6 sequence, link, errors, and
// the register map against the datasheet.
#include "ixgbe_test_util.hpp"

#include "drivers/ixgbe/ixgbe_regs.hpp"

using namespace upio;
using namespace upio::ixgbe;
using namespace upio::ixgbe::test;

namespace {

// Offsets and bits as the 82599 datasheet lists them (chapter 8).
static_assert(CTRL.offset == 0x00000 && CTRL_RST == 0x04000000);
static_assert(EEC.offset == 0x10010 && EEC_AUTO_RD == 0x200);
static_assert(RDRXCTL.offset == 0x02F00 && RDRXCTL_DMAIDONE == 0x8);
static_assert(AUTOC.offset == 0x042A0 && LINKS.offset == 0x042A4 && LINKS_LINK_UP == 0x40000000);
static_assert(EIMC.offset == 0x00888 && EIMS.offset == 0x00880 && EIAC.offset == 0x00810 && GPIE.offset == 0x00898);
static_assert(EITR(0).offset == 0x00820 && EITR(23).offset == 0x0087C && EITR(24).offset == 0x12300);
static_assert(IVAR[0].offset == 0x00900 && IVAR[63].offset == 0x009FC && IVAR_MISC.offset == 0x00A00);
static_assert(RDBAL[1].offset == 0x01040 && RDT[0].offset == 0x01018 && RXDCTL[0].offset == 0x01028);
static_assert(SRRCTL[0].offset == 0x01014 && XDCTL_ENABLE == 0x02000000);
static_assert(TDBAL[0].offset == 0x06000 && TDT[2].offset == 0x06098 && TXDCTL[0].offset == 0x06028);
static_assert(DMATXCTL.offset == 0x04A80 && RXCTRL.offset == 0x03000 && FCTRL.offset == 0x05080);
static_assert(HLREG0.offset == 0x04240 && MAXFRS.offset == 0x04268 && MRQC.offset == 0x0EC80);
static_assert(RSSRK[0].offset == 0x0EB80 && RETA[31].offset == 0x0EB7C);
static_assert(GPRC.offset == 0x04074 && GPTC.offset == 0x04080 && GORCL.offset == 0x04088 && GOTCL.offset == 0x04090);
static_assert(MPC[0].offset == 0x03FA0 && RAL[0].offset == 0x0A200 && RAH[0].offset == 0x0A204);

} // namespace

TEST(IxgbeInit, BringsUp82599) {
    auto nic = make_nic();
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    auto& a = *nic->adapter;
    IxgbeModel& m = *nic->model;
    EXPECT_STREQ(a.chip().name, "82599ES (SFP+, X520)");
    EXPECT_EQ(a.mac(), (Mac{0x02, 0x1b, 0x21, 0x00, 0x00, 0x01}));
    LinkStatus l = a.link_status();
    EXPECT_TRUE(l.up);
    EXPECT_EQ(l.speed_mbps, 10000u);
    EXPECT_EQ(m.faults(), 0u);
    EXPECT_TRUE(a.has_interrupts()) << a.irq_error();
    // global settings of 4.6.7 / 4.6.8
    EXPECT_TRUE(m.peek(HLREG0.offset) & HLREG0_RXCRCSTRP);
    EXPECT_TRUE(m.peek(RDRXCTL.offset) & RDRXCTL_CRCSTRIP);
    EXPECT_TRUE(m.peek(RDRXCTL.offset) & RDRXCTL_RSCACKC);
    EXPECT_EQ(m.peek(RDRXCTL.offset) & RDRXCTL_RSCFRSTSIZE, 0u);
    EXPECT_TRUE(m.peek(FCTRL.offset) & FCTRL_BAM);
    EXPECT_TRUE(m.peek(GPIE.offset) & GPIE_MSIX_MODE);
    EXPECT_EQ(m.peek(EITR(0).offset), 24u << EITR_INTERVAL_SHIFT); // 50 us: 24 x 2.048 us
    // 4.6.3.2: flow control high water = packet buffer - 24 KiB, flow control or not
    EXPECT_EQ(m.peek(FCRTH[0].offset), (512u << 10) - 0x6000);
    // 4.6.8: the tx packet buffer and a threshold that leaves room for a 10 KiB frame
    EXPECT_EQ(m.peek(TXPBSIZE[0].offset), 160u << 10);
    EXPECT_EQ(m.peek(TXPBTHRESH[0].offset), 150u);
    EXPECT_EQ(m.peek(RTTDCS.offset) & RTTDCS_ARBDIS, 0u) << "the tx arbiter runs again after the setup";

    // queues and receive start with the first Port, stop with the last
    EXPECT_FALSE(m.peek(RXCTRL.offset) & RXCTRL_RXEN);
    ASSERT_TRUE(a.register_port(true).ok());
    EXPECT_TRUE(m.peek(RXCTRL.offset) & RXCTRL_RXEN);
    EXPECT_TRUE(m.peek(DMATXCTL.offset) & DMATXCTL_TE);
    EXPECT_TRUE(m.read32(RXDCTL[0].offset) & XDCTL_ENABLE);
    EXPECT_TRUE(m.read32(TXDCTL[0].offset) & XDCTL_ENABLE);
    EXPECT_EQ(m.peek(RDT[0].offset), 63u); // all descriptors but one
    EXPECT_EQ(m.peek(RDLEN[0].offset), 64u * 16);
    EXPECT_EQ(m.peek(SRRCTL[0].offset) & SRRCTL_BSIZEPKT_MASK, 2u);
    EXPECT_EQ(m.peek(SRRCTL[0].offset) & SRRCTL_DESCTYPE_MASK, SRRCTL_DESCTYPE_ADV_ONEBUF);
    // descriptor rings are programmed with IOVAs, never virtual addresses
    const std::uint64_t base = m.peek(RDBAL[0].offset) | std::uint64_t(m.peek(RDBAH[0].offset)) << 32;
    EXPECT_NE(base, 0u);
    EXPECT_EQ(base % 128, 0u);
    EXPECT_FALSE(a.memory().contains(reinterpret_cast<void*>(base), 16));
    ASSERT_TRUE(a.register_port(false).ok());
    EXPECT_FALSE(m.peek(RXCTRL.offset) & RXCTRL_RXEN);
    EXPECT_FALSE(m.read32(RXDCTL[0].offset) & XDCTL_ENABLE);
    EXPECT_EQ(m.faults(), 0u);
}

TEST(IxgbeInit, SlowDeviceStillComesUp) {
    auto nic = make_nic({.reset_reads = 8, .auto_rd_reads = 10, .dma_init_reads = 10, .link_reads = 10,
                         .enable_reads = 5});
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    ASSERT_TRUE(nic->adapter->register_port(true).ok());
    EXPECT_TRUE(nic->adapter->link_status().up);
}

TEST(IxgbeInit, KnowsX540AndX550AndRejectsOthers) {
    for (std::uint16_t id : {0x1528, 0x1560, 0x1563, 0x15AD, 0x10F7, 0x1557}) EXPECT_NE(find_chip(0x8086, id), nullptr) << id;
    EXPECT_EQ(find_chip(0x8086, 0x10C9), nullptr); // an 82576: igb's
    EXPECT_EQ(find_chip(0x1af4, 0x10FB), nullptr);
    auto nic = make_nic({.device_id = 0x10D3});
    ASSERT_FALSE(nic.ok());
    expect_has(nic.error().message, "10d3");
    expect_has(nic.error().message, "82599");
}

TEST(IxgbeInit, LinkTimeoutNamesTheRegister) {
    auto nic = make_nic({.cable = false});
    ASSERT_FALSE(nic.ok());
    EXPECT_EQ(nic.error().code, ETIMEDOUT);
    expect_has(nic.error().message, "LINKS");
    expect_has(nic.error().message, "link to come up");
    // without require_link the open succeeds and the link comes up later
    DriverOptions d = fast_opts();
    d.require_link = false;
    d.link_timeout = std::chrono::milliseconds(20);
    auto ok = make_nic({.cable = false}, small_opts(), d);
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    EXPECT_FALSE(ok->adapter->link_status().up);
    ok->model->set_cable(true);
    EXPECT_TRUE(ok->adapter->wait_link(std::chrono::milliseconds(100)).ok());
    EXPECT_EQ(ok->adapter->link_status().speed_mbps, 10000u);
}

TEST(IxgbeInit, EepromAndDmaInitTimeoutsNameTheirRegisters) {
    DriverOptions d = fast_opts();
    d.eeprom_timeout = d.dma_init_timeout = std::chrono::milliseconds(20);
    auto e = make_nic({.auto_rd_reads = 1'000'000}, small_opts(), d);
    ASSERT_FALSE(e.ok());
    expect_has(e.error().message, "EEC");
    expect_has(e.error().message, "EEPROM auto-read");
    auto r = make_nic({.dma_init_reads = 1'000'000}, small_opts(), d);
    ASSERT_FALSE(r.ok());
    expect_has(r.error().message, "RDRXCTL");
    expect_has(r.error().message, "DMA initialisation");
    auto q = make_nic({.enable_reads = 1'000'000}, small_opts(), d);
    ASSERT_TRUE(q.ok()) << q.error().message;
    Status s = q->adapter->register_port(true);
    ASSERT_FALSE(s.ok());
    expect_has(s.error().message, "RXDCTL[0]");
}

TEST(IxgbeInit, RejectsBadGeometry) {
    auto a = make_nic({}, small_opts(60));
    ASSERT_FALSE(a.ok());
    expect_has(a.error().message, "multiple of 8");
    auto b = make_nic({}, small_opts(64, 65));
    ASSERT_FALSE(b.ok());
    expect_has(b.error().message, "at most 64");
    PortOptions o = small_opts();
    o.memory.buf_size = 512;
    auto c = make_nic({}, o);
    ASSERT_FALSE(c.ok());
    expect_has(c.error().message, "BSIZEPACKET");
    o.memory.buf_size = 32768; // fits the 5-bit field, but the 82599 takes at most 16 KiB (8.2.3.8.7)
    auto d = make_nic({}, o);
    ASSERT_FALSE(d.ok());
    expect_has(d.error().message, "1 KiB to 16 KiB");
    auto e = make_nic({}, small_opts(16384)); // beyond the validated 8 K descriptors (8.2.3.8.3)
    ASSERT_FALSE(e.ok());
    expect_has(e.error().message, "and 8192");
}

// 4.2.1.6.1, 5.2.5.3.2: every software reset (open and close) comes after
// the master disable flow; the model faults on one that does not.
TEST(IxgbeInit, ResetsOnlyAfterTheMasterDisableFlow) {
    upio::test::expect_resets_only_after_master_disable(
        [] { return make_nic(); }, {STATUS.offset, STATUS_GIO, CTRL.offset, CTRL_RST, "PCIE_MASTER_DISABLE"});
}

// 4.6.7: RXCTRL.RXEN is set with the security rx path halted; the model
// refuses it otherwise (82599 errata: the rx DMA may hang).
TEST(IxgbeInit, ModelFaultsOnReceiveEnabledWithTheSecurityPathRunning) {
    std::vector<std::string> faults;
    auto nic = make_nic();
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    IxgbeModel& m = *nic->model;
    m.set_fault_handler([&](const std::string& f) { faults.push_back(f); });
    ASSERT_TRUE(nic->adapter->register_port(true).ok());
    EXPECT_TRUE(faults.empty()) << faults.front();
    EXPECT_TRUE(m.peek(RXCTRL.offset) & RXCTRL_RXEN);
    EXPECT_FALSE(m.peek(SECRXCTRL.offset) & SECRXCTRL_RX_DIS) << "the security path runs again";
    ASSERT_TRUE(nic->adapter->register_port(false).ok());
    m.write32(RXCTRL.offset, RXCTRL_RXEN);
    ASSERT_EQ(faults.size(), 1u);
    expect_has(faults.back(), "SECRXCTRL.RX_DIS");
    m.write32(RXCTRL.offset, 0);
    m.write32(FCRTH[0].offset, 0); // and with no high water mark (4.6.3.2)
    m.write32(SECRXCTRL.offset, SECRXCTRL_RX_DIS);
    m.write32(RXCTRL.offset, RXCTRL_RXEN);
    ASSERT_EQ(faults.size(), 2u);
    expect_has(faults.back(), "FCRTH[0]");
    m.write32(RXCTRL.offset, 0);
    m.write32(RTTDCS.offset, 0);
    m.write32(MTQC.offset, 0); // MTQC with the tx arbiter running (8.2.3.9.15)
    ASSERT_EQ(faults.size(), 3u);
    expect_has(faults.back(), "RTTDCS.ARBDIS");
}

TEST(IxgbeInit, SixtyFourQueuePairsWithRssOnSixteen) {
    auto nic = make_nic({}, small_opts(64, 64));
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    auto& a = *nic->adapter;
    IxgbeModel& m = *nic->model;
    EXPECT_EQ(a.num_rings(Direction::rx), 64u);
    ASSERT_TRUE(a.register_port(true).ok());
    for (unsigned q = 0; q < 64; q++) {
        EXPECT_TRUE(m.read32(RXDCTL[q].offset) & XDCTL_ENABLE) << q;
        EXPECT_TRUE(m.read32(TXDCTL[q].offset) & XDCTL_ENABLE) << q;
    }
    EXPECT_EQ(m.peek(MRQC.offset) & MRQC_MRQE_MASK, MRQC_RSS);
    EXPECT_EQ(m.peek(RETA[3].offset), 0x0f0e0d0cu); // entries 12..15
    EXPECT_EQ(m.peek(RETA[4].offset), 0x03020100u); // wraps at 16 queues
    // 63 queue vectors and the "other" vector; IVAR routes queue 63 to vector 0
    EXPECT_EQ(m.peek(IVAR[31].offset) >> 16, 0x8080u);
    EXPECT_EQ(m.peek(IVAR_MISC.offset), (63u | 0x80) << 8);
    EXPECT_EQ(m.faults(), 0u);
}

TEST(IxgbeInit, ModelFaultsOnDatasheetViolations) {
    std::vector<std::string> faults; // outlives the NIC: its teardown may report more
    auto nic = make_nic();
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    IxgbeModel& m = *nic->model;
    m.set_fault_handler([&](const std::string& f) { faults.push_back(f); });
    ASSERT_TRUE(nic->adapter->register_port(true).ok());
    m.write32(RDBAL[0].offset, 0x1000); // reprogramming an enabled queue
    ASSERT_EQ(faults.size(), 1u);
    expect_has(faults.back(), "RDBAL[0] written while the rx queue is enabled");
    m.write32(TDT[5].offset, 3); // tail bump of a disabled queue
    expect_has(faults.back(), "TDT[5] set to 3 while the tx queue is disabled");
    m.write32(TDBAL[5].offset, 0x1040); // misaligned base: the queue never comes up
    m.write32(TDLEN[5].offset, 1024);
    m.write32(TXDCTL[5].offset, XDCTL_ENABLE);
    expect_has(faults.back(), "not 128-byte aligned");
    EXPECT_FALSE(m.read32(TXDCTL[5].offset) & XDCTL_ENABLE);
    m.write32(TDBAL[6].offset, 0x2000);
    m.write32(TDLEN[6].offset, 100);
    m.write32(TXDCTL[6].offset, XDCTL_ENABLE);
    expect_has(faults.back(), "not a nonzero multiple of 128");
    // DMA outside every mapping
    m.write32(TDBAL[7].offset, 0x4000);
    m.write32(TDLEN[7].offset, 1024);
    m.write32(TXDCTL[7].offset, XDCTL_ENABLE);
    (void)m.read32(TXDCTL[7].offset);
    m.write32(TDT[7].offset, 1);
    expect_has(faults.back(), "outside every mapped range");
    EXPECT_EQ(m.faults(), faults.size());
}

// The region goes on the device's NUMA node unless the user chose one.
TEST(IxgbeInit, RegionOnTheDevicesNumaNode) {
    if (!upio::test::numa_placement()) GTEST_SKIP() << "no NUMA placement on this machine (libnuma unavailable)";
    auto nic = make_nic({.numa_node = 0});
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    EXPECT_EQ(nic->adapter->memory().requested_numa_node(), 0);
    EXPECT_EQ(nic->adapter->memory().numa_node(), 0);
    // no node reported: the calling thread's (nothing requested)
    auto none = make_nic();
    ASSERT_TRUE(none.ok()) << none.error().message;
    EXPECT_EQ(none->adapter->memory().requested_numa_node(), -1);
    // the user's node wins over the device's (node 63 exists nowhere here:
    // asked for, it would be an error)
    PortOptions o = small_opts();
    o.memory.numa_node = 0;
    auto user = make_nic({.numa_node = 63}, o);
    ASSERT_TRUE(user.ok()) << user.error().message;
    EXPECT_EQ(user->adapter->memory().requested_numa_node(), 0);
    // a node that does not exist is still the clear error
    o.memory.numa_node = 63;
    auto bad = make_nic({.numa_node = 0}, o);
    ASSERT_FALSE(bad.ok());
    expect_has(bad.error().message, "NUMA node 63 does not exist");
}
