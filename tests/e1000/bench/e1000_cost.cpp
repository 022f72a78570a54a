// e1000-cost -- the driver's own work per packet, for callgrind.
//
//   e1000-cost tx|rx BATCH [--igb] [--rounds N] [--scatter] [--check]
//
// --scatter maps the region's pages out of order (pairs swapped), so the
// driver looks every buffer address up in the page table instead of taking
// its four-descriptor steps; --check verifies every descriptor the driver
// wrote (address, length, command; rx: the address re-armed) and the
// lengths received, for a functional test of either path (not under
// callgrind: it costs more than the driver).
// Runs txsync or rxsync on an e1000 adapter whose device does nothing but
// hold registers; this program plays the NIC between syncs by writing the
// descriptors back itself (DD, length), so that under
//   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='upio::e1000::E1000Adapter::txsync*'
//   (or rxsync)
// the instructions counted are the driver's alone. bench.sh runs the grid.
#include "drivers/e1000/e1000.hpp"
#include "drivers/e1000/e1000_regs.hpp"

#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace upio;

namespace {

bool igb = false;
bool scatter = false;

// Registers only: reset completes, the EEPROM is read, the link is up,
// queue enables read back. No DMA engine, no interrupts.
class RegisterOnlyNic final : public Device {
public:
    std::string describe() const override { return "register-only NIC"; }
    PciAddress address() const override { return PciAddress{0, 0, 9, 0}; }
    std::uint16_t vendor_id() const override { return 0x8086; }
    std::uint16_t device_id() const override { return igb ? 0x10C9 : 0x100E; }
    std::uint32_t read32(std::uint32_t off) noexcept override {
        if (off == e1000::STATUS.offset) return e1000::STATUS_LU | e1000::STATUS_FD;
        if (off == e1000::EECD.offset) return e1000::EECD_AUTO_RD;
        if (off == e1000::RAL[0].offset) return 0x12005452;
        if (off == e1000::RAH[0].offset) return 0x5634 | e1000::RAH_AV;
        if (off == e1000::CTRL.offset) return regs_[off / 4] & ~e1000::CTRL_RST;
        if (off == e1000::MDIC.offset) return e1000::MDIC_READY;
        return off < sizeof regs_ ? regs_[off / 4] : 0;
    }
    void write32(std::uint32_t off, std::uint32_t v) noexcept override {
        if (off < sizeof regs_) regs_[off / 4] = v;
    }
    Result<std::uint32_t> config_read(std::uint32_t, unsigned) override { return 0u; }
    Status config_write(std::uint32_t, unsigned, std::uint32_t) override { return {}; }
    Status set_bus_master(bool) override { return {}; }
    Status reset() override { return {}; }
    Status dma_map(MemoryRegion& r) override {
        std::vector<std::uint64_t> pages(r.size() / 4096);
        for (std::size_t i = 0; i < pages.size(); i++)
            pages[i] = 0x10'0000'0000ull + (scatter && i + 1 < pages.size() ? i ^ 1 : i) * 4096;
        r.set_iova_map(12, std::move(pages));
        return {};
    }
    Status dma_unmap(MemoryRegion& r) override {
        r.clear_iova_map();
        return {};
    }
    Result<std::vector<int>> enable_interrupts(IrqKind, unsigned) override {
        return make_error(ENOTSUP, "no interrupts");
    }
    void disable_interrupts() noexcept override {}

private:
    std::uint32_t regs_[0x20000 / 4] = {};
};

Result<std::unique_ptr<Device>> open_nic(const PciAddress&) {
    return std::unique_ptr<Device>(std::make_unique<RegisterOnlyNic>());
}

// The NIC's part: completes every descriptor in [from, to).
void complete_tx(KRing& k, std::uint32_t from, std::uint32_t to) {
    auto* q = static_cast<drivers::HwQueue*>(k.priv);
    for (std::uint32_t i = from; i != to; i = k.next(i)) {
        if (igb) q->descs<drivers::adv::TxDesc>()[i].olinfo_status = drivers::adv::TXD_STAT_DD;
        else q->descs<e1000::LegacyTxDesc>()[i].hi |= e1000::LTXD_STAT_DD;
    }
}

void receive(KRing& k, std::uint32_t from, std::uint32_t n) {
    auto* q = static_cast<drivers::HwQueue*>(k.priv);
    for (std::uint32_t i = from, c = 0; c < n; c++, i = k.next(i)) {
        if (igb)
            q->descs<drivers::adv::RxDesc>()[i].hi =
                drivers::adv::RXD_STAT_DD | drivers::adv::RXD_STAT_EOP | (60ull << drivers::adv::RXD_LEN_SHIFT);
        else q->descs<e1000::LegacyRxDesc>()[i].hi = 60 | e1000::LRXD_STAT_DD | e1000::LRXD_STAT_EOP;
    }
}

// --check: the descriptors of slots [from, to) as the driver must have
// written them.
bool check_tx(KRing& k, MemoryRegion& m, std::uint32_t from, std::uint32_t to) {
    auto* q = static_cast<drivers::HwQueue*>(k.priv);
    for (std::uint32_t i = from; i != to; i = k.next(i)) {
        const netmap_slot& s = k.ring->slot[i];
        const std::uint64_t addr = m.buf_iova(s.buf_idx).value;
        bool ok;
        if (igb) {
            const auto& d = q->descs<drivers::adv::TxDesc>()[i];
            ok = d.addr == addr &&
                 d.cmd_type_len == (drivers::adv::TXD_DTYP_DATA | drivers::adv::TXD_DCMD_DEXT |
                                    drivers::adv::TXD_DCMD_IFCS | drivers::adv::TXD_DCMD_RS |
                                    drivers::adv::TXD_DCMD_EOP | s.len) &&
                 d.olinfo_status == std::uint32_t(s.len) << drivers::adv::TXD_PAYLEN_SHIFT;
        } else {
            const auto& d = q->descs<e1000::LegacyTxDesc>()[i];
            ok = d.addr == addr && d.hi == (s.len | e1000::LTXD_CMD_IFCS | e1000::LTXD_CMD_RS | e1000::LTXD_CMD_EOP);
        }
        if (!ok) {
            std::fprintf(stderr, "tx descriptor %u is not slot %u's buffer %u, length %u\n", i, i, s.buf_idx, s.len);
            return false;
        }
    }
    return true;
}

bool check_rx(KRing& k, MemoryRegion& m, std::uint32_t from, std::uint32_t to, bool armed) {
    auto* q = static_cast<drivers::HwQueue*>(k.priv);
    for (std::uint32_t i = from; i != to; i = k.next(i)) {
        const netmap_slot& s = k.ring->slot[i];
        const std::uint64_t addr = igb ? q->descs<drivers::adv::RxDesc>()[i].lo : q->descs<e1000::LegacyRxDesc>()[i].addr;
        const std::uint64_t hi = igb ? q->descs<drivers::adv::RxDesc>()[i].hi : q->descs<e1000::LegacyRxDesc>()[i].hi;
        if (armed ? addr != m.buf_iova(s.buf_idx).value || hi != 0 : s.len != 60 || s.flags != 0) {
            std::fprintf(stderr, "rx slot %u: %s\n", i, armed ? "not re-armed with its buffer" : "not a 60-byte frame");
            return false;
        }
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: e1000-cost tx|rx BATCH [--igb] [--rounds N]\n");
        return 2;
    }
    const std::string dir = argv[1];
    const std::uint32_t batch = std::uint32_t(std::strtoul(argv[2], nullptr, 0));
    std::uint32_t rounds = 0;
    bool check = false;
    for (int i = 3; i < argc; i++) {
        if (std::string(argv[i]) == "--igb") igb = true;
        else if (std::string(argv[i]) == "--scatter") scatter = true;
        else if (std::string(argv[i]) == "--check") check = true;
        else if (std::string(argv[i]) == "--rounds" && i + 1 < argc) rounds = std::uint32_t(std::strtoul(argv[++i], nullptr, 0));
    }
    if (rounds == 0) rounds = std::max<std::uint32_t>(20, 20000 / std::max<std::uint32_t>(batch, 1));
    register_port_type("e1000", &e1000::Factory::open_name);
    e1000::Factory::set_device_opener(&open_nic);
    PortOptions o;
    o.tx_slots = o.rx_slots = 1024; // room for two batches of 256 in flight
    o.memory.hugepages = HugepagePolicy::never;
    auto p = Port::open("e1000:0000:00:09.0", o);
    if (!p) {
        std::fprintf(stderr, "%s\n", p.error().message.c_str());
        return 1;
    }
    Port& port = *p.value();
    std::uint64_t packets = 0;
    if (dir == "tx") {
        netmap_ring* r = port.tx_ring(0);
        KRing& k = port.adapter().kring(Direction::tx, 0);
        for (std::uint32_t n = 0; n < rounds; n++) {
            const std::uint32_t first = r->head;
            if (nm_ring_space(r) < batch) {
                std::fprintf(stderr, "tx ring full: the driver did not reclaim\n");
                return 1;
            }
            for (std::uint32_t b = 0; b < batch; b++) {
                r->slot[r->cur].len = std::uint16_t(check ? 60 + (n + b) % 1400 : 60);
                r->head = r->cur = nm_ring_next(r, r->cur);
            }
            if (port.txsync() < 0) return 1; // sends the batch, reclaims the previous one
            if (check && !check_tx(k, port.adapter().memory(), first, r->head)) return 1;
            complete_tx(k, first, r->head); // the NIC
            packets += batch;
        }
        port.txsync();
    } else {
        netmap_ring* r = port.rx_ring(0);
        KRing& k = port.adapter().kring(Direction::rx, 0);
        for (std::uint32_t n = 0; n < rounds; n++) {
            receive(k, r->tail, batch); // the NIC
            const std::uint32_t first = r->tail;
            port.rxsync();              // picks the batch up
            if (nm_ring_space(r) != batch) {
                std::fprintf(stderr, "rx: %u packets instead of %u\n", nm_ring_space(r), batch);
                return 1;
            }
            if (check && !check_rx(k, port.adapter().memory(), first, r->tail, false)) return 1;
            if (check) // the application swaps a buffer: the driver re-arms with the new one
                std::swap(r->slot[first].buf_idx, r->slot[r->tail == 0 ? r->num_slots - 1 : r->tail - 1].buf_idx);
            r->head = r->cur = r->tail; // the application releases it
            if (check) {
                port.rxsync();
                if (!check_rx(k, port.adapter().memory(), first, r->tail, true)) return 1;
            }
            packets += batch;
        }
        port.rxsync();
    }
    std::printf("%s batch %u: %llu packets\n", dir.c_str(), batch, (unsigned long long)packets);
    return 0;
}
