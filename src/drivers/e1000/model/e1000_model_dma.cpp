// The model's DMA engines: transmit, receive, RSS queue selection, counters.
#include "drivers/e1000/model/e1000_model.hpp"

#include "drivers/common/adv_desc.hpp"
#include "drivers/e1000/e1000_regs.hpp"

#include <fmt/format.h>

#include <cstring>

namespace upio::e1000::model {

using drivers::model::crc32;
using drivers::model::store_release;

// -- transmit (8254x 3.3, 82576 7.2; the I350 as the 82576)

void E1000Model::process_tx(unsigned q) noexcept {
    const std::uint32_t b = txq(q);
    // no link, no transmission (frames wait in the ring)
    if (!(reg(TCTL.offset) & TCTL_EN) || !tx_engine_ || tx_hung_[q] || !(reg(STATUS.offset) & STATUS_LU)) return;
    if (advanced() && !(reg(b + Q_DCTL) & XDCTL_ENABLE)) return;
    if (reg(b + Q_H) == reg(b + Q_T)) return;
    if (!ring_ok(b, "tx")) return;
    const std::uint64_t base = reg(b) | std::uint64_t(reg(b + Q_BAH)) << 32;
    const std::uint32_t n = reg(b + Q_LEN) / 16;
    std::uint32_t head = reg(b + Q_H);
    const std::uint32_t tail = reg(b + Q_T);
    bool wrote_back = false;
    while (head != tail) {
        auto* d = reinterpret_cast<std::uint64_t*>(dma(base + 16ull * head, 16, "tx descriptor"));
        if (!d) return;
        const std::uint64_t addr = d[0], hi = d[1];
        const std::uint32_t cmd_type_len = std::uint32_t(hi);
        std::uint32_t len;
        bool eop, rs, data = true;
        if (cmd_type_len & LTXD_CMD_DEXT) {
            if (!advanced()) return fault("extended (TCP/IP) tx descriptors are not modelled");
            std::uint32_t dtyp = cmd_type_len & drivers::adv::TXD_DTYP_MASK;
            if (dtyp != drivers::adv::TXD_DTYP_DATA && dtyp != drivers::adv::TXD_DTYP_CTXT)
                return fault(fmt::format("tx descriptor {} has DTYP {:#x}", head, dtyp >> 20));
            data = dtyp == drivers::adv::TXD_DTYP_DATA;
            len = cmd_type_len & drivers::adv::TXD_LEN_MASK;
            eop = cmd_type_len & drivers::adv::TXD_DCMD_EOP;
            rs = cmd_type_len & drivers::adv::TXD_DCMD_RS;
        } else {
            len = std::uint32_t(hi & 0xffff);
            eop = hi & LTXD_CMD_EOP;
            rs = hi & LTXD_CMD_RS;
        }
        if (data && len) {
            const std::uint8_t* p = dma(addr, len, "tx buffer");
            if (!p) return;
            frame_.insert(frame_.end(), p, p + len);
        }
        if (data && eop) {
            if ((reg(TCTL.offset) & TCTL_PSP) && frame_.size() < 60) frame_.resize(60, 0);
            count(GPTC.offset, 1);
            count(TPT.offset, 1);
            count(GOTCL.offset, frame_.size() + 4);
            outbox_.push_back(std::move(frame_));
            frame_.clear();
        }
        if (rs) {
            if (cmd_type_len & LTXD_CMD_DEXT) { // advanced write-back: the address is gone
                d[0] = 0;
                store_release(&d[1], std::uint64_t(drivers::adv::TXD_STAT_DD) << 32);
            } else {
                store_release(&d[1], hi | LTXD_STAT_DD);
            }
            wrote_back = true;
        }
        head = head + 1 == n ? 0 : head + 1;
        reg(b + Q_H) = head;
    }
    if (wrote_back) {
        if (advanced()) raise_queue(q, false);
        else raise(msix_82574() ? (q ? ICR_TXQ1 : ICR_TXQ0) : ICR_TXDW); // 82574 MSI-X: the queue's cause
    }
}

// -- receive (8254x 3.2, 82576 7.1)

bool E1000Model::receive(const std::uint8_t* frame, std::size_t len) {
    if (removed()) return false; // nothing at the end of the cable
    bool ok;
    {
        ChipLock lk(*this);
        ok = receive_locked(frame, len);
    }
    return ok;
}

bool E1000Model::accept(const std::uint8_t* f) noexcept {
    const std::uint32_t rctl = reg(RCTL.offset);
    static constexpr std::uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    if (std::memcmp(f, bcast, 6) == 0) return rctl & RCTL_BAM;
    if (f[0] & 1) {
        if (rctl & RCTL_MPE) return true;
        return multicast_table_hit(f, MTA[0].offset);
    }
    if (rctl & RCTL_UPE) return true;
    return station_address(f, RAL[0].offset, RAH[0].offset, 16);
}

// 82576 RSS (7.1.2.8): Toeplitz hash of the IPv4 addresses (and TCP/UDP
// ports), 7 low bits index RETA.
unsigned E1000Model::pick_queue(const std::uint8_t* f, std::size_t len) noexcept {
    if (!advanced() || (reg(MRQC.offset) & 7) != MRQC_RSS) return 0;
    if (len < 34 || f[12] != 0x08 || f[13] != 0x00) return 0;
    std::uint8_t in[12];
    std::size_t n = 8;
    std::memcpy(in, f + 26, 8);
    const unsigned ihl = (f[14] & 0xf) * 4;
    if ((f[23] == 6 || f[23] == 17) && len >= 14 + ihl + 4) {
        std::memcpy(in + 8, f + 14 + ihl, 4);
        n = 12;
    }
    std::uint8_t key[40];
    for (unsigned i = 0; i < 10; i++) {
        std::uint32_t k = reg(RSSRK[i].offset);
        for (unsigned j = 0; j < 4; j++) key[4 * i + j] = std::uint8_t(k >> (8 * j));
    }
    std::uint32_t hash = 0;
    for (std::size_t i = 0; i < n; i++)
        for (int bit = 7; bit >= 0; bit--) {
            if (in[i] & (1u << bit)) {
                std::size_t kb = i * 8 + std::size_t(7 - bit); // key bit offset
                std::uint32_t w = 0;
                for (unsigned j = 0; j < 4; j++) w = (w << 8) | key[(kb / 8 + j) % 40];
                if (kb % 8) w = (w << (kb % 8)) | (key[(kb / 8 + 4) % 40] >> (8 - kb % 8));
                hash ^= w;
            }
        }
    unsigned idx = hash & 127;
    return (reg(RETA[idx / 4].offset) >> (8 * (idx % 4))) & 0xf;
}

std::uint32_t E1000Model::rx_buf_size(unsigned q) noexcept {
    if (advanced()) {
        std::uint32_t kb = reg(rxq(q) + Q_SRRCTL) & drivers::adv::SRRCTL_BSIZEPKT_MASK;
        if (kb) return kb * 1024;
    }
    const std::uint32_t rctl = reg(RCTL.offset);
    static constexpr std::uint32_t sizes[2][4] = {{2048, 1024, 512, 256}, {0, 16384, 8192, 4096}};
    std::uint32_t s = sizes[(rctl & RCTL_BSEX) ? 1 : 0][(rctl & RCTL_BSIZE_MASK) >> RCTL_BSIZE_SHIFT];
    return s ? s : 2048;
}

bool E1000Model::receive_locked(const std::uint8_t* f, std::size_t len) noexcept {
    const std::uint32_t rctl = reg(RCTL.offset);
    if (!(reg(STATUS.offset) & STATUS_LU) || !(rctl & RCTL_EN)) return false;
    if (len < 60) return count(RUC.offset, 1), false;
    if (len > 1514 && !(rctl & RCTL_LPE)) return count(ROC.offset, 1), false;
    if (!accept(f)) return false;
    const unsigned q = pick_queue(f, len);
    const std::uint32_t b = rxq(q);
    if (advanced() && !(reg(b + Q_DCTL) & XDCTL_ENABLE)) return false;
    if (!ring_ok(b, "rx")) return false;
    RxRing ring{reg(b) | std::uint64_t(reg(b + Q_BAH)) << 32, reg(b + Q_LEN) / 16, reg(b + Q_H), reg(b + Q_T),
                rx_buf_size(q)};
    const RxResult r =
        rx_dma(ring, f, len, rctl & RCTL_SECRC, [&](std::uint64_t* d, std::size_t said, bool eop, bool error) {
            said &= 0xffff;
            if (advanced()) { // error: CE, a CRC error
                d[0] = 0;     // packet type, RSS hash: not modelled
                store_release(&d[1], drivers::adv::RXD_STAT_DD | (eop ? drivers::adv::RXD_STAT_EOP : 0) |
                                         (error ? drivers::adv::IGB_RXD_ERR_CE : 0) |
                                         (std::uint64_t(said) << drivers::adv::RXD_LEN_SHIFT));
            } else {
                store_release(&d[1], said | LRXD_STAT_DD | (eop ? LRXD_STAT_EOP : 0) | (error ? LRXD_ERR_CE : 0));
            }
        });
    if (r == RxResult::no_room) { // no free descriptor: the frame is missed
        count(MPC.offset, 1);
        count(RNBC.offset, 1);
        if (advanced() && (reg(b + Q_SRRCTL) & drivers::adv::SRRCTL_DROP_EN)) count(b + Q_RQDPC, 1);
        raise(ICR_RXO);
        return false;
    }
    if (r == RxResult::fault) return false;
    reg(b + Q_H) = ring.head;
    count(GPRC.offset, 1);
    count(TPR.offset, 1);
    count(GORCL.offset, len + 4);
    if (f[0] & 1) count(std::memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) == 0 ? BPRC.offset : MPRC.offset, 1);
    if (advanced()) raise_queue(q, true);
    else raise(msix_82574() ? (q ? ICR_RXQ1 : ICR_RXQ0) : ICR_RXT0);
    return true;
}

// 64-bit counters live in a low/high pair of registers.
void E1000Model::count(std::uint32_t off, std::uint64_t n) noexcept {
    if (off == GORCL.offset || off == GOTCL.offset) {
        std::uint64_t v = reg(off) | std::uint64_t(reg(off + 4)) << 32;
        v += n;
        reg(off) = std::uint32_t(v);
        reg(off + 4) = std::uint32_t(v >> 32);
        return;
    }
    reg(off) += std::uint32_t(n);
}

} // namespace upio::e1000::model
