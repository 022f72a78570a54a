// The e1000 family's control path: identification, reset, EEPROM, MAC, link,
// rings and memory, start/stop, and the port-type factory.
#include "drivers/e1000/e1000.hpp"
#include "drivers/e1000/e1000_regs.hpp"

#include "drivers/common/factory.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <thread>

namespace upio::e1000 {
namespace {

constexpr ChipInfo chips[] = {
    {0x100E, Family::i8254x, "82540EM"},
    {0x1015, Family::i8254x, "82540EM (LOM)"},
    {0x100F, Family::i8254x, "82545EM (copper)"},
    {0x1011, Family::i8254x, "82545EM (fiber)", false},
    {0x1026, Family::i8254x, "82545GM (copper)"},
    {0x10D3, Family::i82574, "82574L"},
    {0x10F6, Family::i82574, "82574LA"},
    {0x10C9, Family::i82576, "82576"},
    {0x10E6, Family::i82576, "82576 (fiber)", false},
    {0x10E7, Family::i82576, "82576 (serdes)", false},
    {0x10E8, Family::i82576, "82576 (quad copper)"},
    {0x1526, Family::i82576, "82576 (quad copper ET2)"},
    {0x150A, Family::i82576, "82576NS"},
    {0x1521, Family::i350, "I350 (copper)"},
    {0x1522, Family::i350, "I350 (fiber)", false},
    {0x1523, Family::i350, "I350 (backplane)", false},
    {0x1524, Family::i350, "I350 (SGMII)", false},
};

constexpr std::uint32_t max_slots = 4096;

// Before a reset: every interrupt masked (IMC 13.4.21; EIMC 82576 8.8),
// receive and transmit off (RCTL 13.4.22, TCTL 13.4.33).
constexpr drivers::RegWrite quiesce_legacy[] = {{IMC, ~0u}, {RCTL, 0}, {TCTL, TCTL_PSP}};
constexpr drivers::RegWrite quiesce_ext[] = {{IMC, ~0u}, {EIMC, ~0u}, {RCTL, 0}, {TCTL, TCTL_PSP}};

// The families' differences (FamilyTraits in e1000.hpp):
//   8254x SDM: one queue at 0x2800/0x3800 (13.4.25-29, 13.4.38-42), legacy
//     descriptors (3.2.4, 3.3.3), RCTL.BSIZE (13.4.22), ICR/IMS/ITR only
//     (13.4.17-21), EERD DONE bit 4 (13.4.4), conventional PCI: no master
//     disable flow;
//   82574: as the 8254x for queues and descriptors, but PCIe (master
//     disable), EERD DONE bit 1 and EEC.AUTO_RD (10.2.2.4-5), MSI-X with
//     IVAR at 0xE4 (7.4, 10.2.4);
//   82576: eight queues at 0xC000/0xE000 + 0x40 n (8.10, 8.12), advanced
//     descriptors and SRRCTL (7.1.5, 7.2.2, 8.10.2), RXDCTL/TXDCTL.ENABLE
//     (4.5.9, 4.5.10), RQDPC, EICR/EIMS/EITR and IVAR (7.3, 8.8);
//   I350: as the 82576, IVAR[q / 2] instead of IVAR[q % 8].
using Msix = FamilyTraits::Msix;
//                                   queues rdbal      tdbal      adv_desc queue_enable ext_irq per_queue_drops
//                                   master_disable eerd_new ivar_by_pair msix min_buf quiesce
constexpr FamilyTraits traits_8254x{1, RDBAL_OLD, TDBAL_OLD, false, false, false, false,
                                    false, false, false, Msix::none, 256, quiesce_legacy};
constexpr FamilyTraits traits_82574{1, RDBAL_OLD, TDBAL_OLD, false, false, false, false,
                                    true, true, false, Msix::i82574, 256, quiesce_legacy};
constexpr FamilyTraits traits_82576{8, RDBAL_ADV, TDBAL_ADV, true, true, true, true,
                                    true, true, false, Msix::per_queue, 1024, quiesce_ext};
constexpr FamilyTraits traits_i350{8, RDBAL_ADV, TDBAL_ADV, true, true, true, true,
                                   true, true, true, Msix::per_queue, 1024, quiesce_ext};
// E1000Adapter::advanced() (the data path's test) and the table agree.
static_assert(!traits_8254x.adv_desc && !traits_82574.adv_desc && traits_82576.adv_desc && traits_i350.adv_desc &&
              Family::i8254x < Family::i82576 && Family::i82574 < Family::i82576 && Family::i350 > Family::i82576);


// Statistics registers and where they accumulate (13.7; 82576 8.19).
using StatReg = drivers::StatReg<HwStats>;
constexpr Reg none{0, ""}; // a 32-bit counter's high half
constexpr StatReg stat_regs[] = {
    {GPRC, none, &HwStats::rx_packets},    {GORCL, GORCH, &HwStats::rx_bytes},
    {BPRC, none, &HwStats::rx_broadcast},  {MPRC, none, &HwStats::rx_multicast},
    {MPC, none, &HwStats::rx_missed},      {RNBC, none, &HwStats::rx_no_buffer},
    {CRCERRS, none, &HwStats::rx_crc_errors}, {RUC, none, &HwStats::rx_undersize},
    {ROC, none, &HwStats::rx_oversize},    {TPR, none, &HwStats::rx_total},
    {GPTC, none, &HwStats::tx_packets},    {GOTCL, GOTCH, &HwStats::tx_bytes},
    {TPT, none, &HwStats::tx_total},
};


// Fiber, SerDes, backplane and SGMII parts: not supported yet.
const char* why_not(const ChipInfo& c) {
    return c.copper ? nullptr
                    : "not supported yet: its fiber/SerDes link is set up through TXCW or the PCS, which this driver "
                      "does not do (it drives copper PHYs); bind the port to the kernel's e1000 or igb driver instead";
}

std::string mac_str(const std::array<std::uint8_t, 6>& m) {
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

} // namespace

const ChipInfo* find_chip(std::uint16_t vendor_id, std::uint16_t device_id) noexcept {
    return drivers::find_intel_chip(chips, vendor_id, device_id);
}

const FamilyTraits& traits(Family f) noexcept {
    switch (f) {
    case Family::i8254x: return traits_8254x;
    case Family::i82574: return traits_82574;
    case Family::i82576: return traits_82576;
    case Family::i350: return traits_i350;
    }
    return traits_8254x;
}

E1000Adapter::E1000Adapter(std::string name, std::unique_ptr<Device> dev, const ChipInfo& chip,
                           const DriverOptions& o)
    : Adapter(std::move(name)), dev_(std::move(dev)), r_(*dev_), chip_(&chip), t_(&traits(chip.family)), opt_(o) {
    r_.set_on_removed([this] { drivers::wake_all(*this); }); // every waiter wakes to ENODEV
}

E1000Adapter::~E1000Adapter() { quiesce(); }

Reg E1000Adapter::rxq(unsigned q, std::uint32_t off, const char* name) const noexcept {
    Reg base = t_->rdbal[q];
    return Reg{base.offset + off, name, int(q)};
}

Reg E1000Adapter::txq(unsigned q, std::uint32_t off, const char* name) const noexcept {
    Reg base = t_->tdbal[q];
    return Reg{base.offset + off, name, int(q)};
}

// -- initialisation, in the order of 8254x SDM 14.3-14.5 / 82576 4.5-4.6

Status E1000Adapter::init(const PortOptions& opts) {
    if (Status s = dev_->set_bus_master(true); !s) return s;
    mask_interrupts(); // before and after the reset (14.4)
    if (Status s = reset_hw(); !s) return s;
    if (Status s = wait_eeprom(); !s) return s;
    if (Status s = read_mac(); !s) return s;
    for (unsigned i = 0; i < 128; i++) r_.set(MTA[i], 0); // no multicast groups (14.4)
    if (Status s = setup_link(); !s) return s;
    link_up_at_open_ = link_status().up;
    (void)stats(); // the counters start from zero
    stats_ = {};
    if (Status s = setup_rings(opts); !s) return s;
    return setup_interrupts();
}

// Every interrupt cause masked: IMC (13.4.21), and EIMC (82576 8.8) where
// the extended causes exist.
void E1000Adapter::mask_interrupts() noexcept {
    r_.set(IMC, ~0u);
    if (t_->ext_irq) r_.set(EIMC, ~0u);
}

// Before CTRL.RST: interrupts masked, receive and transmit off, and on the
// PCIe parts the master disable flow (CTRL.GIO_MASTER_DISABLE until
// STATUS.GIO_MASTER_ENABLE clears: no DMA request outstanding, so none can
// hang the bus across the reset; [L] e1000_disable_pcie_master), then 10 ms
// for transactions in flight ([L] e1000_reset_hw*). A master enable that
// does not clear in time is reset anyway. CTRL.RST resets everything but PCI
// config space and clears itself (13.4.1); no register access right after.
Status E1000Adapter::reset_device() noexcept {
    return drivers::reset_after_master_disable(r_, {.quiesce = t_->quiesce,
                                                    .ctrl = CTRL,
                                                    .status = STATUS,
                                                    .master_disable = t_->master_disable ? CTRL_GIO_MASTER_DISABLE : 0,
                                                    .master_enable = STATUS_GIO_MASTER_ENABLE,
                                                    .reset = CTRL_RST,
                                                    .settle = std::chrono::milliseconds(10),
                                                    .resets_when_busy = 1,
                                                    .timeout = opt_.reset_timeout});
}

Status E1000Adapter::reset_hw() {
    if (Status s = reset_device(); !s) return s;
    mask_interrupts();
    (void)r_.get(ICR); // clear pending causes
    return {};
}

Status E1000Adapter::wait_eeprom() {
    // The 82540/82545 load the EEPROM during reset and have no done bit; the
    // 82574 and 82576 report it in EEC.AUTO_RD (82574 10.2.2.4, 82576 8.4.1).
    // The load also sets RAH0.AV from the EEPROM's MAC: some 82576
    // implementations (QEMU's igb) show that but never AUTO_RD, so either
    // sign ends the wait.
    if (!t_->eerd_new) { // 8254x: no done bit: the reload takes a few ms ([L] e1000_reset_hw)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return {};
    }
    const auto deadline = std::chrono::steady_clock::now() + opt_.eeprom_timeout;
    auto pause = std::chrono::microseconds(1);
    while (std::chrono::steady_clock::now() < deadline) {
        if ((r_.get(EECD) & EECD_AUTO_RD) || (r_.get(RAH[0]) & RAH_AV)) return {};
        std::this_thread::sleep_for(pause);
        pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(5));
    }
    return make_error(ETIMEDOUT, fmt::format("{}: timed out after {} ms waiting for the EEPROM auto-read to finish "
                                             "(EECD bit AUTO_RD {:#x} and RAH[0] bit AV clear; EECD {:#010x})",
                                             dev_->describe(), opt_.eeprom_timeout.count(), EECD_AUTO_RD,
                                             r_.get(EECD)));
}

Result<std::uint16_t> E1000Adapter::read_eeprom(std::uint16_t word) {
    const bool old = !t_->eerd_new;
    const std::uint32_t done = old ? EERD_DONE_8254X : EERD_DONE_NEW;
    r_.set(EERD, EERD_START | (std::uint32_t(word) << (old ? EERD_ADDR_SHIFT_8254X : EERD_ADDR_SHIFT_NEW)));
    if (Status s = r_.wait_set(EERD, done, opt_.eeprom_timeout, fmt::format("EEPROM word {} to be read", word)); !s)
        return std::move(s).error();
    return std::uint16_t(r_.get(EERD) >> EERD_DATA_SHIFT);
}

Status E1000Adapter::read_mac() {
    // The device loads RAL0/RAH0 from the EEPROM; read the EEPROM only when
    // that did not happen (RAH0.AV clear).
    std::uint32_t lo = r_.get(RAL[0]), hi = r_.get(RAH[0]);
    if (!(hi & RAH_AV)) {
        std::uint16_t w[3];
        for (std::uint16_t i = 0; i < 3; i++) {
            auto v = read_eeprom(i);
            if (!v) return std::move(v).error();
            w[i] = v.value();
        }
        lo = w[0] | std::uint32_t(w[1]) << 16;
        hi = w[2] | RAH_AV;
        r_.set(RAL[0], lo);
        r_.set(RAH[0], hi);
    }
    for (int i = 0; i < 4; i++) mac_[i] = std::uint8_t(lo >> (8 * i));
    mac_[4] = std::uint8_t(hi);
    mac_[5] = std::uint8_t(hi >> 8);
    if ((mac_[0] & 1) || mac_ == std::array<std::uint8_t, 6>{})
        return make_error(EIO, fmt::format("{}: the EEPROM holds no valid MAC address ({}); the NIC's EEPROM needs "
                                           "reprogramming",
                                           name(), mac_str(mac_)));
    return {};
}

Status E1000Adapter::setup_link() {
    // Copper with auto-negotiation: set link up, let the MAC follow the PHY's
    // speed (ASDE), no link or PHY reset (14.5.x, 82576 3.5).
    r_.set(CTRL, (r_.get(CTRL) | CTRL_SLU | CTRL_ASDE) & ~(CTRL_LRST | CTRL_PHY_RST));
    if (opt_.link_timeout.count() == 0) return {};
    // A PHY that has not negotiated since the reset (QEMU's igb starts none
    // by itself) is asked to: BMCR auto-negotiation enable + restart.
    if (!wait_link(std::chrono::milliseconds(20)).ok()) {
        auto bmcr = read_phy(PHY_BMCR);
        if (!bmcr) return std::move(bmcr).error();
        if (Status s = write_phy(PHY_BMCR, bmcr.value() | BMCR_AN_ENABLE | BMCR_RESTART_AN); !s) return s;
    }
    Status s = wait_link(opt_.link_timeout);
    if (!s && !opt_.require_link) return {};
    return s;
}

Result<std::uint16_t> E1000Adapter::read_phy(unsigned reg) {
    r_.set(MDIC, MDIC_OP_READ | (PHY_ADDR << MDIC_PHY_SHIFT) | (reg << MDIC_REG_SHIFT));
    if (Status s = r_.wait_set(MDIC, MDIC_READY, opt_.eeprom_timeout, fmt::format("PHY register {} to be read", reg));
        !s)
        return std::move(s).error();
    std::uint32_t v = r_.get(MDIC);
    if (v & MDIC_ERROR)
        return make_error(EIO, fmt::format("{}: the PHY did not answer a read of register {} (MDIC {:#010x})",
                                           dev_->describe(), reg, v));
    return std::uint16_t(v);
}

Status E1000Adapter::write_phy(unsigned reg, std::uint16_t value) {
    r_.set(MDIC, MDIC_OP_WRITE | (PHY_ADDR << MDIC_PHY_SHIFT) | (reg << MDIC_REG_SHIFT) | value);
    if (Status s = r_.wait_set(MDIC, MDIC_READY, opt_.eeprom_timeout, fmt::format("PHY register {} to be written", reg));
        !s)
        return s;
    if (r_.get(MDIC) & MDIC_ERROR)
        return make_error(EIO, fmt::format("{}: the PHY refused a write of register {}", dev_->describe(), reg));
    return {};
}

Status E1000Adapter::wait_link(std::chrono::milliseconds timeout) const {
    return r_.wait_set(STATUS, STATUS_LU, timeout,
                       "the link to come up (check the cable and the link partner, or open with a longer "
                       "link timeout)");
}

LinkStatus E1000Adapter::link_status() const noexcept {
    std::uint32_t s = r_.get(STATUS);
    LinkStatus l;
    if (r_.gone() || (s == 0xffffffffu && !r_.present())) return l; // removed: down (and the port says so)
    l.up = s & STATUS_LU;
    if (!l.up) return l;
    l.full_duplex = s & STATUS_FD;
    switch ((s & STATUS_SPEED_MASK) >> STATUS_SPEED_SHIFT) {
    case 0: l.speed_mbps = 10; break;
    case 1: l.speed_mbps = 100; break;
    default: l.speed_mbps = 1000; break;
    }
    return l;
}

const HwStats& E1000Adapter::stats() {
    if (!r_.present()) return stats_; // all-ones is no count
    HwStats before = stats_;
    r_.accumulate(stat_regs, stats_, ~0u);
    if (num_rings(Direction::rx) == 0) return stats_;
    // drops into the rings: per queue where the chip counts them (82576
    // RQDPC, with SRRCTL.DROP_EN), else all on ring 0
    std::uint64_t missed = stats_.rx_missed - before.rx_missed;
    if (t_->per_queue_drops)
        for (std::uint32_t q = 0; q < num_rings(Direction::rx); q++) {
            std::uint64_t d = r_.get(rxq(q, Q_RQDPC, "RQDPC"));
            RingCounters::add(kring(Direction::rx, q).stats.drops, d);
        }
    RingCounters::add(kring(Direction::rx, 0).stats.drops, missed);
    return stats_;
}

void E1000Adapter::set_promiscuous(bool on) noexcept {
    rctl_ = on ? rctl_ | RCTL_UPE | RCTL_MPE : rctl_ & ~(RCTL_UPE | RCTL_MPE);
    r_.set(RCTL, rctl_ | (running_ ? RCTL_EN : 0));
}

void E1000Adapter::set_all_multicast(bool on) noexcept {
    rctl_ = on ? rctl_ | RCTL_MPE : rctl_ & ~RCTL_MPE;
    r_.set(RCTL, rctl_ | (running_ ? RCTL_EN : 0));
}

void E1000Adapter::set_broadcast(bool on) noexcept {
    rctl_ = on ? rctl_ | RCTL_BAM : rctl_ & ~RCTL_BAM;
    r_.set(RCTL, rctl_ | (running_ ? RCTL_EN : 0));
}

void E1000Adapter::add_multicast(const std::array<std::uint8_t, 6>& g) noexcept {
    // RCTL.MO = 00: the hash is address bits 47:36 (13.4.22, 13.5.1)
    std::uint32_t h = ((g[4] >> 4) | (std::uint32_t(g[5]) << 4)) & 0xfff;
    r_.set_flags(MTA[h >> 5], 1u << (h & 31));
}

// -- memory: one region for rings, descriptors and buffers; one DMA mapping
// of the descriptors and buffers (the rings stay out of the device's reach)

Status E1000Adapter::setup_rings(const PortOptions& o) {
    nq_ = std::max<std::uint32_t>(1, std::min(o.rings, t_->max_queues));
    if (o.rings > t_->max_queues)
        return make_error(EINVAL, fmt::format("{}: {} ring pairs requested; the {} has at most {}", name(), o.rings,
                                              chip_->name, t_->max_queues));
    for (std::uint32_t n : {o.tx_slots, o.rx_slots})
        if (n < 8 || n > max_slots || n % 8)
            return make_error(EINVAL, fmt::format("{}: rings of {} slots; e1000 rings need a multiple of 8 between 8 "
                                                  "and {} (descriptor rings are multiples of 128 bytes)",
                                                  name(), n, max_slots));
    const std::uint32_t bsz = o.memory.buf_size;
    if (bsz < t_->min_buf)
        return make_error(EINVAL, fmt::format("{}: {}-byte buffers are too small for the {} (at least {})", name(), bsz,
                                              chip_->name, t_->min_buf));

    RingConfig rc{nq_, nq_, o.tx_slots, o.rx_slots};
    auto mem = drivers::create_nic_region(name(), rc, o, *dev_);
    if (!mem) return std::move(mem).error();
    if (Status s = create_rings(mem.value(), rc); !s) return s;

    txq_.assign(nq_, {});
    rxq_.assign(nq_, {});
    tx_text_.assign(nq_, {});
    for (std::uint32_t q = 0; q < nq_; q++) {
        for (auto [hq, slots, tail] : {std::tuple{&txq_[q], o.tx_slots, txq(q, Q_T, "TDT")},
                                       std::tuple{&rxq_[q], o.rx_slots, rxq(q, Q_T, "RDT")}}) {
            Status s = drivers::setup_hw_queue(*hq, memory(), *dev_, slots, tail.offset, q, opt_.tx_hang_timeout);
            if (!s) return s;
        }
        kring(Direction::tx, q).priv = &txq_[q];
        kring(Direction::rx, q).priv = &rxq_[q];
        // a tx waiter wakes to sync (and so to check for a hang) twice per timeout
        kring(Direction::tx, q).max_sleep_ns = txq_[q].hang_timeout_ns / 2;
    }
    if (Status s = dev_->dma_map(memory()); !s) return s;
    mapped_ = true;
    // a contiguous mapping: the data path computes buffer addresses
    iova_ = drivers::buf_iova_of(memory());
    // rx buffer size: RCTL.BSIZE for legacy descriptors (13.4.22), SRRCTL for advanced
    rctl_ = RCTL_BAM | RCTL_SECRC | RCTL_RDMTS_HALF;
    if (!t_->adv_desc) {
        std::uint32_t code = bsz >= 2048 ? 0 : bsz >= 1024 ? 1 : bsz >= 512 ? 2 : 3;
        rctl_ |= code << RCTL_BSIZE_SHIFT;
    }
    return {};
}

void E1000Adapter::setup_rss() {
    // 82576 7.1.2.8: hash IPv4/IPv6 (+TCP/UDP) headers, spread over nq_ queues
    static constexpr std::uint32_t key[10] = {0xda565a6d, 0xc20e5b25, 0x3d256741, 0xb08fa343, 0xcb2bcad0,
                                              0xb4307bae, 0xa32dcb77, 0x0cf23080, 0x3bb7426a, 0xfa01acbe};
    for (unsigned i = 0; i < 10; i++) r_.set(RSSRK[i], key[i]);
    for (unsigned i = 0; i < 32; i++) {
        std::uint32_t v = 0;
        for (unsigned j = 0; j < 4; j++) v |= ((4 * i + j) % nq_) << (8 * j);
        r_.set(RETA[i], v);
    }
    r_.set_flags(RXCSUM, RXCSUM_PCSD);
    r_.set(MRQC, MRQC_RSS | MRQC_RSS_FIELDS);
}

// -- start and stop (register_port)

Status E1000Adapter::start() {
    const std::uint32_t bsz = memory().buf_size();
    for (std::uint32_t q = 0; q < nq_; q++) {
        KRing& rk = kring(Direction::rx, q);
        KRing& tk = kring(Direction::tx, q);
        drivers::restart_empty(rk);
        drivers::restart_empty(tk);
        drivers::HwQueue& rq = rxq_[q];
        drivers::HwQueue& tq = txq_[q];
        tq.stall_since_ns = 0;
        tq.hung = tq.mid_packet = false;

        // receive queue (14.4 / 82576 4.5.9). The 82576 comes out of reset
        // with queue 0 enabled, and a queue's base, length and head are
        // programmed only while it is disabled ([L] igb_configure_*_ring)
        if (Status s = set_queue_enable(rxq(q, Q_DCTL, "RXDCTL"), false, "rx queue disable"); !s) return s;
        Iova rb = memory().iova(rq.desc);
        r_.set(rxq(q, 0, "RDBAL"), std::uint32_t(rb.value));
        r_.set(rxq(q, Q_BAH, "RDBAH"), std::uint32_t(rb.value >> 32));
        r_.set(rxq(q, Q_LEN, "RDLEN"), rk.num_slots * 16);
        r_.set(rxq(q, Q_H, "RDH"), 0);
        r_.set(rxq(q, Q_T, "RDT"), 0);
        if (t_->adv_desc) // buffer size and descriptor type per queue (82576 8.10.2); legacy: RCTL.BSIZE
            r_.set(rxq(q, Q_SRRCTL, "SRRCTL"),
                   ((bsz >> drivers::adv::SRRCTL_BSIZEPKT_SHIFT) & drivers::adv::SRRCTL_BSIZEPKT_MASK) |
                       drivers::adv::SRRCTL_DESCTYPE_ADV_ONEBUF | (nq_ > 1 ? drivers::adv::SRRCTL_DROP_EN : 0));
        if (t_->adv_desc) drivers::rx_arm_all<drivers::adv::Format>(rk, rq);
        else drivers::rx_arm_all<LegacyFormat>(rk, rq);
        if (Status s = set_queue_enable(rxq(q, Q_DCTL, "RXDCTL"), true, "rx queue enable"); !s) return s;
        std::atomic_thread_fence(std::memory_order_release);
        r_.set(rxq(q, Q_T, "RDT"), rk.num_slots - 1); // all but one descriptor to the device

        // transmit queue (14.5 / 82576 4.5.10)
        if (Status s = set_queue_enable(txq(q, Q_DCTL, "TXDCTL"), false, "tx queue disable"); !s) return s;
        Iova tb = memory().iova(tq.desc);
        std::memset(tq.desc, 0, std::size_t(tk.num_slots) * 16);
        r_.set(txq(q, 0, "TDBAL"), std::uint32_t(tb.value));
        r_.set(txq(q, Q_BAH, "TDBAH"), std::uint32_t(tb.value >> 32));
        r_.set(txq(q, Q_LEN, "TDLEN"), tk.num_slots * 16);
        r_.set(txq(q, Q_H, "TDH"), 0);
        r_.set(txq(q, Q_T, "TDT"), 0);
        if (Status s = set_queue_enable(txq(q, Q_DCTL, "TXDCTL"), true, "tx queue enable"); !s) return s;
    }
    if (nq_ > 1) setup_rss(); // more than one queue: 82576/I350
    r_.set(TIPG, TIPG_COPPER);
    r_.set(TCTL, TCTL_EN | TCTL_PSP | (0x0fu << TCTL_CT_SHIFT) | (0x3fu << TCTL_COLD_SHIFT));
    r_.set(RCTL, rctl_ | RCTL_EN);
    running_ = true;
    return {};
}

// RXDCTL/TXDCTL.ENABLE and the wait until it reads back (82576 4.5.9,
// 4.5.10); the 8254x and 82574 queues have no enable bit: nothing to do.
Status E1000Adapter::set_queue_enable(const Reg& dctl, bool on, const char* what) noexcept {
    if (!t_->queue_enable) return {};
    if (on) {
        r_.set_flags(dctl, XDCTL_ENABLE);
        return r_.wait_set(dctl, XDCTL_ENABLE, opt_.queue_timeout, what);
    }
    r_.clear_flags(dctl, XDCTL_ENABLE);
    return r_.wait_clear(dctl, XDCTL_ENABLE, opt_.queue_timeout, what);
}

void E1000Adapter::stop() noexcept {
    if (!running_) return;
    r_.set(RCTL, rctl_);
    r_.clear_flags(TCTL, TCTL_EN);
    for (std::uint32_t q = 0; q < nq_; q++) {
        (void)set_queue_enable(rxq(q, Q_DCTL, "RXDCTL"), false, "rx queue disable");
        (void)set_queue_enable(txq(q, Q_DCTL, "TXDCTL"), false, "tx queue disable");
    }
    running_ = false;
}

Status E1000Adapter::register_port(bool on) {
    if (on) return start();
    stop();
    return {};
}

// Teardown: stop DMA for sure (a reset) before the memory goes away.
void E1000Adapter::quiesce() noexcept {
    stop();
    (void)reset_device();
    if (!irq_fds_.empty()) dev_->disable_interrupts();
    irq_fds_.clear();
    (void)dev_->set_bus_master(false);
    if (mapped_) (void)dev_->dma_unmap(memory());
    mapped_ = false;
    for (auto* v : {&txq_, &rxq_})
        for (drivers::HwQueue& q : *v)
            if (q.desc) memory().free_object(q.desc);
    txq_.clear();
    rxq_.clear();
}

// The hang, in words and registers, short enough for Port::last_error().
// Runs on the ring owner's error path (explain) and on the control path
// (tx_hang_report), each with its own buffer: no allocation.
const char* E1000Adapter::describe_hang(drivers::RingText& out, const KRing& k) const noexcept {
    const char* link = (r_.get(STATUS) & STATUS_LU) ? "link up"
                       : link_up_at_open_          ? "link down: nothing is sent without a link"
                                                   : "link down since open: nothing is sent without a link";
    return out.tx_hang(k, opt_.tx_hang_timeout, "TDH=%u TDT=%u TCTL=%#x; %s", r_.get(txq(k.ring_id, Q_H, "TDH")),
                       r_.get(txq(k.ring_id, Q_T, "TDT")), r_.get(TCTL), link);
}

// A TX hang txsync found (descriptors in flight, none completed for
// tx_hang_timeout): first the report, with the registers as the hang left
// them, into the ring's text; then, with the link up, the recovery. Linux's
// e1000e and igb reset the whole adapter for a hang (their reset tasks); one
// queue is enough here and leaves the other rings, which other threads may
// own, alone: the queue disabled (82576/I350: TXDCTL.ENABLE cleared and
// read back clear; 8254x/82574, whose one queue has no enable bit:
// TCTL.EN cleared), TDH = TDT = the descriptor after the last one written
// (head and tail only while the queue is disabled), enabled again. The
// frames in flight are lost (drivers::tx_abandon counts them). Without a
// link nothing is reset: the frames wait for it, and every sync reports the
// hang meanwhile. Rare and on the ring owner's thread: its waits are
// bounded by queue_timeout.
int E1000Adapter::recover_tx(KRing& k, drivers::HwQueue& q) noexcept {
    drivers::RingText& text = tx_text_[k.ring_id];
    describe_hang(text, k);
    if (!link_status().up) return -ETIMEDOUT;
    const std::uint32_t cur = k.nr_hwcur.load(std::memory_order_relaxed);
    const drivers::Reg dctl = txq(q.index, Q_DCTL, "TXDCTL");
    Status s = t_->queue_enable ? set_queue_enable(dctl, false, "the hung tx queue to stop") : Status{};
    if (!t_->queue_enable) r_.clear_flags(TCTL, TCTL_EN);
    if (s) {
        r_.set(txq(q.index, Q_H, "TDH"), cur);
        r_.set(txq(q.index, Q_T, "TDT"), cur);
        if (t_->queue_enable) s = set_queue_enable(dctl, true, "the reset tx queue to be enabled");
        else r_.set_flags(TCTL, TCTL_EN);
    }
    if (!s) {
        text.append("; the queue reset failed: %s", s.error().message.c_str());
        return r_.present() ? -EIO : -ENODEV;
    }
    const std::uint32_t lost = drivers::tx_abandon(k, q);
    text.append("; queue reset, %u frames lost", lost);
    return -ETIMEDOUT;
}

const char* E1000Adapter::explain(const KRing& k, int rc) const noexcept {
    if (rc == -ENODEV && r_.gone()) return drivers::removed_text;
    if (k.dir == Direction::tx && (rc == -ETIMEDOUT || rc == -EIO) && k.ring_id < tx_text_.size())
        return tx_text_[k.ring_id].c_str(); // written by recover_tx
    return Adapter::explain(k, rc);
}

std::string E1000Adapter::tx_hang_report(std::uint32_t ring) const {
    drivers::RingText t;
    const char* last = ring < tx_text_.size() ? tx_text_[ring].c_str() : "";
    const char* why = *last ? last : describe_hang(t, kring(Direction::tx, ring));
    return fmt::format("{}: tx ring {}: {}{}", name(), ring, why,
                       link_status().up ? "" : " (check the cable and the link partner)");
}

// -- factories

Result<std::shared_ptr<E1000Adapter>> make_adapter(std::unique_ptr<Device> dev, const PortOptions& opts,
                                                   const DriverOptions& dopts) {
    auto chip = drivers::supported_chip(chips, *dev, "an e1000-family NIC", "82540EM, 82545EM, 82574L, 82576, I350",
                                        &why_not);
    if (!chip) return std::move(chip).error();
    std::string name = "e1000:" + dev->address().str();
    std::shared_ptr<E1000Adapter> a(new E1000Adapter(name, std::move(dev), *chip.value(), dopts));
    if (Status s = a->init(opts); !s) return std::move(s).error();
    return a;
}

const PortType& port_type() {
    static const PortType t = Factory::port_type("e1000", "8254x / 82574L / 82576 / I350 NIC bound to vfio-pci");
    return t;
}

} // namespace upio::e1000
