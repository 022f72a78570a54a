// The ixgbe control path: identification, the 82599 initialisation sequence
// (datasheet 4.6), memory, start/stop, statistics, filters and the port-type
// factory.
#include "drivers/ixgbe/ixgbe.hpp"
#include "drivers/ixgbe/ixgbe_regs.hpp"

#include "drivers/common/factory.hpp"
#include "drivers/common/adv_desc.hpp"

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <mutex>
#include <thread>

namespace upio::ixgbe {
namespace {

constexpr ChipInfo chips[] = {
    {0x10F7, Family::i82599, "82599 (KX4)"},
    {0x10F8, Family::i82599, "82599 (combined backplane)"},
    {0x10F9, Family::i82599, "82599 (CX4)"},
    {0x10FB, Family::i82599, "82599ES (SFP+, X520)"},
    {0x10FC, Family::i82599, "82599 (XAUI/BX4)"},
    {0x1507, Family::i82599, "82599 (SFP+, EM)"},
    {0x1514, Family::i82599, "82599 (KX4 mezzanine)"},
    {0x1517, Family::i82599, "82599 (KR)"},
    {0x151C, Family::i82599, "82599 (10GBASE-T, X520-T)"},
    {0x1529, Family::i82599, "82599 (SFP+, FCoE)"},
    {0x152A, Family::i82599, "82599 (backplane, FCoE)"},
    {0x154D, Family::i82599, "82599 (SFP+, X520-QDA)"},
    {0x154A, Family::i82599, "82599 (X520-4)"},
    {0x1557, Family::i82599, "82599EN (SFP+, X520-DA1)"},
    {0x1558, Family::i82599, "82599 (QSFP+)"},
    {0x1528, Family::x540, "X540-T2"},
    {0x1560, Family::x540, "X540-T1"},
    {0x1563, Family::x550, "X550-T2"},
    {0x15D1, Family::x550, "X550-T1"},
    {0x15AA, Family::x550em_x, "X550EM_x (KX4)"},
    {0x15AB, Family::x550em_x, "X550EM_x (KR)"},
    {0x15AC, Family::x550em_x, "X550EM_x (SFP)"},
    {0x15AD, Family::x550em_x, "X550EM_x (10GBASE-T)"},
    {0x15AE, Family::x550em_x, "X550EM_x (1GBASE-T)"},
    {0x15C8, Family::x550em_a, "X550EM_a (10GBASE-T)"},
    {0x15CE, Family::x550em_a, "X550EM_a (SFP)"},
};

// What the driver does differently per MAC (see ixgbe_regs.hpp).
struct MacTraits {
    bool autoc_link;            // 82599: restart MAC autonegotiation (AUTOC); else the PHY's firmware does
    bool nbase_t;               // LINKS bit 27 marks 2.5 / 5 Gb/s
    unsigned table_entries;     // RETA (+ ERETA)
    unsigned rss_queues;        // queues a RETA entry can name
    std::uint32_t rx_pb_kib;    // receive packet buffer (RXPBSIZE total)
};
constexpr MacTraits traits_82599{true, false, reta_entries, rss_max_queues, 512};
constexpr MacTraits traits_x540{false, false, reta_entries, rss_max_queues, 384};
constexpr MacTraits traits_x550{false, true, reta_entries_x550, rss_max_queues_x550, 384};

const MacTraits& traits(Family f) noexcept {
    switch (f) {
    case Family::x540: return traits_x540;
    case Family::x550: return traits_x550;
    default: return traits_82599;
    }
}

// The transmit packet buffer: 160 KiB to PB0; TXPBTHRESH keeps room for the
// largest frame, 10 KiB (max_frame_jumbo rounded up; [L] IXGBE_TXPKT_SIZE_MAX).
constexpr std::uint32_t tx_pb_kib = 0xA0, tx_max_frame_kib = 10;
static_assert(max_frame_jumbo <= tx_max_frame_kib << 10);

// RDLEN/TDLEN: "validated lengths up to 128 K (8 K descriptors)" (8.2.3.8.3)
constexpr std::uint32_t min_slots = 8, max_slots = 8192;

// Statistics registers and where they accumulate (8.2.3.23). A 36-bit octet
// counter is read low first, then high.
using StatReg = drivers::StatReg<HwStats>;
constexpr Reg none{0, ""}; // a 32-bit counter's high half
constexpr StatReg stat_regs[] = {
    {GPRC, none, &HwStats::rx_packets},      {GORCL, GORCH, &HwStats::rx_bytes},
    {BPRC, none, &HwStats::rx_broadcast},    {MPRC, none, &HwStats::rx_multicast},
    {CRCERRS, none, &HwStats::rx_crc_errors}, {RLEC, none, &HwStats::rx_length_errors},
    {RUC, none, &HwStats::rx_undersize},     {ROC, none, &HwStats::rx_oversize},
    {TPR, none, &HwStats::rx_total},         {GPTC, none, &HwStats::tx_packets},
    {GOTCL, GOTCH, &HwStats::tx_bytes},      {TPT, none, &HwStats::tx_total},
};


std::string mac_str(const std::array<std::uint8_t, 6>& m) {
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

} // namespace

const char* unsupported_reason(Family f) noexcept {
    switch (f) {
    case Family::x550em_x:
        return "not supported yet: X550EM_x (SoC MAC): its KR/KX4/SFP/external-PHY link is configured through the "
               "IOSF sideband and MDIO, which this driver does not implement; bind the port to the kernel's ixgbe "
               "driver instead";
    case Family::x550em_a:
        return "not supported yet: X550EM_a (SoC MAC): its link is configured through firmware (ACI) commands and "
               "its NVM registers moved (EEC at 0x15FF8), which this driver does not implement; bind the port to "
               "the kernel's ixgbe driver instead";
    default: return nullptr;
    }
}

const ChipInfo* find_chip(std::uint16_t vendor_id, std::uint16_t device_id) noexcept {
    return drivers::find_intel_chip(chips, vendor_id, device_id);
}

namespace {
const char* why_not(const ChipInfo& c) { return unsupported_reason(c.family); }
} // namespace

IxgbeAdapter::IxgbeAdapter(std::string name, std::unique_ptr<Device> dev, const ChipInfo& chip,
                           const DriverOptions& o)
    : Adapter(std::move(name)), dev_(std::move(dev)), r_(*dev_), chip_(&chip), opt_(o) {
    r_.set_on_removed([this] { drivers::wake_all(*this); }); // every waiter wakes to ENODEV
}

IxgbeAdapter::~IxgbeAdapter() { quiesce(); }

// -- initialisation: 82599 datasheet 4.6.3 (general), 4.6.4 (link), 4.6.5
// (statistics), 4.6.7 (receive), 4.6.8 (transmit)

Status IxgbeAdapter::init(const PortOptions& opts) {
    if (opt_.max_frame < 64 || opt_.max_frame > max_frame_jumbo)
        return make_error(EINVAL, fmt::format("{}: a maximum frame of {} bytes; the driver supports 64 to {}", name(),
                                              opt_.max_frame, max_frame_jumbo));
    if (Status s = dev_->set_bus_master(true); !s) return s;
    if (Status s = reset_hw(); !s) return s;
    // 4.6.3: wait for the EEPROM auto-read, then for the DMA initialisation
    if (Status s = r_.wait_set(EEC, EEC_AUTO_RD, opt_.eeprom_timeout, "the EEPROM auto-read to complete"); !s)
        return s;
    if (Status s = r_.wait_set(RDRXCTL, RDRXCTL_DMAIDONE, opt_.dma_init_timeout, "DMA initialisation to complete");
        !s)
        return s;
    if (Status s = read_mac(); !s) return s;
    if (Status s = setup_link(); !s) return s;
    // 4.6.5: the statistics registers clear on read; start from zero
    (void)stats();
    stats_ = {};
    if (Status s = setup_memory(opts); !s) return s;
    init_rx();
    init_tx();
    return setup_interrupts();
}

// 4.6.3.1: every interrupt cause masked (EIMC, and the queue vectors in
// EIMC_EX).
constexpr drivers::RegWrite mask_all[] = {{EIMC, 0x7fffffff}, {EIMC_EX[0], ~0u}, {EIMC_EX[1], ~0u}};

void IxgbeAdapter::mask_interrupts() noexcept { drivers::write_all(r_, mask_all); }

// Interrupts masked (4.6.3.1), then the reset `bits` of CTRL (self-clearing;
// no register access is meaningful for a while after them, 8.2.3.1.1). The
// reset comes after the master disable flow (4.2.1.6.1, 5.2.5.3.2):
// CTRL.PCIE_MASTER_DISABLE, then STATUS.GIO clear, i.e. no DMA request of the
// device's is still outstanding. When it does not clear in time the 82599
// specification update recommends two consecutive resets.
Status IxgbeAdapter::reset_device(std::uint32_t bits) noexcept {
    return drivers::reset_after_master_disable(r_, {.quiesce = mask_all,
                                                    .ctrl = CTRL,
                                                    .status = STATUS,
                                                    .master_disable = CTRL_PCIE_MASTER_DISABLE,
                                                    .master_enable = STATUS_GIO,
                                                    .reset = bits,
                                                    .settle = std::chrono::milliseconds(0),
                                                    .resets_when_busy = 2,
                                                    .timeout = opt_.reset_timeout});
}

Status IxgbeAdapter::reset_hw() {
    // 4.6.3.2: global reset (device and link); the initialisation goes on no
    // sooner than 10 ms after it
    if (Status s = reset_device(CTRL_RST_MASK); !s) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    // 4.6.3.1 again: the reset re-enables nothing, but be explicit
    mask_interrupts();
    (void)r_.get(EICR);
    return {};
}

Status IxgbeAdapter::read_mac() {
    // The EEPROM auto-read loads the station address into RAL0/RAH0 (8.2.3.7.9).
    const std::uint32_t lo = r_.get(RAL[0]), hi = r_.get(RAH[0]);
    for (int i = 0; i < 4; i++) mac_[i] = std::uint8_t(lo >> (8 * i));
    mac_[4] = std::uint8_t(hi);
    mac_[5] = std::uint8_t(hi >> 8);
    if (!(hi & RAH_AV) || (mac_[0] & 1) || mac_ == std::array<std::uint8_t, 6>{})
        return make_error(EIO, fmt::format("{}: no valid MAC address in RAL0/RAH0 after the EEPROM auto-read ({}, "
                                           "RAH0 {:#010x}); the NIC's EEPROM needs reprogramming",
                                           name(), mac_str(mac_), hi));
    return {};
}

Status IxgbeAdapter::setup_link() {
    // 82599, 4.6.4: keep the link mode the EEPROM put in AUTOC.LMS (SFP+, KR,
    // KX4, 10GBASE-T differ per board) and restart autonegotiation.
    // X540, X550: the internal copper PHY autonegotiates on its own (its
    // firmware runs it from reset with the NVM's advertisement); the MAC
    // follows it and AUTOC is not the link control. Only LINKS is read.
    if (traits(chip_->family).autoc_link) r_.set(AUTOC, r_.get(AUTOC) | AUTOC_RESTART_AN);
    if (opt_.link_timeout.count() == 0) return {};
    Status s = wait_link(opt_.link_timeout);
    if (!s && !opt_.require_link) return {};
    return s;
}

Status IxgbeAdapter::wait_link(std::chrono::milliseconds timeout) const {
    return r_.wait_set(LINKS, LINKS_LINK_UP, timeout,
                       "the link to come up (check the cable or module and the link partner, or open with a longer "
                       "link timeout)");
}

LinkStatus IxgbeAdapter::link_status() const noexcept {
    const std::uint32_t v = r_.get(LINKS);
    LinkStatus l;
    if (r_.gone() || (v == 0xffffffffu && !r_.present())) return l; // removed: down (and the port says so)
    l.up = v & LINKS_LINK_UP;
    if (!l.up) return l;
    const bool nbase_t = traits(chip_->family).nbase_t && (v & LINKS_SPEED_NON_STD);
    switch (v & LINKS_SPEED_MASK) {
    case LINKS_SPEED_100M: l.speed_mbps = nbase_t ? 5000 : 100; break;
    case LINKS_SPEED_1G: l.speed_mbps = 1000; break;
    default: l.speed_mbps = nbase_t ? 2500 : 10000; break;
    }
    return l;
}

const HwStats& IxgbeAdapter::stats() {
    if (!r_.present()) return stats_; // all-ones is no count
    r_.accumulate(stat_regs, stats_, 0xf); // 36-bit octet counters
    std::uint64_t missed = 0;
    for (unsigned i = 0; i < 8; i++) missed += r_.get(MPC[i]);
    stats_.rx_missed += missed;
    // The rings' owners count their queue's drops (QPRDC, in rxsync); what
    // they have not collected yet (a ring not synced since) is added here.
    // QPRDC clears on read and both sides add atomically: each drop once.
    // MPC (the packet buffer overflowed: DMA could not keep up) is no ring's.
    for (std::uint32_t q = 0; q < rxq_.size(); q++)
        if (rxq_[q].drop_reg)
            if (const std::uint32_t n = r_.get(QPRDC[q]))
                kring(Direction::rx, q).stats.drops.fetch_add(n, std::memory_order_relaxed);
    std::uint64_t d = 0;
    for (std::uint32_t q = 0; q < num_rings(Direction::rx); q++)
        d += kring(Direction::rx, q).stats.drops.load(std::memory_order_relaxed);
    stats_.rx_queue_drops = d;
    return stats_;
}

// -- filters (8.2.3.7.1, 8.2.3.7.7)

void IxgbeAdapter::set_promiscuous(bool on) noexcept {
    fctrl_ = on ? fctrl_ | FCTRL_UPE | FCTRL_MPE : fctrl_ & ~(FCTRL_UPE | FCTRL_MPE);
    r_.set(FCTRL, fctrl_);
}

void IxgbeAdapter::set_all_multicast(bool on) noexcept {
    fctrl_ = on ? fctrl_ | FCTRL_MPE : fctrl_ & ~FCTRL_MPE;
    r_.set(FCTRL, fctrl_);
}

void IxgbeAdapter::set_broadcast(bool on) noexcept {
    fctrl_ = on ? fctrl_ | FCTRL_BAM : fctrl_ & ~FCTRL_BAM;
    r_.set(FCTRL, fctrl_);
}

void IxgbeAdapter::add_multicast(const std::array<std::uint8_t, 6>& g) noexcept {
    // MCSTCTRL.MO = 00: the hash is destination address bits 47:36
    const std::uint32_t h = ((g[4] >> 4) | (std::uint32_t(g[5]) << 4)) & 0xfff;
    r_.set_flags(MTA[h >> 5], 1u << (h & 31));
    r_.set(MCSTCTRL, MCSTCTRL_MFE);
}

// -- memory: one region for netmap rings, descriptors and buffers; one DMA
// mapping of its descriptors and buffers (never its rings), so every
// address the device sees is region.iova(...)

Status IxgbeAdapter::setup_memory(const PortOptions& o) {
    if (o.rings > max_queue_pairs)
        return make_error(EINVAL, fmt::format("{}: {} ring pairs requested; the driver supports at most {}", name(),
                                              o.rings, max_queue_pairs));
    nq_ = std::max<std::uint32_t>(1, o.rings);
    for (std::uint32_t n : {o.tx_slots, o.rx_slots})
        if (n < min_slots || n > max_slots || n % 8)
            return make_error(EINVAL, fmt::format("{}: rings of {} slots; ixgbe rings need a multiple of 8 between {} "
                                                  "and {} (descriptor rings are multiples of 128 bytes)",
                                                  name(), n, min_slots, max_slots));
    const std::uint32_t bsz = o.memory.buf_size;
    if (bsz < 1024 || bsz > max_rx_buf_size)
        return make_error(EINVAL, fmt::format("{}: {}-byte buffers; the 82599 receives into 1 KiB to 16 KiB buffers "
                                              "(SRRCTL.BSIZEPACKET); larger frames arrive as NS_MOREFRAG chains",
                                              name(), bsz));

    RingConfig rc{nq_, nq_, o.tx_slots, o.rx_slots};
    auto mem = drivers::create_nic_region(name(), rc, o, *dev_);
    if (!mem) return std::move(mem).error();
    if (Status s = create_rings(mem.value(), rc); !s) return s;

    const std::uint32_t thresh = opt_.tx_reclaim_thresh ? opt_.tx_reclaim_thresh : o.tx_slots / 2;
    txq_.resize(nq_);
    tx_text_.assign(nq_, {});
    rxq_.assign(nq_, {});
    for (std::uint32_t q = 0; q < nq_; q++) {
        for (auto [hq, slots, tail] : {std::tuple{&txq_[q].hw, o.tx_slots, TDT[q]}, std::tuple{&rxq_[q].hw, o.rx_slots, RDT[q]}}) {
            Status s = drivers::setup_hw_queue(*hq, memory(), *dev_, slots, tail.offset, q, opt_.tx_hang_timeout);
            if (!s) return s;
        }
        txq_[q].rs.assign(o.tx_slots, 0);
        txq_[q].reclaim_thresh = std::min(thresh, o.tx_slots - 1);
        kring(Direction::tx, q).priv = &txq_[q];
        kring(Direction::rx, q).priv = &rxq_[q];
        // a tx waiter wakes to sync (and so to check for a hang) twice per timeout
        kring(Direction::tx, q).max_sleep_ns = txq_[q].hw.hang_timeout_ns / 2;
    }
    if (Status s = dev_->dma_map(memory()); !s) return s;
    mapped_ = true;
    // Is the buffer area contiguous in IOVA space? (The data path then
    // computes addresses instead of looking them up.)
    const BufIova bi = drivers::buf_iova_of(memory());
    for (std::uint32_t q = 0; q < nq_; q++) txq_[q].iova = rxq_[q].iova = bi;
    return {};
}

// 4.6.7, the global part: packet buffer, CRC, filters, jumbo frames, RSS.
void IxgbeAdapter::init_rx() {
    r_.clear_flags(RXCTRL, RXCTRL_RXEN); // 4.6.7: receive stays off until every queue is ready
    // one traffic class: the whole packet buffer to PB0 (4.6.11.3.1); 512
    // KiB on the 82599, 384 KiB on the X540 and X550
    r_.set(RXPBSIZE[0], traits(chip_->family).rx_pb_kib << 10);
    for (unsigned i = 1; i < 8; i++) r_.set(RXPBSIZE[i], 0);
    // high water marks "must be set by default regardless if flow control
    // is enabled or not" (4.6.3.2): the packet buffer less 24 KiB
    r_.set(FCRTH[0], (traits(chip_->family).rx_pb_kib << 10) - fcrth_headroom);
    for (unsigned i = 1; i < 8; i++) r_.set(FCRTH[i], 0);
    // strip the CRC: HLREG0 and RDRXCTL must agree (8.2.3.8.8)
    r_.set_flags(HLREG0, HLREG0_RXCRCSTRP);
    std::uint32_t rdrxctl = r_.get(RDRXCTL) | RDRXCTL_CRCSTRIP | RDRXCTL_RSCACKC | RDRXCTL_FCOE_WRFIX;
    r_.set(RDRXCTL, rdrxctl & ~RDRXCTL_RSCFRSTSIZE);
    // jumbo frames (8.2.3.22.8, 8.2.3.22.13)
    if (opt_.max_frame > 1518) r_.set_flags(HLREG0, HLREG0_JUMBOEN);
    else r_.clear_flags(HLREG0, HLREG0_JUMBOEN);
    r_.set(MAXFRS, opt_.max_frame << MAXFRS_MFS_SHIFT);
    // accept broadcast; unicast to RAL0/RAH0 only; no multicast groups yet
    for (unsigned i = 0; i < 128; i++) r_.set(MTA[i], 0);
    fctrl_ = FCTRL_BAM;
    r_.set(FCTRL, fctrl_);
    // no snoop off for descriptor write-backs (4.6.7, ixgbe errata)
    r_.set_flags(CTRL_EXT, CTRL_EXT_NS_DIS | CTRL_EXT_DRV_LOAD);
    // queue q counts into statistics set q % 16 (RQSMR, 8.2.3.23): QPRDC[q]
    // is then ring q's drop counter for the first 16 queues
    for (unsigned i = 0; i < 32; i++) {
        std::uint32_t v = 0;
        for (unsigned j = 0; j < 4; j++)
            if (4 * i + j < nq_) v |= ((4 * i + j) % queue_stat_counters) << (8 * j);
        r_.set(RQSMR[i], v);
    }
    if (nq_ > 1) setup_rss();
    else r_.set(MRQC, 0);
}

// 7.1.2.8: hash IPv4 addresses and TCP/UDP ports, spread over the first
// min(nq, 16) queues through the 128-entry redirection table (82599, X540),
// or over min(nq, 64) through the X550's 512 entries (RETA, then ERETA).
// The key and MRQC are the same on all three.
void IxgbeAdapter::setup_rss() {
    static constexpr std::uint32_t key[10] = {0xda565a6d, 0xc20e5b25, 0x3d256741, 0xb08fa343, 0xcb2bcad0,
                                              0xb4307bae, 0xa32dcb77, 0x0cf23080, 0x3bb7426a, 0xfa01acbe};
    for (unsigned i = 0; i < 10; i++) r_.set(RSSRK[i], key[i]);
    const MacTraits& t = traits(chip_->family);
    const std::uint32_t n = std::min(nq_, t.rss_queues);
    for (unsigned i = 0; i < t.table_entries / 4; i++) {
        std::uint32_t v = 0;
        for (unsigned j = 0; j < 4; j++) v |= ((4 * i + j) % n) << (8 * j);
        r_.set(i < reta_entries / 4 ? RETA[i] : ERETA[i - reta_entries / 4], v);
    }
    r_.set_flags(RXCSUM, RXCSUM_PCSD); // the descriptor carries the hash, not the checksum
    r_.set(MRQC, MRQC_RSS | MRQC_RSS_IPV4 | MRQC_RSS_TCPIPV4 | MRQC_RSS_UDPIPV4 | MRQC_RSS_IPV6 |
                     MRQC_RSS_TCPIPV6 | MRQC_RSS_UDPIPV6);
}

// 4.6.8, the global part.
void IxgbeAdapter::init_tx() {
    r_.set_flags(HLREG0, HLREG0_TXCRCEN | HLREG0_TXPADEN); // the NIC adds the CRC and pads
    // 4.6.8: with the descriptor arbiter off, the packet buffers, their
    // thresholds and MTQC (no DCB, no VT), then the arbiter on again
    r_.set_flags(RTTDCS, RTTDCS_ARBDIS);
    r_.set(DTXMXSZRQ, 0xfff);
    r_.set(TXPBSIZE[0], tx_pb_kib << 10); // all to PB0 (4.6.11.3.1)
    r_.set(TXPBTHRESH[0], tx_pb_kib - tx_max_frame_kib); // room for the largest frame
    for (unsigned i = 1; i < 8; i++) {
        r_.set(TXPBSIZE[i], 0);
        r_.set(TXPBTHRESH[i], 0);
    }
    r_.set(MTQC, 0);
    r_.clear_flags(RTTDCS, RTTDCS_ARBDIS);
}

// -- start and stop (register_port)

Status IxgbeAdapter::start() {
    const std::uint32_t bsz = memory().buf_size();
    // 4.6.8: the transmit DMA before any transmit queue
    r_.set_flags(DMATXCTL, DMATXCTL_TE);
    for (std::uint32_t q = 0; q < nq_; q++) {
        KRing& rk = kring(Direction::rx, q);
        KRing& tk = kring(Direction::tx, q);
        drivers::restart_empty(rk);
        drivers::restart_empty(tk);
        drivers::HwQueue& rq = rxq_[q].hw;
        TxQueue& tq = txq_[q];
        tq.hw.stall_since_ns = 0;
        tq.hw.hung = tq.hw.mid_packet = false;
        tq.rs_head = tq.rs_tail = 0;

        // receive queue (4.6.7): ring, buffer size and descriptor type, then enable
        const Iova rb = memory().iova(rq.desc);
        r_.set(RDBAL[q], std::uint32_t(rb.value));
        r_.set(RDBAH[q], std::uint32_t(rb.value >> 32));
        r_.set(RDLEN[q], rk.num_slots * 16);
        r_.set(RDH[q], 0);
        r_.set(RDT[q], 0);
        // a full queue drops its own frames, counted in its QPRDC, instead
        // of holding them in the shared packet buffer, where they would stall
        // every queue and count only as missed (MPC) once it overflows
        // (SRRCTL.DROP_EN)
        r_.set(SRRCTL[q], ((bsz >> SRRCTL_BSIZEPKT_SHIFT) & SRRCTL_BSIZEPKT_MASK) | SRRCTL_DESCTYPE_ADV_ONEBUF |
                              SRRCTL_DROP_EN);
        r_.clear_flags(DCA_RXCTRL[q], DCA_RXCTRL_RSVD12); // must be 0 (4.6.7)
        // drops for lack of descriptors: this queue's own QPRDC (set q of
        // RQSMR); queues 16+ share sets, ring q % 16 counts them
        rxq_[q].drop_reg = q < queue_stat_counters ? QPRDC[q].offset : 0;
        if (rxq_[q].drop_reg) (void)r_.get(QPRDC[q]); // start from zero
        rxq_[q].path = RxQueue::Path((rxq_[q].iova.linear ? 0 : 2) + (rxq_[q].drop_reg ? 1 : 0));
        drivers::rx_arm_all<drivers::adv::Format>(rk, rq);
        r_.set_flags(RXDCTL[q], XDCTL_ENABLE);
        if (Status s = r_.wait_set(RXDCTL[q], XDCTL_ENABLE, opt_.queue_timeout, "the rx queue to be enabled"); !s)
            return s;
        std::atomic_thread_fence(std::memory_order_release);
        // all descriptors but one to the device: RDT == RDH would mean "none"
        r_.set(RDT[q], rk.num_slots - 1);
        rxq_[q].rdt = rk.num_slots - 1;

        // transmit queue (4.6.8)
        const Iova tb = memory().iova(tq.hw.desc);
        std::memset(tq.hw.desc, 0, std::size_t(tk.num_slots) * 16);
        r_.set(TDBAL[q], std::uint32_t(tb.value));
        r_.set(TDBAH[q], std::uint32_t(tb.value >> 32));
        r_.set(TDLEN[q], tk.num_slots * 16);
        r_.set(TDH[q], 0);
        r_.set(TDT[q], 0);
        // prefetch when fewer than 36 descriptors are cached, in bursts of 8;
        // WTHRESH 0: write DD back as soon as an RS descriptor is done
        r_.set(TXDCTL[q], (36u << TXDCTL_PTHRESH_SHIFT) | (8u << TXDCTL_HTHRESH_SHIFT) | XDCTL_ENABLE);
        if (Status s = r_.wait_set(TXDCTL[q], XDCTL_ENABLE, opt_.queue_timeout, "the tx queue to be enabled"); !s)
            return s;
    }
    // 4.6.7: receive on, last
    if (Status s = set_rx_enable(true); !s) return s;
    running_ = true;
    return {};
}

// 4.6.7: RXCTRL.RXEN changes with the security rx path halted: set
// SECRXCTRL.RX_DIS, wait for SECRXSTAT.SECRX_RDY (the path is empty), write
// RXEN, release the path.
Status IxgbeAdapter::set_rx_enable(bool on) noexcept {
    r_.set_flags(SECRXCTRL, SECRXCTRL_RX_DIS);
    Status s = r_.wait_set(SECRXSTAT, SECRXSTAT_SECRX_RDY, opt_.queue_timeout, "the security rx path to halt");
    if (s) {
        if (on) r_.set_flags(RXCTRL, RXCTRL_RXEN);
        else r_.clear_flags(RXCTRL, RXCTRL_RXEN);
    }
    r_.clear_flags(SECRXCTRL, SECRXCTRL_RX_DIS);
    return s;
}

void IxgbeAdapter::stop() noexcept {
    if (!running_) return;
    if (!set_rx_enable(false)) r_.clear_flags(RXCTRL, RXCTRL_RXEN); // stop receiving in any case
    // 4.6.7.1, 4.6.8.1: a queue is off once its ENABLE bit reads back clear
    for (std::uint32_t q = 0; q < nq_; q++) {
        r_.clear_flags(RXDCTL[q], XDCTL_ENABLE);
        r_.clear_flags(TXDCTL[q], XDCTL_ENABLE);
    }
    for (std::uint32_t q = 0; q < nq_; q++) {
        (void)r_.wait_clear(RXDCTL[q], XDCTL_ENABLE, opt_.queue_timeout, "the rx queue to stop");
        (void)r_.wait_clear(TXDCTL[q], XDCTL_ENABLE, opt_.queue_timeout, "the tx queue to stop");
    }
    r_.clear_flags(DMATXCTL, DMATXCTL_TE);
    running_ = false;
}

Status IxgbeAdapter::register_port(bool on) {
    if (on) return start();
    stop();
    return {};
}

// Teardown: stop DMA for sure (a reset) before the memory goes away.
void IxgbeAdapter::quiesce() noexcept {
    stop();
    (void)reset_device(CTRL_RST);
    if (!irq_fds_.empty()) dev_->disable_interrupts();
    irq_fds_.clear();
    (void)dev_->set_bus_master(false);
    if (mapped_) (void)dev_->dma_unmap(memory());
    mapped_ = false;
    for (TxQueue& q : txq_)
        if (q.hw.desc) memory().free_object(q.hw.desc);
    for (RxQueue& q : rxq_)
        if (q.hw.desc) memory().free_object(q.hw.desc);
    txq_.clear();
    rxq_.clear();
}

// The hang, in words and registers, short enough for Port::last_error().
// Runs on the ring owner's error path (explain) and on the control path
// (tx_hang_report), each with its own buffer: no allocation.
const char* IxgbeAdapter::describe_hang(drivers::RingText& out, const KRing& k) const noexcept {
    const std::uint32_t q = k.ring_id;
    return out.tx_hang(k, opt_.tx_hang_timeout, "TDH=%u TDT=%u TXDCTL=%#x DMATXCTL=%#x; %s", r_.get(TDH[q]),
                       r_.get(TDT[q]), r_.get(TXDCTL[q]), r_.get(DMATXCTL),
                       link_status().up ? "link up" : "link down: nothing is sent without a link");
}

// A TX hang txsync found (descriptors in flight, none completed for
// tx_hang_timeout): first the report, with the registers as the hang left
// them, into the ring's text; then, with the link up, the recovery. Linux's
// ixgbe resets the whole adapter for a hang (ixgbe_tx_timeout_reset); one
// queue is enough here and leaves the other rings, which other threads may
// own, alone: TXDCTL.ENABLE cleared and read back clear (the queue's
// descriptor processing stopped), TDH = TDT = the descriptor after the last
// one written (head and tail only while the queue is disabled, 8.2.3.9.8),
// ENABLE set and read back. The frames in flight are lost
// (drivers::tx_abandon counts them). Without a link nothing is reset: the
// frames wait for it, as Linux's ixgbe holds them until its watchdog sees
// the link come back, and every sync reports the hang meanwhile. Rare and
// on the ring owner's thread: its waits are bounded by queue_timeout.
int IxgbeAdapter::recover_tx(KRing& k, TxQueue& tq) noexcept {
    drivers::RingText& text = tx_text_[k.ring_id];
    describe_hang(text, k);
    if (!link_status().up) return -ETIMEDOUT;
    const std::uint32_t q = tq.hw.index, cur = k.nr_hwcur.load(std::memory_order_relaxed);
    r_.clear_flags(TXDCTL[q], XDCTL_ENABLE);
    Status s = r_.wait_clear(TXDCTL[q], XDCTL_ENABLE, opt_.queue_timeout, "the hung tx queue to stop");
    if (s) {
        r_.set(TDH[q], cur);
        r_.set(TDT[q], cur);
        r_.set_flags(TXDCTL[q], XDCTL_ENABLE);
        s = r_.wait_set(TXDCTL[q], XDCTL_ENABLE, opt_.queue_timeout, "the reset tx queue to be enabled");
    }
    if (!s) {
        text.append("; the queue reset failed: %s", s.error().message.c_str());
        return r_.present() ? -EIO : -ENODEV;
    }
    tq.rs_head = tq.rs_tail;
    const std::uint32_t lost = drivers::tx_abandon(k, tq.hw);
    text.append("; queue reset, %u frames lost", lost);
    return -ETIMEDOUT;
}

const char* IxgbeAdapter::explain(const KRing& k, int rc) const noexcept {
    if (rc == -ENODEV && r_.gone()) return drivers::removed_text;
    if (k.dir == Direction::tx && (rc == -ETIMEDOUT || rc == -EIO) && k.ring_id < tx_text_.size())
        return tx_text_[k.ring_id].c_str(); // written by recover_tx
    return Adapter::explain(k, rc);
}

std::string IxgbeAdapter::tx_hang_report(std::uint32_t ring) const {
    drivers::RingText t;
    const char* last = ring < tx_text_.size() ? tx_text_[ring].c_str() : "";
    return fmt::format("{}: tx ring {}: {}", name(), ring, *last ? last : describe_hang(t, kring(Direction::tx, ring)));
}

// -- factories

Result<std::shared_ptr<IxgbeAdapter>> make_adapter(std::unique_ptr<Device> dev, const PortOptions& opts,
                                                   const DriverOptions& dopts) {
    auto known = drivers::supported_chip(chips, *dev, "an ixgbe NIC", "82599/X520, X540, X550",
                                         &why_not);
    if (!known) return std::move(known).error();
    const ChipInfo* chip = known.value();
    std::string name = "ixgbe:" + dev->address().str();
    std::shared_ptr<IxgbeAdapter> a(new IxgbeAdapter(name, std::move(dev), *chip, dopts));
    if (Status s = a->init(opts); !s) return std::move(s).error();
    return a;
}

const PortType& port_type() {
    static const PortType t = Factory::port_type("ixgbe", "82599 / X540 / X550 NIC bound to vfio-pci");
    return t;
}

} // namespace upio::ixgbe
