// A software e1000-family NIC for host tests (see e1000_model.hpp).
#include "drivers/e1000/model/e1000_model.hpp"

#include "drivers/common/adv_desc.hpp"
#include "drivers/e1000/e1000_regs.hpp"

#include <fmt/format.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
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

E1000Model::~E1000Model() { disable_interrupts(); }

std::uint16_t E1000Model::device_id() const {
    switch (cfg_.chip) {
    case Chip::i82540em: return 0x100E;
    case Chip::i82545em: return 0x100F;
    case Chip::i82574l: return 0x10D3;
    case Chip::i82576: return 0x10C9;
    }
    return 0;
}

std::string E1000Model::describe() const {
    static constexpr const char* names[] = {"82540EM", "82545EM", "82574L", "82576"};
    return fmt::format("{} model at {}", names[int(cfg_.chip)], cfg_.address.str());
}

unsigned E1000Model::num_queues() const noexcept {
    return cfg_.chip == Chip::i82576 ? 16 : cfg_.chip == Chip::i82574l ? 2 : 1;
}

// 82576: queues 0-3 are also reachable at the 8254x offsets (82576 8.10.x).
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
            reg(off) |= v;
            raise(0);
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
    if (irq_kind_ == IrqKind::intx) {
        if (intx_masked_) return;
        intx_masked_ = true; // level-triggered: the host masks until the driver unmasks
    }
    fire(0);
}

void E1000Model::raise_queue(unsigned q, bool rx) noexcept {
    // 82576 IVAR: queue q in IVAR[q % 8], byte 0 (rx) / 1 (tx), +2 for q >= 8
    std::uint32_t iv = reg(IVAR0[q % 8].offset) >> ((q / 8) * 16 + (rx ? 0 : 8));
    if (!(iv & IVAR_VALID)) return;
    const unsigned vec = iv & 0x1f;
    reg(EICR.offset) |= 1u << vec;
    if (reg(EIMS.offset) & (1u << vec)) fire(vec);
}

void E1000Model::fire(unsigned vec) noexcept {
    if (vec >= irq_fds_.size()) return;
    const std::uint32_t bit = 1u << vec;
    if (irq_kind_ == IrqKind::msix) {
        if (reg(EIAC.offset) & bit) reg(EICR.offset) &= ~bit;
        if ((reg(GPIE.offset) & GPIE_EIAME) && (reg(EIAM.offset) & bit)) reg(EIMS.offset) &= ~bit;
    }
    fired_[vec]++;
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(irq_fds_[vec], &one, sizeof one);
}

Result<std::vector<int>> E1000Model::enable_interrupts(IrqKind kind, unsigned count) {
    std::lock_guard lk(mu_);
    unsigned max = 0;
    switch (kind) {
    case IrqKind::intx: max = 1; break;
    case IrqKind::msi: max = cfg_.chip == Chip::i82540em ? 0 : 1; break;
    case IrqKind::msix: max = cfg_.chip == Chip::i82576 ? 10 : cfg_.chip == Chip::i82574l ? 5 : 0; break;
    }
    if (count == 0 || count > max)
        return make_error(ENOTSUP, fmt::format("{}: {} {} vectors requested, the device has {}", describe(), count,
                                               kind == IrqKind::msix ? "MSI-X" : kind == IrqKind::msi ? "MSI" : "INTx",
                                               max));
    for (int fd : irq_fds_) ::close(fd);
    irq_fds_.clear();
    for (unsigned i = 0; i < count; i++) irq_fds_.push_back(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    fired_.assign(count, 0);
    irq_kind_ = kind;
    return irq_fds_;
}

void E1000Model::disable_interrupts() noexcept {
    std::lock_guard lk(mu_);
    for (int fd : irq_fds_) ::close(fd);
    irq_fds_.clear();
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
