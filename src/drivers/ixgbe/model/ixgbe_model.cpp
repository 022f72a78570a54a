// A software 82599, X540 or X550 for host tests (see ixgbe_model.hpp).
#include "drivers/ixgbe/model/ixgbe_model.hpp"

#include "drivers/common/adv_desc.hpp"
#include "drivers/ixgbe/ixgbe_regs.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace upio::ixgbe::model {
namespace {

namespace adv = drivers::adv;

constexpr std::uint32_t bar0_size = 0x20000;
constexpr std::uint32_t rx_block = 0x01000, tx_block = 0x06000; // queue n at + 0x40 n
// register offsets inside a queue's 0x40 block
constexpr std::uint32_t Q_BAL = 0x00, Q_BAH = 0x04, Q_LEN = 0x08, Q_H = 0x10, Q_T = 0x18, Q_DCTL = 0x28;
constexpr std::uint32_t Q_SRRCTL = 0x14;

using drivers::model::crc32;
using drivers::model::store_release;

// RSS types in the receive descriptor's write-back (7.1.6.2)
constexpr unsigned RSS_TYPE_TCPV4 = 0x1, RSS_TYPE_IPV4 = 0x2, RSS_TYPE_UDPV4 = 0x7;

IxgbeModel::Mac mac_of(std::uint16_t device_id) {
    switch (device_id) {
    case 0x1528: case 0x1560: return IxgbeModel::Mac::x540;
    case 0x1563: case 0x15D1: case 0x15AA: case 0x15AB: case 0x15AC: case 0x15AD: case 0x15AE: case 0x15C8:
    case 0x15CE: return IxgbeModel::Mac::x550;
    default: return IxgbeModel::Mac::i82599;
    }
}

const char* mac_name(IxgbeModel::Mac m) {
    return m == IxgbeModel::Mac::x540 ? "X540" : m == IxgbeModel::Mac::x550 ? "X550" : "82599";
}

} // namespace

// IOVAs from 128 GiB; the manual clock starts at 0.
IxgbeModel::IxgbeModel(ModelConfig cfg)
    : DeviceModel({"ixgbe", cfg.address, cfg.device_id, bar0_size, 0x20'0000'0000ull, cfg.manual_clock, 0, cfg.numa_node}),
      cfg_(cfg), mac_(mac_of(cfg.device_id)), cable_(cfg.cable) {
    do_reset();
}

// The timer thread and a connected peer call back into the chip: both stop
// while the chip exists.
IxgbeModel::~IxgbeModel() { shutdown(); }

std::string IxgbeModel::describe() const {
    return fmt::format("{} model at {}", mac_name(mac_), cfg_.address.str());
}

// Power-on / CTRL.RST values of what the driver reads (8.2.3).
void IxgbeModel::do_reset() noexcept {
    std::fill(regs_.begin(), regs_.end(), 0);
    tx_hung_.reset();
    reg(EEC.offset) = EEC_PRES;
    reg(AUTOC.offset) = AUTOC_LMS_10G_SERIAL; // as the EEPROM configures it
    reg(HLREG0.offset) = HLREG0_TXCRCEN | HLREG0_RXCRCSTRP | HLREG0_TXPADEN | (1u << 13) | (1u << 3);
    reg(MAXFRS.offset) = 1518u << MAXFRS_MFS_SHIFT;
    reg(RDRXCTL.offset) = RDRXCTL_CRCSTRIP | (0x1u << 17); // RSCFRSTSIZE's reset value is not 0
    reg(RXPBSIZE[0].offset) = (mac_ == Mac::i82599 ? 512u : 384u) << 10; // the whole packet buffer
    reg(TXPBSIZE[0].offset) = 0xA0u << 10;                 // 160 KiB
    reg(RTTDCS.offset) = RTTDCS_ARBDIS;
    for (unsigned q = 0; q < num_queues; q++) {
        reg(rx_block + 0x40 * q + Q_SRRCTL) = 2u | (4u << 8); // 2 KiB buffers, legacy descriptors
        rxq_[q] = {};
        txq_[q] = {};
    }
    auto_rd_reads_ = cfg_.auto_rd_reads;
    dma_reads_ = cfg_.dma_init_reads;
    link_pending_ = false;
    vmask_ = 0;
    cause_mask_ = 0;
    rx_frames_ = {};
    drop_held(true); // held-back interrupts die with the reset, and when each vector fired
}

// LINKS when the link is up: speed in 29:28; the X550 marks 2.5 and 5 Gb/s
// with bit 27 (NBASE-T) on top of the 10 Gb/s and 100 Mb/s codes.
std::uint32_t IxgbeModel::links_value() const noexcept {
    const bool x550 = mac_ == Mac::x550;
    switch (cfg_.link_mbps) {
    case 100: return LINKS_LINK_UP | LINKS_SPEED_100M;
    case 1000: return LINKS_LINK_UP | LINKS_SPEED_1G;
    case 2500: return x550 ? LINKS_LINK_UP | LINKS_SPEED_10G | LINKS_SPEED_NON_STD : LINKS_LINK_UP | LINKS_SPEED_10G;
    case 5000: return x550 ? LINKS_LINK_UP | LINKS_SPEED_100M | LINKS_SPEED_NON_STD : LINKS_LINK_UP | LINKS_SPEED_10G;
    default: return LINKS_LINK_UP | LINKS_SPEED_10G;
    }
}

void IxgbeModel::link_event(bool up) noexcept {
    const bool was = rget(LINKS.offset) & LINKS_LINK_UP;
    reg(LINKS.offset) = up ? links_value() : 0;
    if (was == up) return;
    other_irq(EICR_LSC);
    if (up) process_all_tx(); // frames queued while the link was down leave now
}

// 8.2.3.8.1-3 / 8.2.3.9.5-7: base 128-byte aligned, length a nonzero
// multiple of 128, head and tail inside the ring.
bool IxgbeModel::ring_ok(bool rx, unsigned q) noexcept {
    const std::uint32_t b = (rx ? rx_block : tx_block) + 0x40 * q;
    const char* dir = rx ? "rx" : "tx";
    const std::uint64_t addr = rget(b + Q_BAL) | std::uint64_t(rget(b + Q_BAH)) << 32;
    const std::uint32_t len = rget(b + Q_LEN), n = len / 16;
    if (len == 0 || len % 128)
        return fault(fmt::format("{} queue {}: {}DLEN {} is not a nonzero multiple of 128", dir, q, rx ? 'R' : 'T', len)),
               false;
    if (addr % 128)
        return fault(fmt::format("{} queue {}: ring base {:#x} is not 128-byte aligned", dir, q, addr)), false;
    if (rget(b + Q_H) >= n || rget(b + Q_T) >= n)
        return fault(fmt::format("{} queue {}: head {} / tail {} outside a ring of {}", dir, q, rget(b + Q_H),
                                 rget(b + Q_T), n)),
               false;
    return true;
}

// Is `off` a per-queue register of queues 0-63 (rx at 0x01000, tx at 0x06000)?
bool IxgbeModel::queue_reg(std::uint32_t off, bool& rx, unsigned& q, std::uint32_t& r) const noexcept {
    if (off >= rx_block && off < rx_block + 0x40 * 64) rx = true;
    else if (off >= tx_block && off < tx_block + 0x40 * 128) rx = false;
    else return false;
    const std::uint32_t rel = off - (rx ? rx_block : tx_block);
    q = rel / 0x40;
    r = rel % 0x40;
    return r == Q_BAL || r == Q_BAH || r == Q_LEN || r == Q_H || r == Q_T || r == Q_DCTL;
}

// -- registers

std::uint32_t IxgbeModel::read_queue_reg(bool rx, unsigned q, std::uint32_t r, std::uint32_t off) noexcept {
    Queue& qu = rx ? rxq_[q] : txq_[q];
    std::uint32_t v = reg(off);
    if (r == Q_DCTL) {
        // ENABLE reads back once the device has really enabled the queue
        if ((v & XDCTL_ENABLE) && !qu.enabled) {
            if (qu.enable_reads > 0) qu.enable_reads--;
            if (qu.enable_reads == 0) qu.enabled = true;
        }
        v = (v & ~XDCTL_ENABLE) | (qu.enabled ? XDCTL_ENABLE : 0);
    }
    return v;
}

std::uint32_t IxgbeModel::read32(std::uint32_t off) noexcept {
    if (removed()) return 0xffffffffu; // off the bus: a master abort reads all-ones
    std::uint32_t v;
    {
        ChipLock lk(*this);
        v = read_locked(off);
    }
    flush_outbox(); // a LINKS read that brings the link up releases queued frames
    return v;
}

std::uint32_t IxgbeModel::read_locked(std::uint32_t off) noexcept {
    if (bad_read(off)) return 0;
    bool rx;
    unsigned q;
    std::uint32_t r;
    if (queue_reg(off, rx, q, r)) return read_queue_reg(rx, q, r, off);
    std::uint32_t& v = reg(off);
    const std::uint32_t val = v;
    if (off == CTRL.offset && (val & CTRL_RST)) {
        if (rst_reads_ == 0 || --rst_reads_ == 0) v &= ~CTRL_RST;
    } else if (off == EEC.offset && !(val & EEC_AUTO_RD)) {
        if (auto_rd_reads_ == 0 || --auto_rd_reads_ == 0) {
            v |= EEC_AUTO_RD;
            // the auto-read loads the station address (8.2.3.7.9)
            const auto& m = cfg_.mac;
            reg(RAL[0].offset) = m[0] | m[1] << 8 | m[2] << 16 | std::uint32_t(m[3]) << 24;
            reg(RAH[0].offset) = m[4] | m[5] << 8 | RAH_AV;
        }
    } else if (off == RDRXCTL.offset && !(val & RDRXCTL_DMAIDONE)) {
        if (dma_reads_ == 0 || --dma_reads_ == 0) v |= RDRXCTL_DMAIDONE;
    } else if (off == LINKS.offset && link_pending_) {
        if (link_reads_ == 0 || --link_reads_ == 0) {
            link_pending_ = false;
            link_event(true);
        }
    } else if (off >= QPRDC[0].offset && off < QPRDC[queue_stat_counters].offset &&
               (off - QPRDC[0].offset) % QPRDC.stride == 0) {
        v = 0; // per-queue statistics clear on read
    } else if (off == STATUS.offset) {
        // GIO: the device may have requests outstanding, until the master
        // disable flow (CTRL.PCIE_MASTER_DISABLE); DMA here is synchronous,
        // so none is pending once it is set
        return (val & ~STATUS_GIO) | (mastering() ? STATUS_GIO : 0);
    } else if (off == SECRXSTAT.offset) {
        // the rx security path is empty as soon as it is halted
        return rget(SECRXCTRL.offset) & SECRXCTRL_RX_DIS ? SECRXSTAT_SECRX_RDY : 0;
    } else if (off == EICR.offset) {
        v = 0; // clear on read
    } else if (off == EIMS.offset) {
        return std::uint32_t(vmask_ & 0xffff) | cause_mask_;
    } else if (off == EIMS_EX[0].offset || off == EIMS_EX[1].offset) {
        return std::uint32_t(vmask_ >> (off == EIMS_EX[0].offset ? 0 : 32));
    } else if (off >= stats_first && off < stats_end) {
        v = 0; // statistics clear on read
    }
    return val;
}

void IxgbeModel::write_queue_reg(bool rx, unsigned q, std::uint32_t r, std::uint32_t off, std::uint32_t v) noexcept {
    Queue& qu = rx ? rxq_[q] : txq_[q];
    const char* dir = rx ? "rx" : "tx";
    const char* pre = rx ? "R" : "T";
    if (r == Q_DCTL) {
        const bool on = v & XDCTL_ENABLE, was = reg(off) & XDCTL_ENABLE;
        reg(off) = v;
        if (on && !was) {
            if (!rx && !(rget(DMATXCTL.offset) & DMATXCTL_TE))
                return fault(fmt::format("TXDCTL[{}].ENABLE set while DMATXCTL.TE is clear (4.6.8: enable the "
                                         "transmit DMA first)",
                                         q));
            // a misconfigured ring never comes up: the driver's wait times out
            if (!ring_ok(rx, q)) return reg(off) &= ~XDCTL_ENABLE, void();
            qu.enabled = false;
            qu.enable_reads = cfg_.enable_reads;
        } else if (!on) {
            qu.enabled = false;
            qu.frame.clear();
            if (!rx) tx_hung_.reset(q); // the queue reset a hang waits for
        }
        return;
    }
    if (r == Q_T) {
        if (!qu.enabled) {
            if (v != rget(off - Q_T + Q_H))
                return fault(fmt::format("{}DT[{}] set to {} while the {} queue is disabled", pre, q, v, dir));
            reg(off) = v;
            return;
        }
        const std::uint32_t n = rget(off - Q_T + Q_LEN) / 16;
        if (v >= n) return fault(fmt::format("{}DT[{}] set to {}, outside a ring of {}", pre, q, v, n));
        reg(off) = v;
        if (!rx) process_tx(q);
        return;
    }
    // base, length, head: only while the queue is disabled (8.2.3.8.4, 8.2.3.9.8)
    if (qu.enabled || (reg(off - r + Q_DCTL) & XDCTL_ENABLE)) {
        static constexpr const char* names[] = {"BAL", "BAH", "LEN", "", "H"};
        return fault(fmt::format("{}D{}[{}] written while the {} queue is enabled", pre, names[r / 4], q, dir));
    }
    reg(off) = v;
}

void IxgbeModel::write32(std::uint32_t off, std::uint32_t v) noexcept {
    if (removed()) return; // lost
    {
        ChipLock lk(*this);
        if (bad_write(off, v)) return;
        bool rx;
        unsigned q;
        std::uint32_t r;
        if (queue_reg(off, rx, q, r)) {
            write_queue_reg(rx, q, r, off, v);
        } else if (off == CTRL.offset) {
            if (v & CTRL_RST_MASK) {
                const bool up = rget(LINKS.offset) & LINKS_LINK_UP;
                // 4.2.1.6.1: a software reset only after the master disable
                // flow (the device may still have DMA requests outstanding)
                if ((v & CTRL_RST) && mastering())
                    fault("CTRL.RST set while the device may have DMA requests outstanding (4.2.1.6.1: set "
                          "CTRL.PCIE_MASTER_DISABLE and wait for STATUS.GIO to clear first)");
                do_reset();
                reg(off) = v & CTRL_RST; // the reset clears the rest of CTRL (master disable too)
                rst_reads_ = cfg_.reset_reads;
                if (up) link_event(false);
                // after a reset the link restarts on its own with the EEPROM's AUTOC
                link_pending_ = cable_;
                link_reads_ = cfg_.link_reads;
            } else {
                reg(off) = v;
            }
        } else if (off == AUTOC.offset && mac_ != Mac::i82599) {
            fault(fmt::format("AUTOC written ({:#x}) on an {}: its MAC link follows the copper PHY, which firmware "
                              "runs; AUTOC is not the link control (read LINKS only)",
                              v, mac_name(mac_)));
        } else if (off == AUTOC.offset) {
            reg(off) = v & ~AUTOC_RESTART_AN;
            if (v & AUTOC_RESTART_AN) {
                link_event(false);
                link_pending_ = cable_;
                link_reads_ = cfg_.link_reads;
            }
        } else if (off == STATUS.offset || off == LINKS.offset || off == EICR.offset || off == EEC.offset) {
            // read-only here (EEC's writable bits are not modelled)
        } else if (off == RDRXCTL.offset) {
            reg(off) = (v & ~RDRXCTL_DMAIDONE) | (rget(off) & RDRXCTL_DMAIDONE);
        } else if (off == EICS.offset) {
            if (v & ~EICR_RTXQ_MASK) other_irq(v & ~EICR_RTXQ_MASK);
        } else if (off == EIMS.offset) {
            vmask_ |= v & 0xffff;
            cause_mask_ |= v & 0x7fff0000u;
        } else if (off == EIMC.offset) {
            vmask_ &= ~std::uint64_t(v & 0xffff);
            cause_mask_ &= ~(v & 0x7fff0000u);
        } else if (off == EIMS_EX[0].offset || off == EIMS_EX[1].offset) {
            vmask_ |= std::uint64_t(v) << (off == EIMS_EX[0].offset ? 0 : 32);
        } else if (off == EIMC_EX[0].offset || off == EIMC_EX[1].offset) {
            vmask_ &= ~(std::uint64_t(v) << (off == EIMC_EX[0].offset ? 0 : 32));
        } else if (off == DMATXCTL.offset) {
            reg(off) = v;
            if (!(v & DMATXCTL_TE))
                for (unsigned i = 0; i < num_queues; i++)
                    if (txq_[i].enabled) return fault(fmt::format("DMATXCTL.TE cleared while tx queue {} is enabled", i));
        } else if (off == MTQC.offset && !(rget(RTTDCS.offset) & RTTDCS_ARBDIS)) {
            fault(fmt::format("MTQC written ({:#x}) while the tx descriptor arbiter runs (RTTDCS.ARBDIS clear; "
                              "8.2.3.9.15, 4.6.8)",
                              v));
        } else if (off == RXCTRL.offset) {
            const bool was = rget(off) & RXCTRL_RXEN;
            reg(off) = v;
            if ((v & RXCTRL_RXEN) && !was && !(rget(SECRXCTRL.offset) & SECRXCTRL_RX_DIS))
                return fault("RXCTRL.RXEN set while the security rx path runs (4.6.7: set SECRXCTRL.RX_DIS and wait "
                             "for SECRXSTAT.SECRX_RDY first; 82599 errata: the rx DMA may hang)");
            for (unsigned i = 0; i < 8 && (v & RXCTRL_RXEN) && !was; i++) {
                const std::uint32_t pbs = rget(RXPBSIZE[i].offset), rth = rget(FCRTH[i].offset) & 0x7ffe0u;
                if (pbs && (rth == 0 || rth > pbs))
                    return fault(fmt::format("receive enabled with FCRTH[{}] {:#x} for a {} KiB packet buffer (4.6.3.2: "
                                             "set it to RXPBSIZE - 24 KiB whether or not flow control is on)",
                                             i, rget(FCRTH[i].offset), pbs >> 10));
            }
            if ((v & RXCTRL_RXEN) && !!(rget(HLREG0.offset) & HLREG0_RXCRCSTRP) != !!(rget(RDRXCTL.offset) & RDRXCTL_CRCSTRIP))
                return fault("receive enabled with HLREG0.RXCRCSTRP and RDRXCTL.CRCSTRIP disagreeing (8.2.3.8.8)");
            std::uint64_t pb = 0;
            for (unsigned i = 0; i < 8; i++) pb += rget(RXPBSIZE[i].offset);
            const std::uint64_t total = (mac_ == Mac::i82599 ? 512u : 384u) << 10;
            if ((v & RXCTRL_RXEN) && pb > total)
                return fault(fmt::format("receive enabled with RXPBSIZE[0..7] totalling {} KiB; the {} has {} KiB of "
                                         "receive packet buffer",
                                         pb >> 10, mac_name(mac_), total >> 10));
        } else {
            reg(off) = v;
        }
    }
    flush_outbox();
}

// -- transmit (7.2)

void IxgbeModel::process_all_tx() noexcept {
    for (unsigned q = 0; q < num_queues; q++)
        if (txq_[q].enabled) process_tx(q);
}

void IxgbeModel::process_tx(unsigned q) noexcept {
    const std::uint32_t b = tx_block + 0x40 * q;
    Queue& qu = txq_[q];
    // no link, no transmission: frames wait in the ring
    if (!qu.enabled || !tx_engine_ || tx_hung_[q] || !(rget(DMATXCTL.offset) & DMATXCTL_TE) ||
        !(rget(LINKS.offset) & LINKS_LINK_UP))
        return;
    if (rget(b + Q_H) == rget(b + Q_T)) return;
    if (!ring_ok(false, q)) return;
    const std::uint64_t base = rget(b + Q_BAL) | std::uint64_t(rget(b + Q_BAH)) << 32;
    const std::uint32_t n = rget(b + Q_LEN) / 16, tail = rget(b + Q_T);
    const bool jumbo = rget(HLREG0.offset) & HLREG0_JUMBOEN;
    const std::uint32_t max_frame = jumbo ? rget(MAXFRS.offset) >> MAXFRS_MFS_SHIFT : 1518;
    std::uint32_t head = rget(b + Q_H);
    bool wrote_back = false;
    while (head != tail) {
        auto* d = reinterpret_cast<std::uint64_t*>(dma(base + 16ull * head, 16, "tx descriptor"));
        if (!d) return;
        const std::uint64_t addr = d[0], hi = d[1];
        const std::uint32_t cmd = std::uint32_t(hi), olinfo = std::uint32_t(hi >> 32);
        if (!(cmd & adv::TXD_DCMD_DEXT))
            return fault(fmt::format("tx queue {} descriptor {}: legacy descriptors are not modelled", q, head));
        const std::uint32_t dtyp = cmd & adv::TXD_DTYP_MASK;
        if (dtyp != adv::TXD_DTYP_DATA && dtyp != adv::TXD_DTYP_CTXT)
            return fault(fmt::format("tx queue {} descriptor {} has DTYP {:#x}", q, head, dtyp >> 20));
        if (dtyp == adv::TXD_DTYP_DATA) {
            const std::uint32_t len = cmd & adv::TXD_LEN_MASK;
            if (qu.frame.empty()) qu.paylen = olinfo >> adv::TXD_PAYLEN_SHIFT;
            if (len) {
                const std::uint8_t* p = dma(addr, len, "tx buffer");
                if (!p) return;
                qu.frame.insert(qu.frame.end(), p, p + len);
            }
            if (cmd & adv::TXD_DCMD_EOP) {
                if (qu.paylen != qu.frame.size())
                    fault(fmt::format("tx queue {}: PAYLEN {} in the first descriptor of a {}-byte frame (7.2.3.2.4)",
                                      q, qu.paylen, qu.frame.size()));
                if (qu.frame.size() + 4 > max_frame)
                    fault(fmt::format("tx queue {}: {}-byte frame larger than {} (HLREG0.JUMBOEN {}, MAXFRS)", q,
                                      qu.frame.size(), max_frame - 4, jumbo ? "set" : "clear"));
                if ((rget(HLREG0.offset) & HLREG0_TXPADEN) && qu.frame.size() < 60) qu.frame.resize(60, 0);
                count(GPTC.offset, 1);
                count(TPT.offset, 1);
                count(GOTCL.offset, qu.frame.size() + 4);
                outbox_.push_back(std::move(qu.frame));
                qu.frame.clear();
            }
        }
        if ((cmd & adv::TXD_DCMD_RS) && tx_writeback_) {
            // advanced write-back: only STA.DD in bits 35:32 of the second qword (7.2.3.2.4)
            d[0] = 0;
            store_release(&d[1], std::uint64_t(adv::TXD_STAT_DD) << 32);
            wrote_back = true;
        }
        head = head + 1 == n ? 0 : head + 1;
        reg(b + Q_H) = head;
    }
    if (wrote_back) queue_irq(q, false);
}

// -- receive (7.1)

bool IxgbeModel::receive(const std::uint8_t* frame, std::size_t len) {
    if (removed()) return false; // nothing at the end of the cable
    ChipLock lk(*this);
    return receive_locked(frame, len);
}

bool IxgbeModel::accept(const std::uint8_t* f) const noexcept {
    const std::uint32_t fctrl = rget(FCTRL.offset);
    static constexpr std::uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    if (std::memcmp(f, bcast, 6) == 0) return fctrl & FCTRL_BAM;
    if (f[0] & 1) {
        if (fctrl & FCTRL_MPE) return true;
        if (!(rget(MCSTCTRL.offset) & MCSTCTRL_MFE)) return false;
        return multicast_table_hit(f, MTA[0].offset); // MO = 00 (8.2.3.7.7)
    }
    if (fctrl & FCTRL_UPE) return true;
    return station_address(f, RAL[0].offset, RAH[0].offset, 128);
}

// Toeplitz hash (7.1.2.8.1) over the IPv4 source and destination addresses,
// plus the ports for TCP / UDP when MRQC enables those fields.
std::uint32_t IxgbeModel::toeplitz(const std::uint8_t* f, std::size_t len, unsigned& type) const noexcept {
    type = 0;
    const std::uint32_t mrqc = rget(MRQC.offset);
    if ((mrqc & MRQC_MRQE_MASK) != MRQC_RSS) return 0;
    if (len < 34 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4) return 0;
    std::uint8_t in[12];
    std::size_t n = 8;
    std::memcpy(in, f + 26, 8);
    const unsigned ihl = (f[14] & 0xf) * 4;
    const bool frag = (f[20] & 0x3f) || f[21]; // MF or a fragment offset: no ports
    const bool tcp = f[23] == 6 && (mrqc & MRQC_RSS_TCPIPV4), udp = f[23] == 17 && (mrqc & MRQC_RSS_UDPIPV4);
    if ((tcp || udp) && !frag && len >= 14 + ihl + 4) {
        std::memcpy(in + 8, f + 14 + ihl, 4);
        n = 12;
        type = tcp ? RSS_TYPE_TCPV4 : RSS_TYPE_UDPV4;
    } else if (mrqc & MRQC_RSS_IPV4) {
        type = RSS_TYPE_IPV4;
    } else {
        return 0;
    }
    std::uint8_t key[40];
    for (unsigned i = 0; i < 10; i++) {
        std::uint32_t k = rget(RSSRK[i].offset); // byte 0 of the key in bits 7:0 of RSSRK[0]
        for (unsigned j = 0; j < 4; j++) key[4 * i + j] = std::uint8_t(k >> (8 * j));
    }
    std::uint32_t hash = 0;
    for (std::size_t i = 0; i < n; i++)
        for (int bit = 7; bit >= 0; bit--) {
            if (!(in[i] & (1u << bit))) continue;
            const std::size_t kb = i * 8 + std::size_t(7 - bit); // the 32 key bits starting here
            std::uint32_t w = 0;
            for (unsigned j = 0; j < 4; j++) w = (w << 8) | key[kb / 8 + j];
            if (kb % 8) w = (w << (kb % 8)) | (key[kb / 8 + 4] >> (8 - kb % 8));
            hash ^= w;
        }
    return hash;
}

std::uint32_t IxgbeModel::rss_hash(const std::uint8_t* f, std::size_t len) const {
    std::lock_guard lk(mu_);
    unsigned type;
    return toeplitz(f, len, type);
}

// The redirection table (7.1.2.8.3): 7 bits of the hash index 128 4-bit
// entries on the 82599 and X540, 9 bits 512 6-bit entries on the X550
// (128-511 in ERETA).
unsigned IxgbeModel::pick_queue(std::uint32_t hash) const noexcept {
    if (mac_ == Mac::x550) {
        const unsigned idx = hash & (reta_entries_x550 - 1);
        const std::uint32_t r = idx < reta_entries ? rget(RETA[idx / 4].offset)
                                                   : rget(ERETA[(idx - reta_entries) / 4].offset);
        return (r >> (8 * (idx % 4))) & RETA_ENTRY_MASK_X550;
    }
    const unsigned idx = hash & (reta_entries - 1);
    return (rget(RETA[idx / 4].offset) >> (8 * (idx % 4))) & RETA_ENTRY_MASK;
}

unsigned IxgbeModel::rss_queue(const std::uint8_t* f, std::size_t len) const {
    std::lock_guard lk(mu_);
    unsigned type;
    const std::uint32_t hash = toeplitz(f, len, type);
    return type ? pick_queue(hash) : 0;
}

bool IxgbeModel::receive_locked(const std::uint8_t* f, std::size_t len) noexcept {
    if (!(rget(LINKS.offset) & LINKS_LINK_UP) || !(rget(RXCTRL.offset) & RXCTRL_RXEN)) return false;
    const bool jumbo = rget(HLREG0.offset) & HLREG0_JUMBOEN;
    const std::uint32_t max_frame = jumbo ? rget(MAXFRS.offset) >> MAXFRS_MFS_SHIFT : 1518;
    if (len < 60) return count(RUC.offset, 1), false;
    if (len + 4 > max_frame) return count(ROC.offset, 1), false;
    if (!accept(f)) return false;
    count(TPR.offset, 1);

    unsigned type = 0;
    const std::uint32_t hash = toeplitz(f, len, type);
    const unsigned q = type ? pick_queue(hash) : 0;
    const std::uint32_t b = rx_block + 0x40 * q;
    if (!rxq_[q].enabled) return count(MPC[0].offset, 1), false; // nowhere to go
    if (!ring_ok(true, q)) return false;
    const std::uint32_t srrctl = rget(b + Q_SRRCTL);
    if ((srrctl & SRRCTL_DESCTYPE_MASK) != SRRCTL_DESCTYPE_ADV_ONEBUF)
        return fault(fmt::format("rx queue {}: SRRCTL.DESCTYPE {:#x}; only advanced one-buffer descriptors are "
                                 "modelled",
                                 q, (srrctl & SRRCTL_DESCTYPE_MASK) >> 25)),
               false;
    const std::uint32_t bsz = (srrctl & SRRCTL_BSIZEPKT_MASK) << SRRCTL_BSIZEPKT_SHIFT;
    if (bsz == 0 || bsz > max_rx_buf_size)
        return fault(fmt::format("rx queue {}: SRRCTL.BSIZEPACKET is {} KiB; it must be 1 to 16 (8.2.3.8.7)", q,
                                 bsz >> SRRCTL_BSIZEPKT_SHIFT)),
               false;
    RxRing ring{rget(b + Q_BAL) | std::uint64_t(rget(b + Q_BAH)) << 32, rget(b + Q_LEN) / 16, rget(b + Q_H),
                rget(b + Q_T), bsz};
    const bool strip = rget(HLREG0.offset) & HLREG0_RXCRCSTRP;
    const RxResult r = rx_dma(ring, f, len, strip, [&](std::uint64_t* d, std::size_t said, bool eop, bool error) {
        // write-back (7.1.6.2): RSS type 3:0 and hash 63:32; status, errors
        // (RXE: a MAC error such as a bad CRC), length
        d[0] = std::uint64_t(hash) << 32 | type;
        store_release(&d[1], adv::RXD_STAT_DD | (eop ? adv::RXD_STAT_EOP : 0) | (error ? RXDADV_ERR_RXE : 0) |
                                 (std::uint64_t(said & 0xffff) << adv::RXD_LEN_SHIFT));
    });
    if (r == RxResult::no_room) {
        // DROP_EN: the queue drops, counted in the statistics set RQSMR maps
        // it to; otherwise the frame would wait in the packet buffer, which
        // the model does not have: it overflows at once (MPC)
        if (srrctl & SRRCTL_DROP_EN)
            count(QPRDC[(rget(RQSMR[q / 4].offset) >> (8 * (q % 4))) & 0xf].offset, 1);
        else
            count(MPC[0].offset, 1);
        return false;
    }
    if (r == RxResult::fault) return false;
    reg(b + Q_H) = ring.head;
    rx_frames_[q]++;
    count(GPRC.offset, 1);
    count(GORCL.offset, len + 4);
    if (f[0] & 1) count(std::memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) == 0 ? BPRC.offset : MPRC.offset, 1);
    queue_irq(q, true);
    return true;
}

// GORC/GOTC are 36-bit counters over a low/high register pair.
void IxgbeModel::count(std::uint32_t off, std::uint64_t n) noexcept {
    if (off == GORCL.offset || off == GOTCL.offset) {
        std::uint64_t v = rget(off) | std::uint64_t(rget(off + 4)) << 32;
        v = (v + n) & ((std::uint64_t(1) << 36) - 1);
        reg(off) = std::uint32_t(v);
        reg(off + 4) = std::uint32_t(v >> 32);
        return;
    }
    reg(off) += std::uint32_t(n);
}

// -- interrupts (7.3)

void IxgbeModel::queue_irq(unsigned q, bool rx) noexcept {
    if (!(rget(GPIE.offset) & GPIE_MSIX_MODE) || q >= 128) return;
    // IVAR[q / 2]: rx of queue 2n in byte 0, tx in byte 1, queue 2n+1 in bytes 2, 3 (8.2.3.5.16)
    const std::uint32_t iv = (rget(IVAR[q / 2].offset) >> ((q % 2) * 16 + (rx ? 0 : 8))) & 0xff;
    if (!(iv & IVAR_ALLOC_VAL)) return;
    const unsigned vec = iv & 0x3f;
    if (vec < 16) reg(EICR.offset) |= 1u << vec;
    if (vmask_ & (std::uint64_t(1) << vec)) fire(vec);
}

void IxgbeModel::other_irq(std::uint32_t cause) noexcept {
    reg(EICR.offset) |= cause;
    if (!(cause & cause_mask_) || !(rget(GPIE.offset) & GPIE_MSIX_MODE)) return;
    const std::uint32_t iv = (rget(IVAR_MISC.offset) >> 8) & 0xff;
    if (iv & IVAR_ALLOC_VAL) fire(iv & 0x3f);
}

// EITR's interval (11:3, 2 us units); 0: no moderation.
std::uint64_t IxgbeModel::interval_ns(unsigned vec) const noexcept {
    return std::uint64_t((rget(EITR(vec).offset) & EITR_INTERVAL_MASK) >> EITR_INTERVAL_SHIFT) * EITR_UNIT_NS;
}

// An interrupt for `vec` goes (7.3; moderated by EITR in DeviceModel::fire):
// EIAC auto-clears its cause, EIAM with GPIE.EIAME masks the vector.
bool IxgbeModel::on_deliver(unsigned vec) noexcept {
    const std::uint64_t bit = std::uint64_t(1) << vec;
    if (vec < 16 && (rget(EIAC.offset) & (1u << vec))) reg(EICR.offset) &= ~(1u << vec);
    const std::uint64_t eiam = rget(EIAM_EX[0].offset) | std::uint64_t(rget(EIAM_EX[1].offset)) << 32;
    if ((rget(GPIE.offset) & GPIE_EIAME) && (eiam & bit)) vmask_ &= ~bit;
    return true;
}

Result<std::vector<int>> IxgbeModel::enable_interrupts(IrqKind kind, unsigned count) {
    std::lock_guard lk(mu_);
    return open_vectors(kind, count, kind == IrqKind::msix ? num_vectors : 1);
}

// -- the test's side

// Through each other's inlet: either model may go first.
void IxgbeModel::connect(IxgbeModel& a, IxgbeModel& b) { wire_back_to_back(a, b); }

void IxgbeModel::set_cable(bool plugged) {
    {
        ChipLock lk(*this);
        cable_ = plugged;
        if (!plugged) {
            link_pending_ = false;
            link_event(false);
        } else if (!(rget(LINKS.offset) & LINKS_LINK_UP)) {
            link_pending_ = true; // autonegotiation resumes
            link_reads_ = cfg_.link_reads;
        }
    }
    flush_outbox();
}

void IxgbeModel::set_tx_engine(bool on) {
    {
        ChipLock lk(*this);
        tx_engine_ = on;
        if (on) process_all_tx();
    }
    flush_outbox();
}

void IxgbeModel::set_tx_writeback(bool on) {
    std::lock_guard lk(mu_);
    tx_writeback_ = on;
}

std::uint32_t IxgbeModel::peek(std::uint32_t off) const {
    std::lock_guard lk(mu_);
    return regs_[off >> 2];
}

bool IxgbeModel::mastering() const noexcept {
    return bus_master_ && !(rget(CTRL.offset) & CTRL_PCIE_MASTER_DISABLE);
}

std::uint64_t IxgbeModel::rx_frames(unsigned queue) const {
    std::lock_guard lk(mu_);
    return queue < rx_frames_.size() ? rx_frames_[queue] : 0;
}

} // namespace upio::ixgbe::model
