// A software e1000-family NIC for host tests (see e1000_model.hpp).
#include "drivers/e1000/model/e1000_model.hpp"

#include "drivers/common/adv_desc.hpp"
#include "drivers/e1000/e1000_regs.hpp"

#include <fmt/format.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace upio::e1000::model {
namespace {

constexpr std::uint32_t bar0_size = 0x20000;

} // namespace

E1000Model::E1000Model(ModelConfig cfg) : cfg_(cfg), regs_(bar0_size / 4), cable_(cfg.cable) {
    for (int i = 0; i < 3; i++) eeprom_[i] = std::uint16_t(cfg_.mac[2 * i] | (cfg_.mac[2 * i + 1] << 8));
    std::uint16_t sum = 0;
    for (int i = 0; i < 0x3f; i++) sum = std::uint16_t(sum + eeprom_[i]);
    eeprom_[0x3f] = std::uint16_t(0xbaba - sum); // the checksum word (13.4.x / 5.x EEPROM map)
    std::uint16_t vid = 0x8086, did = device_id();
    std::memcpy(&config_[0], &vid, 2);
    std::memcpy(&config_[2], &did, 2);
    config_[0x0b] = 0x02; // class: network controller, Ethernet
    do_reset();
}

E1000Model::~E1000Model() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    timer_cv_.notify_all();
    if (timer_.joinable()) timer_.join();
    disable_interrupts();
}

std::uint16_t E1000Model::device_id() const {
    switch (cfg_.chip) {
    case Chip::i82540em: return 0x100E;
    case Chip::i82545em: return 0x100F;
    case Chip::i82574l: return 0x10D3;
    case Chip::i82576: return 0x10C9;
    case Chip::i350: return 0x1521;
    }
    return 0;
}

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
    reg(CTRL.offset) = CTRL_FD;
    reg(EECD.offset) = EECD_PRES | (advanced() || cfg_.chip == Chip::i82574l ? 0 : EECD_AUTO_RD);
    auto_rd_reads_ = cfg_.auto_rd_reads;
    if (reg(EECD.offset) & EECD_AUTO_RD) load_from_eeprom();
    frame_.clear();
    intx_masked_ = false;
    std::fill(due_ns_.begin(), due_ns_.end(), 0); // held-back interrupts die with the reset
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

void E1000Model::fault(const std::string& what) noexcept {
    faults_++;
    std::string msg = describe() + ": " + what;
    if (on_fault_) return on_fault_(msg);
    std::fprintf(stderr, "e1000 model fault: %s\n", msg.c_str());
    std::abort();
}

std::uint8_t* E1000Model::dma(std::uint64_t iova, std::size_t len, const char* what) noexcept {
    if (!bus_master_) {
        fault(fmt::format("DMA ({}) at IOVA {:#x} while bus mastering is off", what, iova));
        return nullptr;
    }
    for (const Mapping& m : maps_)
        if (iova >= m.iova && iova - m.iova <= m.len && len <= m.len - (iova - m.iova))
            return reinterpret_cast<std::uint8_t*>(m.va + (iova - m.iova));
    fault(fmt::format("DMA ({}) of {} bytes at IOVA {:#x} outside every mapped range", what, len, iova));
    return nullptr;
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

std::uint32_t E1000Model::read32(std::uint32_t off) noexcept {
    std::lock_guard lk(mu_);
    if (off >= bar0_size || off % 4) return fault(fmt::format("read of BAR0 offset {:#x}", off)), 0;
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
    } else if (off == ICR.offset || off == EICR.offset) {
        r = 0; // clear on read
        if (off == ICR.offset) intx_masked_ = false;
    } else if ((off >= 0x4000 && off < 0x4200) || (advanced() && off >= 0xC000 && off < 0xC400 && off % 0x40 == Q_RQDPC)) {
        r = 0; // statistics clear on read
    }
    return v;
}

void E1000Model::write32(std::uint32_t off, std::uint32_t v) noexcept {
    {
        std::lock_guard lk(mu_);
        if (off >= bar0_size || off % 4) return fault(fmt::format("write of {:#x} to BAR0 offset {:#x}", v, off));
        off = canon(off);
        if (off == CTRL.offset) {
            if (v & CTRL_RST) {
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
            for (unsigned vec = 0; vec < 32; vec++)
                if (v & reg(EICR.offset) & (1u << vec)) fire(vec);
        } else if (off == EIMC.offset) {
            reg(EIMS.offset) &= ~v;
        } else if (off == TCTL.offset) {
            reg(off) = v;
            if (v & TCTL_EN)
                for (unsigned q = 0; q < num_queues(); q++) process_tx(q);
        } else {
            reg(off) = v;
            for (unsigned q = 0; q < num_queues(); q++)
                if (off == txq(q) + Q_T) process_tx(q);
        }
    }
    flush_outbox();
}

void E1000Model::flush_outbox() {
    std::vector<std::vector<std::uint8_t>> out;
    Wire w;
    {
        std::lock_guard lk(mu_);
        if (outbox_.empty()) return;
        out.swap(outbox_);
        w = wire_;
    }
    if (w)
        for (auto& f : out) w(f.data(), f.size());
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
    if (advanced() && (reg(GPIE.offset) & GPIE_MULTIPLE_MSIX)) {
        if (!(cause & ICR_LSC)) return;
        std::uint32_t misc = reg(IVAR_MISC.offset) >> 8;
        if (misc & IVAR_VALID) {
            reg(EICR.offset) |= 1u << (misc & 0x1f);
            if (reg(EIMS.offset) & (1u << (misc & 0x1f))) fire(misc & 0x1f);
        }
        return;
    }
    if (!(reg(ICR.offset) & reg(IMS.offset))) return;
    if (irq_kind_ == IrqKind::intx && intx_masked_) return; // the host masks until the driver unmasks
    fire(0);
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
    // I350: queue q in IVAR[q / 2], byte 0 (rx) / 1 (tx), +2 for odd q
    const bool i350 = cfg_.chip == Chip::i350;
    const unsigned idx = i350 ? q / 2 : q % 8, half = i350 ? q % 2 : q / 8;
    std::uint32_t iv = reg(IVAR0[idx].offset) >> (half * 16 + (rx ? 0 : 8));
    if (!(iv & IVAR_VALID)) return;
    const unsigned vec = iv & 0x1f;
    reg(EICR.offset) |= 1u << vec;
    if (reg(EIMS.offset) & (1u << vec)) fire(vec);
}

// -- throttling (8254x 13.4.18 ITR; 82574 EITR; 82576/I350 EITR)

std::uint64_t E1000Model::now_ns() const noexcept {
    if (cfg_.manual_clock) return clock_ns_;
    return std::uint64_t(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

std::uint64_t E1000Model::interval_ns(unsigned vec) const noexcept {
    if (irq_kind_ == IrqKind::msix && advanced())
        return std::uint64_t((regs_[EITR[vec].offset >> 2] >> 2) & 0x1fff) * 1000; // 14:2, 1 us
    if (msix_82574() && vec < MSIX_VECTORS_82574)
        return std::uint64_t(regs_[EITR_82574[vec].offset >> 2] & 0xffff) * 256; // 256 ns
    return std::uint64_t(regs_[ITR.offset >> 2] & 0xffff) * 256;
}

// A vector fires at once unless it fired less than its interval ago; then
// the interrupt is held back until the interval ends.
void E1000Model::fire(unsigned vec) noexcept {
    if (vec >= irq_fds_.size()) return;
    const std::uint64_t iv = interval_ns(vec), now = now_ns();
    if (iv && last_ns_[vec] != ~0ull && now - last_ns_[vec] < iv) {
        if (due_ns_[vec] == 0) {
            due_ns_[vec] = last_ns_[vec] + iv;
            if (!cfg_.manual_clock) {
                if (!timer_.joinable()) timer_ = std::thread([this] { timer_loop(); });
                timer_cv_.notify_all();
            }
        }
        return;
    }
    deliver(vec);
}

// What a vector would signal now (checked when a held-back interrupt's
// interval ends: causes cleared or masked meanwhile are not delivered).
bool E1000Model::asserted(unsigned vec) const noexcept {
    const std::uint32_t icr = regs_[ICR.offset >> 2], ims = regs_[IMS.offset >> 2];
    if (irq_kind_ == IrqKind::msix && advanced())
        return regs_[EICR.offset >> 2] & regs_[EIMS.offset >> 2] & (1u << vec);
    if (msix_82574()) return icr & ims & causes_82574(vec);
    return icr & ims;
}

void E1000Model::deliver(unsigned vec) noexcept {
    const std::uint32_t bit = 1u << vec;
    if (irq_kind_ == IrqKind::intx) {
        if (intx_masked_) return;
        intx_masked_ = true; // level-triggered: the host masks until the driver unmasks
    } else if (irq_kind_ == IrqKind::msix && advanced()) {
        if (reg(EIAC.offset) & bit) reg(EICR.offset) &= ~bit;
        if ((reg(GPIE.offset) & GPIE_EIAME) && (reg(EIAM.offset) & bit)) reg(EIMS.offset) &= ~bit;
    } else if (msix_82574()) {
        if (!(reg(CTRL_EXT.offset) & CTRL_EXT_PBA_SUPPORT))
            fault("MSI-X message with CTRL_EXT.PBA_SUPPORT clear (the 82574 datasheet requires it in MSI-X mode)");
        const std::uint32_t mine = causes_82574(vec);
        reg(ICR.offset) &= ~(reg(EIAC_82574.offset) & mine);
        if (reg(CTRL_EXT.offset) & CTRL_EXT_EIAME) reg(IMS.offset) &= ~(reg(IAM.offset) & mine);
    }
    last_ns_[vec] = now_ns();
    due_ns_[vec] = 0;
    fired_[vec]++;
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(irq_fds_[vec], &one, sizeof one);
}

// Delivers the held-back interrupts whose interval has ended.
void E1000Model::expire() noexcept {
    const std::uint64_t now = now_ns();
    for (unsigned v = 0; v < due_ns_.size() && v < irq_fds_.size(); v++) {
        if (due_ns_[v] == 0 || now < due_ns_[v]) continue;
        due_ns_[v] = 0;
        if (asserted(v)) deliver(v);
    }
}

void E1000Model::timer_loop() {
    std::unique_lock lk(mu_);
    while (!stop_) {
        std::uint64_t next = 0;
        for (std::uint64_t d : due_ns_)
            if (d && (next == 0 || d < next)) next = d;
        if (next == 0) {
            timer_cv_.wait(lk);
        } else {
            const std::uint64_t now = now_ns();
            if (now < next) timer_cv_.wait_for(lk, std::chrono::nanoseconds(next - now));
            expire();
        }
    }
}

void E1000Model::advance_time(std::uint64_t ns) {
    std::lock_guard lk(mu_);
    clock_ns_ += ns;
    expire();
}

Result<std::vector<int>> E1000Model::enable_interrupts(IrqKind kind, unsigned count) {
    std::lock_guard lk(mu_);
    unsigned max = 0;
    switch (kind) {
    case IrqKind::intx: max = 1; break;
    case IrqKind::msi: max = cfg_.chip == Chip::i82540em ? 0 : 1; break;
    case IrqKind::msix:
        max = !cfg_.msix ? 0 : advanced() ? 10 : cfg_.chip == Chip::i82574l ? MSIX_VECTORS_82574 : 0;
        break;
    }
    if (count == 0 || count > max)
        return make_error(ENOTSUP, fmt::format("{}: {} {} vectors requested, the device has {}", describe(), count,
                                               kind == IrqKind::msix ? "MSI-X" : kind == IrqKind::msi ? "MSI" : "INTx",
                                               max));
    for (int fd : irq_fds_) ::close(fd);
    irq_fds_.clear();
    for (unsigned i = 0; i < count; i++) irq_fds_.push_back(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    fired_.assign(count, 0);
    last_ns_.assign(count, ~0ull);
    due_ns_.assign(count, 0);
    irq_kind_ = kind;
    return irq_fds_;
}

void E1000Model::disable_interrupts() noexcept {
    std::lock_guard lk(mu_);
    for (int fd : irq_fds_) ::close(fd);
    irq_fds_.clear();
    due_ns_.clear();
}

void E1000Model::unmask_intx() noexcept {
    std::lock_guard lk(mu_);
    intx_masked_ = false;
    raise(0);
}

// -- PCI and DMA

Result<std::uint32_t> E1000Model::config_read(std::uint32_t off, unsigned width) {
    std::lock_guard lk(mu_);
    if (off + width > config_.size() || (width != 1 && width != 2 && width != 4))
        return make_error(EINVAL, fmt::format("{}: config read of {} bytes at {:#x}", describe(), width, off));
    std::uint32_t v = 0;
    std::memcpy(&v, &config_[off], width);
    return v;
}

Status E1000Model::config_write(std::uint32_t off, unsigned width, std::uint32_t v) {
    std::lock_guard lk(mu_);
    if (off + width > config_.size() || (width != 1 && width != 2 && width != 4))
        return make_error(EINVAL, fmt::format("{}: config write of {} bytes at {:#x}", describe(), width, off));
    std::memcpy(&config_[off], &v, width);
    bus_master_ = config_[4] & 0x4;
    return {};
}

Status E1000Model::set_bus_master(bool on) {
    std::lock_guard lk(mu_);
    bus_master_ = on;
    config_[4] = std::uint8_t(on ? config_[4] | 0x4 : config_[4] & ~0x4);
    return {};
}

Status E1000Model::reset() {
    std::lock_guard lk(mu_);
    do_reset();
    return {};
}

Status E1000Model::dma_map(MemoryRegion& region) {
    std::lock_guard lk(mu_);
    for (const Mapping& m : maps_)
        if (m.region == &region) return make_error(EEXIST, fmt::format("{}: region {} mapped twice", describe(), region.name()));
    const std::size_t len = region.size();
    const std::uint64_t iova = next_iova_;
    next_iova_ += (len + (4u << 20)) & ~std::uint64_t((2u << 20) - 1); // a gap between mappings
    std::vector<std::uint64_t> pages(len / 4096);
    for (std::size_t i = 0; i < pages.size(); i++) pages[i] = iova + i * 4096;
    region.set_iova_map(12, std::move(pages));
    maps_.push_back({iova, region.base(), len, &region});
    return {};
}

Status E1000Model::dma_unmap(MemoryRegion& region) {
    std::lock_guard lk(mu_);
    for (auto it = maps_.begin(); it != maps_.end(); ++it)
        if (it->region == &region) {
            maps_.erase(it);
            region.clear_iova_map();
            return {};
        }
    return make_error(ENOENT, fmt::format("{}: region {} is not mapped", describe(), region.name()));
}

// -- the test's side

void E1000Model::set_wire(Wire w) {
    std::lock_guard lk(mu_);
    wire_ = std::move(w);
}

void E1000Model::connect(E1000Model& a, E1000Model& b) {
    a.set_wire([&b](const std::uint8_t* f, std::size_t n) { b.receive(f, n); });
    b.set_wire([&a](const std::uint8_t* f, std::size_t n) { a.receive(f, n); });
}

void E1000Model::set_cable(bool plugged) {
    {
        std::lock_guard lk(mu_);
        cable_ = plugged;
        update_link();
    }
    flush_outbox();
}

void E1000Model::set_tx_engine(bool on) {
    {
        std::lock_guard lk(mu_);
        tx_engine_ = on;
        if (on)
            for (unsigned q = 0; q < num_queues(); q++) process_tx(q);
    }
    flush_outbox();
}

void E1000Model::set_fault_handler(FaultHandler h) {
    std::lock_guard lk(mu_);
    on_fault_ = std::move(h);
}

std::size_t E1000Model::faults() const {
    std::lock_guard lk(mu_);
    return faults_;
}

std::uint32_t E1000Model::peek(std::uint32_t off) const {
    std::lock_guard lk(mu_);
    return regs_[canon(off) >> 2];
}

std::uint64_t E1000Model::interrupts(unsigned vector) const {
    std::lock_guard lk(mu_);
    return vector < fired_.size() ? fired_[vector] : 0;
}

std::size_t E1000Model::dma_mappings() const {
    std::lock_guard lk(mu_);
    return maps_.size();
}

} // namespace upio::e1000::model
