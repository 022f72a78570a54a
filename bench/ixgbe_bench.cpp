// ixgbe driver cost per packet on the 82599 model, for callgrind.
//
//   valgrind --tool=callgrind --collect-atstart=no ixgbe_bench fwd 32
//
// Modes: rx (frames arrive, rxsync takes them and gives the slots back),
// tx (txsync sends a batch and reclaims), fwd (rx -> tx by swapping buffers,
// zero copy). Only the driver's txsync/rxsync are collected: the model runs
// with collection off (a Device wrapper toggles it around every register
// access), and so do the application's loop and the core's prologue. The
// program prints the packet count; instructions per packet = collected Ir /
// packets. Without callgrind it prints ns per packet, for what that is worth.
#include "drivers/ixgbe/ixgbe.hpp"
#include "drivers/ixgbe/model/ixgbe_model.hpp"

#include <upio/netmap_user.h>

#include <valgrind/callgrind.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace upio;

namespace {

bool collecting = false;

void collect(bool on) {
    if (on != collecting) CALLGRIND_TOGGLE_COLLECT;
    collecting = on;
}

// Forwards to the model with collection off, so the model's instructions do
// not count as the driver's. The virtual call itself stays in the count (a
// VfioDevice costs the same call plus an MMIO store).
class Uncounted final : public Device {
public:
    explicit Uncounted(std::unique_ptr<ixgbe::model::IxgbeModel> m) : m_(std::move(m)) {}
    ixgbe::model::IxgbeModel& model() { return *m_; }

    std::string describe() const override { return m_->describe(); }
    PciAddress address() const override { return m_->address(); }
    std::uint16_t vendor_id() const override { return m_->vendor_id(); }
    std::uint16_t device_id() const override { return m_->device_id(); }
    std::uint32_t read32(std::uint32_t off) noexcept override {
        const bool was = collecting;
        collect(false);
        std::uint32_t v = m_->read32(off);
        collect(was);
        return v;
    }
    void write32(std::uint32_t off, std::uint32_t v) noexcept override {
        const bool was = collecting;
        collect(false);
        m_->write32(off, v);
        collect(was);
    }
    Result<std::uint32_t> config_read(std::uint32_t o, unsigned w) override { return m_->config_read(o, w); }
    Status config_write(std::uint32_t o, unsigned w, std::uint32_t v) override { return m_->config_write(o, w, v); }
    Status set_bus_master(bool on) override { return m_->set_bus_master(on); }
    Status reset() override { return m_->reset(); }
    Status dma_map(MemoryRegion& r) override { return m_->dma_map(r); }
    Status dma_unmap(MemoryRegion& r) override { return m_->dma_unmap(r); }
    Result<std::vector<int>> enable_interrupts(IrqKind k, unsigned n) override { return m_->enable_interrupts(k, n); }
    void disable_interrupts() noexcept override { m_->disable_interrupts(); }

private:
    std::unique_ptr<ixgbe::model::IxgbeModel> m_;
};

// What Port::sync_one does around a backend call, minus the validation.
int sync(Adapter& a, KRing& k, unsigned flags = 0) {
    netmap_ring* r = k.ring;
    k.rhead = r->head;
    k.rcur = r->cur;
    collect(true);
    int rc = k.dir == Direction::tx ? a.txsync(k, flags) : a.rxsync(k, flags);
    collect(false);
    k.rtail = k.nr_hwtail.load(std::memory_order_acquire);
    r->tail = k.rtail;
    return rc;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s rx|tx|fwd BATCH [ROUNDS]\n", argv[0]);
        return 2;
    }
    const std::string mode = argv[1];
    const std::uint32_t batch = std::uint32_t(std::atoi(argv[2]));
    const std::uint32_t rounds = argc > 3 ? std::uint32_t(std::atoi(argv[3])) : 20000 / batch + 50;
    if (batch < 1 || batch > 256 || (mode != "rx" && mode != "tx" && mode != "fwd")) {
        std::fprintf(stderr, "mode rx|tx|fwd, batch 1..256\n");
        return 2;
    }

    auto m = std::make_unique<ixgbe::model::IxgbeModel>();
    auto* dev = new Uncounted(std::move(m));
    ixgbe::model::IxgbeModel& model = dev->model();
    PortOptions o;
    o.tx_slots = o.rx_slots = 1024;
    o.memory.hugepages = HugepagePolicy::never;
    ixgbe::DriverOptions d;
    d.link_timeout = std::chrono::seconds(10); // generous: valgrind on a loaded machine is slow
    auto ar = ixgbe::make_adapter(std::unique_ptr<Device>(dev), o, d);
    if (!ar) {
        std::fprintf(stderr, "%s\n", ar.error().message.c_str());
        return 1;
    }
    ixgbe::IxgbeAdapter& a = *ar.value();
    if (Status s = a.register_port(true); !s) {
        std::fprintf(stderr, "%s\n", s.error().message.c_str());
        return 1;
    }
    KRing& rk = a.kring(Direction::rx, 0);
    KRing& tk = a.kring(Direction::tx, 0);
    netmap_ring* rx = rk.ring;
    netmap_ring* tx = tk.ring;

    std::vector<std::uint8_t> frame(60, 0);
    const auto mac = a.mac();
    std::memcpy(frame.data(), mac.data(), 6);
    frame[12] = 0x88;
    frame[13] = 0xb5;
    // tx buffers hold a frame already (pkt-gen rewrites only the length)
    for (std::uint32_t i = 0; i < tk.num_slots; i++)
        std::memcpy(NETMAP_BUF(tx, tx->slot[i].buf_idx), frame.data(), frame.size());

    std::uint64_t packets = 0;
    const std::uint32_t warmup = 20;
    auto t0 = std::chrono::steady_clock::now();
    for (std::uint32_t round = 0; round < warmup + rounds; round++) {
        if (round == warmup) {
            CALLGRIND_ZERO_STATS;
            packets = 0;
            t0 = std::chrono::steady_clock::now();
        }
        if (mode == "rx" || mode == "fwd")
            for (std::uint32_t i = 0; i < batch; i++) model.receive(frame.data(), frame.size());
        if (mode == "rx") {
            sync(a, rk);
            packets += nm_ring_space(rx);
            rx->head = rx->cur = rx->tail; // give everything back (next rxsync)
        } else if (mode == "tx") {
            std::uint32_t n = std::min(batch, nm_ring_space(tx));
            for (std::uint32_t i = 0; i < n; i++) {
                tx->slot[tx->cur].len = 60;
                tx->head = tx->cur = nm_ring_next(tx, tx->cur);
            }
            sync(a, tk);
            packets += n;
        } else {
            sync(a, rk);
            std::uint32_t n = std::min(nm_ring_space(rx), nm_ring_space(tx));
            for (std::uint32_t i = 0; i < n; i++) { // zero copy: swap the buffers
                netmap_slot& rs = rx->slot[rx->cur];
                netmap_slot& ts = tx->slot[tx->cur];
                std::swap(rs.buf_idx, ts.buf_idx);
                ts.len = rs.len;
                rs.flags |= NS_BUF_CHANGED;
                ts.flags |= NS_BUF_CHANGED;
                rx->head = rx->cur = nm_ring_next(rx, rx->cur);
                tx->head = tx->cur = nm_ring_next(tx, tx->cur);
            }
            sync(a, tk);
            packets += n;
        }
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    std::printf("mode %s batch %u packets %llu ns/packet %.1f (model included)\n", mode.c_str(), batch,
                (unsigned long long)packets, ns / double(packets ? packets : 1));
    return packets ? 0 : 1;
}
