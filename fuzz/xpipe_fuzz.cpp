// Fuzz target: what a cross-process pipe takes from the other process.
// The first byte picks the subject:
//   0  a Hello (parse_hello), the rest of the input as the message
//   1  a Welcome (parse_welcome)
//   2  the shared words and slots at a sync: the input is a script of
//      steps, each writing the peer's hwtail / hwcur words, sleep flags and
//      some slots of the rings, then running xrxsync or xtxsync
// Nothing may crash, read or write outside the region, or hand the
// application a slot outside it; a refusal says why.
#include "pipes/xpipe.hpp"

#include <upio/backend/memory_region.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace {

using namespace upio;
using namespace upio::pipes;

struct Input {
    const std::uint8_t* p;
    std::size_t n;
    bool take(void* out, std::size_t len) {
        if (n < len) return false;
        std::memcpy(out, p, len);
        p += len;
        n -= len;
        return true;
    }
};

constexpr std::uint32_t slots = 16;

void run_syncs(Input in) {
    MemoryConfig mc;
    mc.hugepages = HugepagePolicy::never;
    static std::shared_ptr<MemoryRegion> mem = MemoryRegion::create("fuzz", 65536, 64, mc).value();
    const std::size_t ring_len = sizeof(netmap_ring) + slots * sizeof(netmap_slot);
    char* objs = mem->base();
    auto* my_tx = reinterpret_cast<netmap_ring*>(objs);
    auto* my_rx = reinterpret_cast<netmap_ring*>(objs + 4096);
    auto* peer_rx = reinterpret_cast<netmap_ring*>(objs + 8192);
    auto* shared = new (objs + 12288) xproc::SharedPipe();
    for (netmap_ring* r : {my_tx, my_rx, peer_rx}) {
        std::memset(r, 0, ring_len);
        for (std::uint32_t s = 0; s < slots; s++) r->slot[s].buf_idx = 2 + s;
    }
    KRing tx, rx;
    for (KRing* k : {&tx, &rx}) {
        k->num_slots = slots;
        k->dir = k == &tx ? Direction::tx : Direction::rx;
    }
    tx.ring = my_tx;
    rx.ring = my_rx;
    tx.nr_hwtail = slots - 1;
    XLink x;
    x.shared = shared;
    x.out = &shared->dir[0];
    x.in = &shared->dir[1];
    x.peer_rx = peer_rx->slot;
    x.tx_pos = &x.own_tx_pos;
    x.spare = 63;
    x.published_tail = 0;
    x.state = LinkState::up;
    for (int step = 0; step < 64; step++) {
        std::uint8_t op;
        std::uint32_t a, b;
        if (!in.take(&op, 1) || !in.take(&a, 4) || !in.take(&b, 4)) break;
        switch (op % 6) {
        case 0: x.in->hwtail.v = a; break;          // the peer as sender
        case 1: x.out->hwcur.v = a; break;          // the peer as receiver
        case 2: peer_rx->slot[a % slots].buf_idx = b; peer_rx->slot[b % slots].len = std::uint16_t(a); break;
        case 3: my_rx->slot[a % slots].buf_idx = b; my_rx->slot[b % slots].len = std::uint16_t(a); break;
        case 4: { // the application releases / hands over up to a slot, as the prologue allows
            KRing& k = (a & 1) ? tx : rx;
            const std::uint32_t tail = k.nr_hwtail.load();
            const std::uint32_t room = k.distance(k.rhead, tail);
            k.rhead = (k.rhead + (room ? b % (room + 1) : 0)) % slots;
            if (&k == &tx) // what the prologue guarantees of handed-over tx slots
                for (std::uint32_t i = k.nr_hwcur.load(); i != k.rhead; i = k.next(i)) {
                    my_tx->slot[i].buf_idx = 2 + (my_tx->slot[i].buf_idx % 60);
                    my_tx->slot[i].len = std::uint16_t(my_tx->slot[i].len % 2049);
                    my_tx->slot[i].flags = 0;
                }
            break;
        }
        default: {
            const std::uint32_t old = rx.nr_hwtail.load();
            if (a & 1) (void)xtxsync(tx, x, *mem);
            else (void)xrxsync(rx, x, *mem);
            const std::uint32_t t = rx.nr_hwtail.load();
            if (t >= slots || tx.nr_hwcur.load() >= slots || x.own_tx_pos.load() >= slots) __builtin_trap();
            // every slot handed to the application lies inside the region
            for (std::uint32_t i = old; i != t; i = rx.next(i))
                if (!mem->valid_buf(my_rx->slot[i].buf_idx) || my_rx->slot[i].len > mem->buf_size())
                    __builtin_trap();
        }
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t* p = data + 1;
    const std::size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: {
        auto r = xproc::parse_hello(p, n, n % 3);
        if (!r && r.error().message.empty()) __builtin_trap();
        break;
    }
    case 1: {
        auto r = xproc::parse_welcome(p, n, n % 3);
        if (!r && r.error().message.empty()) __builtin_trap();
        if (r) {
            const xproc::Welcome& w = r.value();
            if (w.tx_ofs + sizeof(netmap_ring) + std::uint64_t(w.slots) * sizeof(netmap_slot) > w.object_bytes)
                __builtin_trap(); // accepted rings lie inside the objects area
        }
        break;
    }
    default: run_syncs(Input{p, n});
    }
    return 0;
}
