// A software e1000-family NIC for host tests (see e1000_model.hpp).
#include "drivers/e1000/model/e1000_model.hpp"

#include "drivers/common/adv_desc.hpp"
#include "drivers/e1000/e1000_regs.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace upio::e1000::model {
namespace {

std::uint16_t device_id_of(Chip chip) {
    switch (chip) {
    case Chip::i82540em: return 0x100E;
    case Chip::i82545em: return 0x100F;
    case Chip::i82574l: return 0x10D3;
    case Chip::i82576: return 0x10C9;
    case Chip::i350: return 0x1521;
    }
    return 0;
}

} // namespace

// IOVAs from 64 GiB; the manual clock starts at 1 ns.
E1000Model::E1000Model(ModelConfig cfg)
    : DeviceModel({"e1000", cfg.address, cfg.device_id ? cfg.device_id : device_id_of(cfg.chip), 0x20000, 0x10'0000'0000ull, cfg.manual_clock, 1, cfg.numa_node}),
      cfg_(cfg), cable_(cfg.cable) {
    for (int i = 0; i < 3; i++) eeprom_[i] = std::uint16_t(cfg_.mac[2 * i] | (cfg_.mac[2 * i + 1] << 8));
    std::uint16_t sum = 0;
    for (int i = 0; i < 0x3f; i++) sum = std::uint16_t(sum + eeprom_[i]);
    eeprom_[0x3f] = std::uint16_t(0xbaba - sum); // the checksum word (13.4.x / 5.x EEPROM map)
    do_reset();
}

// The timer thread and a connected peer call back into the chip: both stop
// while the chip exists.
E1000Model::~E1000Model() { shutdown(); }

std::string E1000Model::describe() const {
    static constexpr const char* names[] = {"82540EM", "82545EM", "82574L", "82576", "I350"};
    return fmt::format("{} model at {}", names[int(cfg_.chip)], cfg_.address.str());
}

unsigned E1000Model::num_queues() const noexcept {
    switch (cfg_.chip) {
    case Chip::i82576: return 16;
    case Chip::i350: return 8;
    case Chip::i82574l: return 2;
    default: return 1;
    }
}

// 82576/I350: queues 0-3 are also reachable at the 8254x offsets.
std::uint32_t E1000Model::canon(std::uint32_t off) const noexcept {
    if (!advanced()) return off;
    for (auto [old, adv] : {std::pair{0x2800u, 0xC000u}, std::pair{0x3800u, 0xE000u}})
        if (off >= old && off < old + 0x400) {
            std::uint32_t q = (off - old) / 0x100, r = (off - old) % 0x100;
            if (r < 0x40) return adv + 0x40 * q + r;
        }
    return off;
}

void E1000Model::do_reset() noexcept {
    std::fill(regs_.begin(), regs_.end(), 0);
    tx_hung_.reset();
    reg(CTRL.offset) = CTRL_FD;
    reg(EECD.offset) = EECD_PRES | (advanced() || cfg_.chip == Chip::i82574l ? 0 : EECD_AUTO_RD);
    auto_rd_reads_ = cfg_.auto_rd_reads;
    if (reg(EECD.offset) & EECD_AUTO_RD) load_from_eeprom();
    frame_.clear();
    intx_masked_ = false;
    drop_held(false); // held-back interrupts die with the reset
    negotiated_ = !cfg_.autoneg_on_request;
    bmcr_ = 0x1140;
}

// What the auto-read loads: the station address into RAL0/RAH0.
void E1000Model::load_from_eeprom() noexcept {
    if (!cfg_.mac_in_ral) return;
    reg(RAL[0].offset) = eeprom_[0] | std::uint32_t(eeprom_[1]) << 16;
    reg(RAH[0].offset) = eeprom_[2] | RAH_AV;
}

void E1000Model::update_link() noexcept {
    bool was = reg(STATUS.offset) & STATUS_LU;
    bool up = cable_ && negotiated_ && (reg(CTRL.offset) & CTRL_SLU);
    reg(STATUS.offset) = CTRL_FD | (2u << STATUS_SPEED_SHIFT) | (up ? STATUS_LU : 0);
    if (was == up) return;
    raise(ICR_LSC);
    if (up)
        for (unsigned q = 0; q < num_queues(); q++) process_tx(q);
}

// A descriptor ring's registers are sane (8254x 13.4.27: RDLEN a multiple of
// 128; 82576: base 128-byte aligned; head and tail inside the ring).
bool E1000Model::ring_ok(std::uint32_t base, const char* name) noexcept {
    std::uint64_t addr = reg(base) | std::uint64_t(reg(base + Q_BAH)) << 32;
    std::uint32_t len = reg(base + Q_LEN), n = len / 16;
    std::uint32_t align = advanced() ? 128 : 16;
    if (len == 0 || len % 128) return fault(fmt::format("{} ring length {} is not a nonzero multiple of 128", name, len)), false;
    if (addr % align) return fault(fmt::format("{} ring base {:#x} is not {}-byte aligned", name, addr, align)), false;
    if (reg(base + Q_H) >= n || reg(base + Q_T) >= n)
        return fault(fmt::format("{} head {} / tail {} outside a ring of {}", name, reg(base + Q_H), reg(base + Q_T), n)),
               false;
    return true;
}

// -- registers

bool E1000Model::mastering() const noexcept {
    return pcie() && bus_master_ && !(rget(CTRL.offset) & CTRL_GIO_MASTER_DISABLE);
}

std::uint32_t E1000Model::read32(std::uint32_t off) noexcept {
    if (removed()) return 0xffffffffu; // off the bus: a master abort reads all-ones
    ChipLock lk(*this);
    if (bad_read(off)) return 0;
    off = canon(off);
    std::uint32_t& r = reg(off);
    std::uint32_t v = r;
    if (off == CTRL.offset && (v & CTRL_RST)) {
        if (rst_reads_ == 0 || --rst_reads_ == 0) r &= ~CTRL_RST;
    } else if (off == EECD.offset && !(v & EECD_AUTO_RD)) {
        if (auto_rd_reads_ == 0 || --auto_rd_reads_ == 0) {
            r |= EECD_AUTO_RD;
            load_from_eeprom();
        }
    } else if (off == STATUS.offset) {
        v = (v & ~STATUS_GIO_MASTER_ENABLE) | (mastering() ? STATUS_GIO_MASTER_ENABLE : 0); // DMA here is synchronous
    } else if (off == ICR.offset && advanced()) {
        v = read_icr_82576();
    } else if (off == ICR.offset || off == EICR.offset) {
        r = 0; // clear on read
        if (off == ICR.offset) intx_masked_ = false;
    } else if ((off >= 0x4000 && off < 0x4200) || (advanced() && off >= 0xC000 && off < 0xC400 && off % 0x40 == Q_RQDPC)) {
        r = 0; // statistics clear on read
    }
    return v;
}

void E1000Model::write32(std::uint32_t off, std::uint32_t v) noexcept {
    if (removed()) return; // lost
    {
        ChipLock lk(*this);
        if (bad_write(off, v)) return;
        off = canon(off);
        if (off == CTRL.offset) {
            if (v & CTRL_RST) {
                // PCIe parts: a software reset comes after the master disable
                // flow, as on the 82599 (its datasheet, 4.2.1.6.1) and in
                // Linux's e1000e and igb (e1000_disable_pcie_master: a reset
                // with a request outstanding can hang the PCIe link)
                if (mastering())
                    fault("CTRL.RST set while the device may have DMA requests outstanding (set "
                          "CTRL.GIO_MASTER_DISABLE and wait for STATUS.GIO_MASTER_ENABLE to clear first)");
                do_reset();
                reg(off) |= CTRL_RST;
                rst_reads_ = cfg_.reset_reads;
            } else {
                reg(off) = v;
            }
            update_link();
        } else if (off == EERD.offset) {
            if (v & EERD_START) {
                bool old = !advanced() && cfg_.chip != Chip::i82574l;
                unsigned word = old ? (v >> EERD_ADDR_SHIFT_8254X) & 0xff : (v >> EERD_ADDR_SHIFT_NEW) & 0x3fff;
                reg(off) = (std::uint32_t(word < eeprom_.size() ? eeprom_[word] : 0xffff) << EERD_DATA_SHIFT) |
                           (old ? EERD_DONE_8254X : EERD_DONE_NEW) | (v & 0xfffc);
            }
        } else if (off == MDIC.offset) {
            // the internal PHY answers at once; only BMCR is modelled
            const unsigned phy = (v >> MDIC_PHY_SHIFT) & 0x1f, r = (v >> MDIC_REG_SHIFT) & 0x1f;
            std::uint32_t out = (v & ~0xffffu & ~MDIC_ERROR) | MDIC_READY;
            if (phy != PHY_ADDR) {
                out |= MDIC_ERROR;
            } else if ((v & MDIC_OP_WRITE) && r == PHY_BMCR) {
                bmcr_ = std::uint16_t(v & ~BMCR_RESTART_AN);
                if (v & BMCR_RESTART_AN) negotiated_ = true;
                update_link();
            } else if (v & MDIC_OP_READ) {
                out |= r == PHY_BMCR ? bmcr_ : 0;
            }
            reg(off) = out;
        } else if (off == STATUS.offset || off == ICR.offset || off == EICR.offset) {
            // read-only here
        } else if (off == ICS.offset) {
            raise(v);
        } else if (off == IMS.offset) {
            const std::uint32_t enabled = v & ~reg(off);
            reg(off) |= v;
            if (msix_82574()) notify_82574(enabled & reg(ICR.offset)); // causes that waited for their mask
            else raise(0);
        } else if (off == IMC.offset) {
            reg(IMS.offset) &= ~v;
        } else if (off == EIMS.offset) {
            reg(off) |= v;
            if (msix_mode()) {
                for (unsigned vec = 0; vec < 32; vec++)
                    if (v & reg(EICR.offset) & (1u << vec)) fire(vec);
            } else {
                raise(0); // one vector: EICR & EIMS signal it too
            }
        } else if (off == EIMC.offset) {
            reg(EIMS.offset) &= ~v;
        } else if (off == TCTL.offset) {
            reg(off) = v;
            if (!(v & TCTL_EN) && !advanced()) tx_hung_.reset(); // the queue reset of chips without TXDCTL.ENABLE
            if (v & TCTL_EN)
                for (unsigned q = 0; q < num_queues(); q++) process_tx(q);
        } else {
            reg(off) = v;
            for (unsigned q = 0; q < num_queues(); q++) {
                if (off == txq(q) + Q_T) process_tx(q);
                if (advanced() && off == txq(q) + Q_DCTL && !(v & XDCTL_ENABLE)) tx_hung_.reset(q);
            }
        }
    }
    flush_outbox();
}

// -- interrupts

void E1000Model::raise(std::uint32_t cause) noexcept {
    reg(ICR.offset) |= cause;
    if (irq_fds_.empty()) return;
    if (msix_82574()) {
        // every cause but the four queues' is an "other" cause
        if (cause & ~(ICR_RXQ0 | ICR_RXQ1 | ICR_TXQ0 | ICR_TXQ1 | ICR_OTHER)) {
            reg(ICR.offset) |= ICR_OTHER;
            cause |= ICR_OTHER;
        }
        notify_82574(cause);
        return;
    }
    if (msix_mode()) {
        if (!(cause & ICR_LSC)) return;
        std::uint32_t misc = reg(IVAR_MISC.offset) >> 8;
        if (misc & IVAR_VALID) {
            reg(EICR.offset) |= 1u << (misc & 0x1f);
            if (reg(EIMS.offset) & (1u << (misc & 0x1f))) fire(misc & 0x1f);
        }
        return;
    }
    if (advanced()) {
        if (reg(ICR.offset) & reg(IMS.offset)) reg(EICR.offset) |= EICR_OTHER;
        if (!one_vector_pending()) return;
    } else if (!(reg(ICR.offset) & reg(IMS.offset))) {
        return;
    }
    if (irq_kind_ == IrqKind::intx && intx_masked_) return; // the host masks until the driver unmasks
    fire(0);
}

bool E1000Model::msix_mode() const noexcept { return advanced() && (rget(GPIE.offset) & GPIE_MULTIPLE_MSIX); }

// 82576/I350 one vector: an enabled ICR cause (RXDW, TXDW, LSC ...) or an
// enabled EICR bit (a queue's RxTxQ bit, other cause).
bool E1000Model::one_vector_pending() const noexcept {
    return (rget(ICR.offset) & rget(IMS.offset)) || (rget(EICR.offset) & rget(EIMS.offset));
}

// 82576 ICR read (7.3.2.1.2, GPIE.NSICR, IAM): INTA reads as set while an
// enabled cause is pending; ICR clears on the read with NSICR, or when IMS is
// 0 or INTA is set; the read copies IAM into IMC with NSICR or when INTA is
// set (at least one bit in IMS and a true interrupt).
std::uint32_t E1000Model::read_icr_82576() noexcept {
    std::uint32_t& icr = reg(ICR.offset);
    std::uint32_t& ims = reg(IMS.offset);
    const bool inta = icr & ims;
    const bool nsicr = reg(GPIE.offset) & GPIE_NSICR;
    const std::uint32_t v = icr | (inta ? ICR_INTA : 0);
    if (nsicr || ims == 0 || inta) icr = 0;
    if (nsicr || inta) ims &= ~reg(IAM.offset);
    if (!msix_mode() && !(icr & ims)) reg(EICR.offset) &= ~EICR_OTHER; // nothing enabled left in ICR
    return v;
}

// 82574 MSI-X: the IVAR entries (4 bits each: vector 2:0, valid 3) of the
// five causes RxQ0, RxQ1, TxQ0, TxQ1, other, in ICR bit order.
namespace {
constexpr std::uint32_t cause_bits_82574[] = {ICR_RXQ0, ICR_RXQ1, ICR_TXQ0, ICR_TXQ1, ICR_OTHER};
constexpr unsigned ivar_shift_82574[] = {IVAR_82574_RXQ0, IVAR_82574_RXQ1, IVAR_82574_TXQ0, IVAR_82574_TXQ1,
                                         IVAR_82574_OTHER};
} // namespace

void E1000Model::notify_82574(std::uint32_t causes) noexcept {
    causes &= reg(IMS.offset);
    for (unsigned i = 0; i < 5; i++) {
        if (!(causes & cause_bits_82574[i])) continue;
        const std::uint32_t e = reg(IVAR_82574.offset) >> ivar_shift_82574[i];
        if (e & IVAR_82574_VALID) fire(e & 7);
    }
}

std::uint32_t E1000Model::causes_82574(unsigned vec) const noexcept {
    std::uint32_t m = 0;
    const std::uint32_t ivar = regs_[IVAR_82574.offset >> 2];
    for (unsigned i = 0; i < 5; i++) {
        const std::uint32_t e = ivar >> ivar_shift_82574[i];
        if ((e & IVAR_82574_VALID) && (e & 7) == vec) m |= cause_bits_82574[i];
    }
    return m;
}

void E1000Model::raise_queue(unsigned q, bool rx) noexcept {
    // 82576: queue q in IVAR[q % 8], byte 0 (rx) / 1 (tx), +2 for q >= 8;
    // I350: queue q in IVAR[q / 2], byte 0 (rx) / 1 (tx), +2 for odd q.
    // The entry names an MSI-X vector in MSI-X mode, an EICR bit (RxTxQ)
    // without it; ICR.RXDW / TXDW are set in either mode.
    const bool i350 = cfg_.chip == Chip::i350;
    const unsigned idx = i350 ? q / 2 : q % 8, half = i350 ? q % 2 : q / 8;
    const std::uint32_t iv = reg(IVAR0[idx].offset) >> (half * 16 + (rx ? 0 : 8));
    const bool valid = iv & IVAR_VALID;
    const unsigned vec = iv & 0x1f;
    if (valid) reg(EICR.offset) |= 1u << vec;
    if (!msix_mode()) {
        raise(rx ? ICR_RXDW : ICR_TXDW); // one vector: ICR & IMS or EICR & EIMS
        return;
    }
    reg(ICR.offset) |= rx ? ICR_RXDW : ICR_TXDW; // reported, but MSI-X messages come from EICR
    if (!valid || !(reg(EIMS.offset) & (1u << vec)) || irq_fds_.empty()) return;
    if (irq_kind_ != IrqKind::msix)
        return fault(fmt::format("queue {} interrupt in MSI-X mode (GPIE.Multiple_MSIX set) while the host enabled "
                                 "{}: the message cannot be sent (without MSI-X, GPIE.Multiple_MSIX must be clear)",
                                 q, irq_kind_ == IrqKind::msi ? "MSI" : "INTx"));
    fire(vec);
}

// -- throttling (8254x 13.4.18 ITR; 82574 EITR; 82576/I350 EITR)

std::uint64_t E1000Model::interval_ns(unsigned vec) const noexcept {
    if (advanced()) // 14:2, 1 us; one vector: EITR[0]
        return std::uint64_t((regs_[EITR[msix_mode() ? vec : 0].offset >> 2] >> 2) & 0x1fff) * 1000;
    if (msix_82574() && vec < MSIX_VECTORS_82574)
        return std::uint64_t(regs_[EITR_82574[vec].offset >> 2] & 0xffff) * 256; // 256 ns
    return std::uint64_t(regs_[ITR.offset >> 2] & 0xffff) * 256;
}

// What a vector would signal now (checked when a held-back interrupt's
// interval ends: causes cleared or masked meanwhile are not delivered).
bool E1000Model::asserted(unsigned vec) const noexcept {
    const std::uint32_t icr = regs_[ICR.offset >> 2], ims = regs_[IMS.offset >> 2];
    if (msix_mode()) return regs_[EICR.offset >> 2] & regs_[EIMS.offset >> 2] & (1u << vec);
    if (advanced()) return one_vector_pending();
    if (msix_82574()) return icr & ims & causes_82574(vec);
    return icr & ims;
}

// What the chip does as it sends a message: INTx masks the line, MSI-X
// auto-clears (EIAC) and auto-masks (EIAM).
bool E1000Model::on_deliver(unsigned vec) noexcept {
    const std::uint32_t bit = 1u << vec;
    if (irq_kind_ == IrqKind::intx) {
        if (intx_masked_) return false;
        intx_masked_ = true; // level-triggered: the host masks until the driver unmasks
    } else if (irq_kind_ == IrqKind::msix && msix_mode()) {
        if (reg(EIAC.offset) & bit) reg(EICR.offset) &= ~bit;
        if ((reg(GPIE.offset) & GPIE_EIAME) && (reg(EIAM.offset) & bit)) reg(EIMS.offset) &= ~bit;
    } else if (msix_82574()) {
        if (!(reg(CTRL_EXT.offset) & CTRL_EXT_PBA_SUPPORT))
            fault("MSI-X message with CTRL_EXT.PBA_SUPPORT clear (the 82574 datasheet requires it in MSI-X mode)");
        const std::uint32_t mine = causes_82574(vec);
        reg(ICR.offset) &= ~(reg(EIAC_82574.offset) & mine);
        if (reg(CTRL_EXT.offset) & CTRL_EXT_EIAME) reg(IMS.offset) &= ~(reg(IAM.offset) & mine);
    }
    return true;
}

Result<std::vector<int>> E1000Model::enable_interrupts(IrqKind kind, unsigned count) {
    std::lock_guard lk(mu_);
    unsigned max = 0;
    switch (kind) {
    case IrqKind::intx: max = 1; break;
    case IrqKind::msi: max = cfg_.chip == Chip::i82540em || !cfg_.msi ? 0 : 1; break;
    case IrqKind::msix:
        max = !cfg_.msix ? 0 : advanced() ? 10 : cfg_.chip == Chip::i82574l ? MSIX_VECTORS_82574 : 0;
        break;
    }
    auto fds = open_vectors(kind, count, max);
    if (fds) irq_kind_ = kind;
    return fds;
}

void E1000Model::unmask_intx() noexcept {
    ChipLock lk(*this);
    intx_masked_ = false;
    raise(0);
}

// -- the test's side

// Through each other's inlet: either model may go first.
void E1000Model::connect(E1000Model& a, E1000Model& b) { wire_back_to_back(a, b); }

void E1000Model::set_cable(bool plugged) {
    {
        ChipLock lk(*this);
        cable_ = plugged;
        update_link();
    }
    flush_outbox();
}

void E1000Model::set_tx_engine(bool on) {
    {
        ChipLock lk(*this);
        tx_engine_ = on;
        if (on)
            for (unsigned q = 0; q < num_queues(); q++) process_tx(q);
    }
    flush_outbox();
}

std::uint32_t E1000Model::peek(std::uint32_t off) const {
    std::lock_guard lk(mu_);
    return regs_[canon(off) >> 2];
}

} // namespace upio::e1000::model
