// Fuzz target: RX descriptor write-backs, as a buggy or hostile device writes
// them. The e1000 driver runs on the software model (an 8254x with legacy
// descriptors, or an 82576 with advanced ones: the first input byte picks).
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

#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <cstdio>
#include <cstdlib>
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

Result<std::unique_ptr<Device>> open_model(const PciAddress& a) {
    ModelConfig c;
    c.chip = next_chip;
    c.address = a;
    auto m = std::make_unique<E1000Model>(c);
    // A DMA to a garbage address (a descriptor the input rewrote before the
    // device used it) faults and is the device's problem; the rings and
    // netmap_ifs are outside its mapping, so it cannot reach them.
    m->set_fault_handler([](const std::string&) {});
    opened_model = m.get();
    return std::unique_ptr<Device>(std::move(m));
}

struct Nic {
    std::unique_ptr<Port> port;
    E1000Model* model = nullptr;
    std::uint8_t* ring = nullptr; // queue 0's RX descriptors, host view
    std::uint32_t ring_bytes = 0;
    std::uint32_t rdh = 0;        // RDH of queue 0: the next descriptor the device writes
    bool advanced = false;
};

Nic open_nic(Chip chip, std::uint8_t dev) {
    register_port_type("e1000", &e1000::Factory::open_name);
    e1000::Factory::set_device_opener(&open_model);
    e1000::DriverOptions d;
    d.link_timeout = std::chrono::milliseconds(200);
    e1000::Factory::set_default_options(d);
    next_chip = chip;
    PortOptions o;
    o.tx_slots = o.rx_slots = 32;
    o.memory.hugepages = HugepagePolicy::never;
    auto p = Port::open("e1000:" + PciAddress{0, 0, dev, 0}.str(), o);
    if (!p) {
        std::fprintf(stderr, "rx_writeback_fuzz: %s\n", p.error().message.c_str());
        std::abort();
    }
    Nic n;
    n.port = std::move(p.value());
    n.model = opened_model;
    n.advanced = chip == Chip::i82576;
    const std::uint32_t q = n.advanced ? 0xC000 : 0x2800; // RDBAL of queue 0
    n.rdh = q + 0x10;
    const std::uint64_t iova = n.model->read32(q) | std::uint64_t(n.model->read32(q + 4)) << 32;
    n.ring_bytes = n.model->read32(q + 8);
    // The region's page whose IOVA holds the ring (IOVA != VA: the model's
    // IOMMU hands out its own addresses).
    MemoryRegion& m = n.port->memory();
    for (std::size_t off = 0; off < m.size() && !n.ring; off += m.page_size()) {
        const std::uint64_t page = m.iova(m.base() + off).value;
        if (iova >= page && iova - page < m.page_size()) n.ring = reinterpret_cast<std::uint8_t*>(m.base() + off + (iova - page));
    }
    if (!n.ring || n.ring_bytes == 0) broken("RX descriptor ring not found", std::uint32_t(iova), n.ring_bytes);
    return n;
}

volatile std::uint8_t sink;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Nic nics[2] = {open_nic(Chip::i82540em, 4), open_nic(Chip::i82576, 5)};
    fuzz::Input in(data, size);
    Nic& nic = nics[in.byte() & 1];
    Port& port = *nic.port;
    netmap_ring* rx = port.rx_ring(0);
    MemoryRegion& m = port.memory();
    const std::uint32_t ndesc = nic.ring_bytes / 16;
    auto mac = dynamic_cast<e1000::E1000Adapter&>(port.adapter()).mac();
    std::uint8_t frame[2048];
    for (int steps = 0; !in.empty() && steps < 64; steps++) {
        const std::uint8_t op = in.byte();
        switch (op & 3) {
        case 0: { // the wire: a frame to our MAC of 60..2047 bytes
            const std::size_t len = 60 + in.get<std::uint16_t>() % (sizeof frame - 60);
            std::memset(frame, op, len);
            std::memcpy(frame, mac.data(), 6);
            nic.model->receive(frame, len);
            break;
        }
        case 1: { // the device writes bytes of a descriptor: k descriptors back from RDH
            // (k = 0: the one written last), so an input means the same on any ring position
            const std::uint32_t k = in.get<std::uint16_t>() % ndesc;
            const std::uint32_t d = (nic.model->read32(nic.rdh) + 2 * ndesc - 1 - k) % ndesc;
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
