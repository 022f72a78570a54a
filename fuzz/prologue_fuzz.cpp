// Fuzz target: the validation prologue and the pipe behind it. A pipe of two
// ends (8-slot rings); the input is a program of steps that write what an
// application may write -- head, cur, and any field of any slot of either
// end's rings, owned or not -- and sync. After every step:
//   - a refused sync (-EINVAL) changed nothing the application can see: no
//     ring of either end moved or had a slot rewritten;
//   - every slot a successful sync handed to an application (tx: the free
//     slots between the old and the new tail; rx: the frames there) holds a
//     buffer of the region and, on rx, a length within the buffer -- unless
//     that very value is garbage the same application wrote into its own
//     ring (it may hurt itself, not another port); the bytes are read, so
//     ASan sees any access outside the region;
//   - tail stays within the ring.
// Nothing may crash; ASan and UBSan must stay quiet.
#include "fuzz_input.hpp"

#include <upio/netmap_user.h>
#include <upio/backend/memory_region.hpp>
#include <upio/port.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

using namespace upio;

namespace {

[[noreturn]] void broken(const char* what, std::uint32_t a = 0, std::uint32_t b = 0) {
    std::fprintf(stderr, "prologue_fuzz: %s (%u, %u)\n", what, a, b);
    std::abort();
}

struct RingCopy {
    std::uint32_t head, cur, tail;
    std::vector<netmap_slot> slots;
};
RingCopy copy(const netmap_ring* r) {
    return {r->head, r->cur, r->tail, std::vector<netmap_slot>(r->slot, r->slot + r->num_slots)};
}
bool same(const RingCopy& c, const netmap_ring* r) {
    return c.head == r->head && c.cur == r->cur && c.tail == r->tail &&
           std::memcmp(c.slots.data(), r->slot, c.slots.size() * sizeof(netmap_slot)) == 0;
}

volatile std::uint8_t sink;

// Values an application wrote into slots of its own ring.
struct Written {
    std::vector<std::uint32_t> buf_idx, len;
    static bool has(const std::vector<std::uint32_t>& v, std::uint32_t x) {
        return std::find(v.begin(), v.end(), x) != v.end();
    }
};

// The slots [from, tail) a sync just handed to the application.
void check_handed(Port& p, netmap_ring* r, std::uint32_t from, bool rx, const Written& own) {
    MemoryRegion& m = p.memory();
    if (r->tail >= r->num_slots) broken("tail beyond the ring", r->tail, r->num_slots);
    for (std::uint32_t i = from; i != r->tail; i = nm_ring_next(r, i)) {
        const netmap_slot& s = r->slot[i];
        if (!m.valid_buf(s.buf_idx)) {
            if (Written::has(own.buf_idx, s.buf_idx)) continue;
            broken(rx ? "an rx slot handed over with a buffer outside the region"
                      : "a tx slot handed over with a buffer outside the region",
                   i, s.buf_idx);
        }
        if (!rx) continue;
        if (s.len > m.buf_size()) {
            if (Written::has(own.len, s.len)) continue;
            broken("an rx slot handed over with a length beyond its buffer", i, s.len);
        }
        const auto* b = reinterpret_cast<const std::uint8_t*>(NETMAP_BUF(r, s.buf_idx));
        std::uint8_t x = 0;
        for (std::uint32_t k = 0; k < s.len; k++) x ^= b[k];
        sink = x;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static unsigned serial = 0;
    fuzz::Input in(data, size);
    PortOptions o;
    o.tx_slots = o.rx_slots = 8;
    o.memory.hugepages = HugepagePolicy::never;
    const std::string name = "pipe:fz" + std::to_string(serial++);
    auto a = Port::open(name + "{0", o);
    auto b = Port::open(name + "}0", o);
    if (!a || !b) broken("cannot open the pipe");
    Port* ports[2] = {a.value().get(), b.value().get()};
    netmap_ring* rings[4] = {ports[0]->tx_ring(0), ports[0]->rx_ring(0), ports[1]->tx_ring(0), ports[1]->rx_ring(0)};
    std::uint64_t seq = 0;
    Written own[4];
    for (int steps = 0; !in.empty() && steps < 256; steps++) {
        const std::uint8_t op = in.byte();
        const int ri = (op >> 4) & 3;
        netmap_ring* r = rings[ri];
        Port& owner = *ports[ri >> 1];
        const std::uint32_t n = r->num_slots;
        switch (op & 0x7) {
        case 0: r->head = in.byte() % (n + 2); break; // sometimes beyond the ring
        case 1: r->cur = in.byte() % (n + 2); break;
        case 2: { // any field of any slot
            netmap_slot& s = r->slot[in.byte() % n];
            const std::uint8_t field = in.byte() % 3;
            if (field == 0) own[ri].buf_idx.push_back(s.buf_idx = in.get<std::uint32_t>());
            else if (field == 1) own[ri].len.push_back(s.len = in.get<std::uint16_t>());
            else s.flags = in.get<std::uint16_t>();
            break;
        }
        case 3: { // well-formed: queue a frame on a tx ring, release one on an rx ring
            if (nm_ring_empty(r)) break;
            netmap_slot& s = r->slot[r->cur];
            if ((ri & 1) == 0 && owner.memory().valid_buf(s.buf_idx)) {
                std::memcpy(NETMAP_BUF(r, s.buf_idx), &seq, sizeof seq);
                s.len = 60;
                s.flags = 0;
                seq++;
            }
            r->head = r->cur = nm_ring_next(r, r->cur);
            break;
        }
        default: { // a sync of one end, one direction
            const bool rx = ri & 1;
            Port& p = owner;
            netmap_ring* mine = rx ? p.rx_ring(0) : p.tx_ring(0);
            RingCopy before[4] = {copy(rings[0]), copy(rings[1]), copy(rings[2]), copy(rings[3])};
            const std::uint32_t old_tail = mine->tail;
            const int rc = rx ? p.rxsync() : p.txsync();
            if (rc == -EINVAL) {
                for (int k = 0; k < 4; k++)
                    if (!same(before[k], rings[k])) broken("a refused sync changed a ring", unsigned(k));
            } else if (rc != 0) {
                broken("a sync failed with neither 0 nor EINVAL", unsigned(-rc));
            } else {
                check_handed(p, mine, old_tail, rx, own[ri]);
            }
            break;
        }
        }
    }
    return 0;
}
