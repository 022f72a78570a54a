// Fuzz target: RX descriptor write-backs, as a buggy or hostile device writes
// them. A driver runs on its software model, the first input byte picks
// which: bit 7 set, the ixgbe driver on an 82599 (advanced descriptors, its
// four-at-a-time receive); else bit 0, the e1000 driver on an 8254x (legacy
// descriptors) or an 82576 (advanced ones).
// The model receives frames and writes back their descriptors; then the
// input overwrites any bytes of any descriptor of the RX ring in DMA memory,
// the way a device can (lengths, status and error bits, garbage), and the
// application syncs. Every slot a sync hands over must hold a buffer of the
// region and a length within that buffer; the bytes are read, so ASan sees
// any access outside the region. Nothing may crash.
//
// The model has no hook for write-back values; the target finds the ring
// through the model's registers (RDBAL/RDBAH/RDLEN of queue 0) and the
// region's IOVA map, and writes the descriptors itself. One port per chip
// is opened once and kept (a reset costs milliseconds): each input starts
// with whatever ring positions the previous one left, as on a NIC that runs.
#include "fuzz_input.hpp"

#include "drivers/e1000/e1000.hpp"
#include "drivers/e1000/model/e1000_model.hpp"
#include "drivers/ixgbe/ixgbe.hpp"
#include "drivers/ixgbe/model/ixgbe_model.hpp"

#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

using namespace upio;
using upio::e1000::model::Chip;
using upio::e1000::model::E1000Model;
using upio::e1000::model::ModelConfig;

namespace {

[[noreturn]] void broken(const char* what, std::uint32_t a = 0, std::uint32_t b = 0) {
    std::fprintf(stderr, "rx_writeback_fuzz: %s (%u, %u)\n", what, a, b);
    std::abort();
}

E1000Model* opened_model = nullptr;
Chip next_chip = Chip::i82540em;
ixgbe::model::IxgbeModel* opened_ixgbe = nullptr;

// A DMA to a garbage address (a descriptor the input rewrote before the
// device used it) faults and is the device's problem; the rings and
// netmap_ifs are outside its mapping, so it cannot reach them.
Result<std::unique_ptr<Device>> open_model(const PciAddress& a) {
    ModelConfig c;
    c.chip = next_chip;
    c.address = a;
    auto m = std::make_unique<E1000Model>(c);
    m->set_fault_handler([](const std::string&) {});
    opened_model = m.get();
    return std::unique_ptr<Device>(std::move(m));
}

Result<std::unique_ptr<Device>> open_ixgbe_model(const PciAddress& a) {
    ixgbe::model::ModelConfig c;
    c.address = a;
    auto m = std::make_unique<ixgbe::model::IxgbeModel>(c);
    m->set_fault_handler([](const std::string&) {});
    opened_ixgbe = m.get();
    return std::unique_ptr<Device>(std::move(m));
}

struct Nic {
    std::unique_ptr<Port> port;
    Device* dev = nullptr;                                         // its registers
    std::function<bool(const std::uint8_t*, std::size_t)> receive; // the wire
    std::array<std::uint8_t, 6> mac{};
    std::uint8_t* ring = nullptr; // queue 0's RX descriptors, host view
    std::uint32_t ring_bytes = 0;
    std::uint32_t rdh = 0;        // RDH of queue 0: the next descriptor the device writes
    bool advanced = false;
};

// Queue 0's RX descriptor ring in the region, found through the device's
// RDBAL/RDBAH/RDLEN (at `q`) and the region's IOVA map (IOVA != VA: the
// models' IOMMU hands out its own addresses).
void find_ring(Nic& n, std::uint32_t q) {
    n.rdh = q + 0x10;
    const std::uint64_t iova = n.dev->read32(q) | std::uint64_t(n.dev->read32(q + 4)) << 32;
    n.ring_bytes = n.dev->read32(q + 8);
    MemoryRegion& m = n.port->memory();
    for (std::size_t off = 0; off < m.size() && !n.ring; off += m.page_size()) {
        const std::uint64_t page = m.iova(m.base() + off).value;
        if (iova >= page && iova - page < m.page_size()) n.ring = reinterpret_cast<std::uint8_t*>(m.base() + off + (iova - page));
    }
    if (!n.ring || n.ring_bytes == 0) broken("RX descriptor ring not found", std::uint32_t(iova), n.ring_bytes);
}

PortOptions small_ring() {
    PortOptions o;
    o.tx_slots = o.rx_slots = 32;
    o.memory.hugepages = HugepagePolicy::never;
    return o;
}

Nic open_nic(Chip chip, std::uint8_t dev) {
    register_port_type("e1000", &e1000::Factory::open_name);
    e1000::Factory::set_device_opener(&open_model);
    e1000::DriverOptions d;
    d.link_timeout = std::chrono::milliseconds(200);
    e1000::Factory::set_default_options(d);
    next_chip = chip;
    auto p = Port::open("e1000:" + PciAddress{0, 0, dev, 0}.str(), small_ring());
    if (!p) {
        std::fprintf(stderr, "rx_writeback_fuzz: %s\n", p.error().message.c_str());
        std::abort();
    }
    Nic n;
    n.port = std::move(p.value());
    E1000Model* model = opened_model;
    n.dev = model;
    n.receive = [model](const std::uint8_t* f, std::size_t len) { return model->receive(f, len); };
    n.mac = dynamic_cast<e1000::E1000Adapter&>(n.port->adapter()).mac();
    n.advanced = chip == Chip::i82576;
    find_ring(n, n.advanced ? 0xC000 : 0x2800); // RDBAL of queue 0
    return n;
}

Nic open_ixgbe(std::uint8_t dev) {
    register_port_type("ixgbe", &ixgbe::Factory::open_name);
    ixgbe::Factory::set_device_opener(&open_ixgbe_model);
    ixgbe::DriverOptions d;
    d.link_timeout = std::chrono::milliseconds(200);
    ixgbe::Factory::set_default_options(d);
    PortOptions o = small_ring();
    o.memory.buf_size = 2048;
    auto p = Port::open("ixgbe:" + PciAddress{0, 0, dev, 0}.str(), o);
    if (!p) {
        std::fprintf(stderr, "rx_writeback_fuzz: %s\n", p.error().message.c_str());
        std::abort();
    }
    Nic n;
    n.port = std::move(p.value());
    ixgbe::model::IxgbeModel* model = opened_ixgbe;
    n.dev = model;
    n.receive = [model](const std::uint8_t* f, std::size_t len) { return model->receive(f, len); };
    n.mac = dynamic_cast<ixgbe::IxgbeAdapter&>(n.port->adapter()).mac();
    n.advanced = true;
    find_ring(n, 0x01000); // RDBAL(0) of the 82599
    return n;
}

volatile std::uint8_t sink;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Nic nics[3] = {open_nic(Chip::i82540em, 4), open_nic(Chip::i82576, 5), open_ixgbe(6)};
    fuzz::Input in(data, size);
    const std::uint8_t pick = in.byte();
    Nic& nic = nics[pick & 0x80 ? 2 : pick & 1];
    Port& port = *nic.port;
    netmap_ring* rx = port.rx_ring(0);
    MemoryRegion& m = port.memory();
    const std::uint32_t ndesc = nic.ring_bytes / 16;
    const auto& mac = nic.mac;
    std::uint8_t frame[2048];
    for (int steps = 0; !in.empty() && steps < 64; steps++) {
        const std::uint8_t op = in.byte();
        switch (op & 3) {
        case 0: { // the wire: a frame to our MAC of 60..2047 bytes
            const std::size_t len = 60 + in.get<std::uint16_t>() % (sizeof frame - 60);
            std::memset(frame, op, len);
            std::memcpy(frame, mac.data(), 6);
            nic.receive(frame, len);
            break;
        }
        case 1: { // the device writes bytes of a descriptor: k descriptors back from RDH
            // (k = 0: the one written last), so an input means the same on any ring position
            const std::uint32_t k = in.get<std::uint16_t>() % ndesc;
            const std::uint32_t d = (nic.dev->read32(nic.rdh) + 2 * ndesc - 1 - k) % ndesc;
            const unsigned at = in.byte() % 16, n = 1 + in.byte() % 16;
            for (unsigned b = 0; b < n && at + b < 16; b++) nic.ring[16 * d + at + b] = in.byte();
            break;
        }
        case 2: { // the application syncs and reads what it was handed
            const std::uint32_t from = rx->tail;
            port.rxsync(); // an error or not: what it handed over must be sound
            if (rx->num_slots != 32) broken("the ring's header changed under the application", rx->num_slots);
            if (rx->tail >= rx->num_slots) broken("tail beyond the ring", rx->tail);
            for (std::uint32_t i = from; i != rx->tail; i = nm_ring_next(rx, i)) {
                const netmap_slot& s = rx->slot[i];
                if (!m.valid_buf(s.buf_idx)) broken("an rx slot with a buffer outside the region", i, s.buf_idx);
                if (s.len > m.buf_size()) broken("an rx slot with a length beyond its buffer", i, s.len);
                const auto* b = reinterpret_cast<const std::uint8_t*>(NETMAP_BUF(rx, s.buf_idx));
                std::uint8_t x = 0;
                for (std::uint32_t k = 0; k < s.len; k++) x ^= b[k];
                sink = x;
            }
            break;
        }
        default: // the application releases what it holds
            rx->head = rx->cur = rx->tail;
            break;
        }
    }
    // Leave the next input a ring it can use: everything released.
    rx->head = rx->cur = rx->tail;
    port.rxsync();
    if (rx->tail >= rx->num_slots || rx->head >= rx->num_slots || rx->cur >= rx->num_slots)
        broken("a ring index beyond the ring after the closing sync", rx->tail, rx->head);
    return 0;
}
