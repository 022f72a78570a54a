// The e1000 family's data path (txsync/rxsync on the shared ring code) and
// interrupts for blocking waits.
#include "drivers/e1000/e1000.hpp"
#include "drivers/e1000/e1000_regs.hpp"

#include "drivers/common/adv_desc.hpp"
#include "drivers/common/nic_ring.hpp"

#include <fmt/format.h>
#include <unistd.h>

namespace upio::e1000 {

int E1000Adapter::txsync(KRing& k, unsigned flags) noexcept {
    auto& q = *static_cast<drivers::HwQueue*>(k.priv);
    return advanced() ? drivers::tx_sync<drivers::adv::Format>(k, q, flags)
                      : drivers::tx_sync<LegacyFormat>(k, q, flags);
}

int E1000Adapter::rxsync(KRing& k, unsigned flags) noexcept {
    auto& q = *static_cast<drivers::HwQueue*>(k.priv);
    return advanced() ? drivers::rx_sync<drivers::adv::Format>(k, q, flags)
                      : drivers::rx_sync<LegacyFormat>(k, q, flags);
}

// -- interrupts
//
// 8254x / 82574: one vector (MSI, else INTx). Causes are in ICR (cleared on
// read); a waiter enables RXT0 (rx) or TXDW (tx) in IMS while it sleeps.
// 82576 / I350: MSI-X, vector q for queue pair q, vector nq for other causes
// (82576 7.3). EIAC clears and EIAM masks a vector's EICR/EIMS bit when it
// fires, so an idle queue costs nothing; a waiter sets its bit in EIMS.

Status E1000Adapter::setup_interrupts() {
    std::vector<IrqKind> kinds;
    unsigned count = 1;
    if (advanced()) {
        kinds = {IrqKind::msix};
        count = nq_ + 1;
    } else {
        kinds = {IrqKind::msi, IrqKind::intx};
    }
    std::string why;
    for (IrqKind kind : kinds) {
        auto fds = dev_->enable_interrupts(kind, count);
        if (fds) {
            irq_fds_ = std::move(fds.value());
            irq_kind_ = kind;
            break;
        }
        why += (why.empty() ? "" : "; ") + fds.error().message;
    }
    if (irq_fds_.empty()) {
        // Busy polling still works; blocking waits then only time out.
        irq_error_ = fmt::format("{}: no interrupts, busy polling only ({})", name(), why);
        return {};
    }
    if (advanced()) {
        r_.set(GPIE, GPIE_NSICR | GPIE_MULTIPLE_MSIX | GPIE_EIAME | GPIE_PBA_SUPPORT);
        for (std::uint32_t q = 0; q < nq_; q++) {
            // 82576: IVAR[q % 8] holds queue q (bytes 0, 1) and q + 8 (bytes 2, 3);
            // I350: IVAR[q / 2] holds queues 2n (bytes 0, 1) and 2n + 1 (bytes 2, 3).
            unsigned idx = chip_->family == Family::i350 ? q / 2 : q % 8;
            unsigned shift = (chip_->family == Family::i350 ? q % 2 : q / 8) * 16;
            std::uint32_t v = (q | IVAR_VALID) | ((q | IVAR_VALID) << 8); // rx, tx -> vector q
            r_.set_field(IVAR0[idx], 0xffffu << shift, v << shift);
        }
        r_.set(IVAR_MISC, (nq_ | IVAR_VALID) << 8); // other causes -> last vector
        const std::uint32_t qbits = (1u << nq_) - 1;
        r_.set(EIAC, qbits);
        r_.set(EIAM, qbits);
    }
    set_itr(opt_.itr_us);
    return {};
}

void E1000Adapter::set_itr(std::uint32_t us) noexcept {
    opt_.itr_us = us;
    if (advanced()) {
        for (std::uint32_t v = 0; v <= nq_; v++) r_.set(EITR[v], (us << 2) & 0x7ffc); // 14:2, 1 us units
    } else {
        r_.set(ITR, std::min<std::uint32_t>(us * 1000 / 256, 0xffff)); // 15:0, 256 ns units
    }
}

std::vector<int> E1000Adapter::wait_fds(const KRing& k) const {
    if (irq_fds_.empty()) return {};
    return {irq_fds_[irq_kind_ == IrqKind::msix ? k.ring_id : 0]};
}

void E1000Adapter::set_interrupts(KRing& k, bool on) noexcept {
    if (irq_fds_.empty()) return;
    if (irq_kind_ == IrqKind::msix) {
        // rx and tx of a pair share a vector: count the sleepers on it
        std::uint32_t bit = 1u << k.ring_id;
        auto& mine = k.dir == Direction::rx ? rx_armed_ : tx_armed_;
        auto& other = k.dir == Direction::rx ? tx_armed_ : rx_armed_;
        if (on) {
            mine.fetch_or(bit, std::memory_order_relaxed);
            r_.set(EIMS, bit);
        } else {
            mine.fetch_and(~bit, std::memory_order_relaxed);
            if (!(other.load(std::memory_order_relaxed) & bit)) r_.set(EIMC, bit);
        }
        return;
    }
    const std::uint32_t bits = k.dir == Direction::rx ? IMS_RX : IMS_TX;
    r_.set(on ? IMS : IMC, bits);
}

void E1000Adapter::ack_wait_fd(int fd) noexcept {
    std::uint64_t n;
    [[maybe_unused]] auto r = ::read(fd, &n, sizeof n);
    if (irq_kind_ == IrqKind::msix) return; // EIAC already cleared the cause
    (void)r_.get(ICR); // clears the causes (and deasserts INTx)
    if (irq_kind_ == IrqKind::intx) dev_->unmask_intx();
}

} // namespace upio::e1000
