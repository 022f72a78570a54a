// Fuzz target: what the VALE daemon takes from its clients, and what a
// client takes from the daemon. The first byte picks the subject:
//   0  a client's Hello (parse_hello), the rest of the input as the message
//   1  the daemon's Welcome (parse_welcome)
//   2  a client's Request (parse_request)
//   3  vale-ctl's command (parse_ctl_request)
//   4  a program of steps against the daemon's forwarding round with two
//      clients, a sender and a receiver: each step writes what a client may
//      write (the sender's tx_head and tx slots, the receiver's rx_cur and
//      rx slots, the daemon-sleep flag, frame bytes) or runs a round
//   5  the daemon's list as vale-ctl and the preload read it (parse_listing)
// Nothing may crash or read or write outside the regions; a refusal says
// why; the daemon's indices stay inside the rings.
#include "vale/daemon.hpp"

#include <upio/backend/memory_region.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace {

using namespace upio;
using namespace upio::vale;
using namespace upio::vale::daemon;

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

struct Setup {
    std::shared_ptr<MemoryRegion> mem;
    Daemon::Impl im;
    Client* c[2] = {};            // 0: sender, 1: receiver
    netmap_ring* tx[2] = {};
    netmap_ring* rx[2] = {};
};

Setup& setup() {
    static Setup* s = [] {
        auto* st = new Setup();
        MemoryConfig mc;
        mc.hugepages = HugepagePolicy::never;
        st->mem = MemoryRegion::create("fuzz", 65536, 64, mc).value();
        char* objs = st->mem->base();
        const std::size_t ring_len = sizeof(netmap_ring) + slots * sizeof(netmap_slot);
        for (int i = 0; i < 2; i++) {
            st->tx[i] = reinterpret_cast<netmap_ring*>(objs + 8192 * i);
            st->rx[i] = reinterpret_cast<netmap_ring*>(objs + 8192 * i + 4096);
            for (netmap_ring* r : {st->tx[i], st->rx[i]}) {
                std::memset(static_cast<void*>(r), 0, ring_len);
                for (std::uint32_t k = 0; k < slots; k++) r->slot[k].buf_idx = 2 + k + (r == st->tx[i] ? 0 : 16);
            }
            auto* ctl = new (objs + 16384 + 4096 * i) SharedVale();
            ctl->rings = 1;
            auto vp = detail::join_port("valefuzz", i == 0 ? "s" : "r", "fuzz", false, [&](detail::VPort& p) {
                return p.adopt(st->mem, {st->tx[i]}, {st->rx[i]}, slots);
            });
            auto c = std::make_unique<Client>();
            c->vp = vp.value();
            c->ctl = ctl;
            c->rings = 1;
            st->c[i] = c.get();
            st->im.clients[100 + i] = std::move(c); // no descriptors: nobody to wake
        }
        return st;
    }();
    return *s;
}

void run_rounds(Input in) {
    Setup& s = setup();
    for (int step = 0; step < 64; step++) {
        std::uint8_t op;
        std::uint32_t a, b;
        if (!in.take(&op, 1) || !in.take(&a, 4) || !in.take(&b, 4)) break;
        const int who = op >> 7;
        SharedPair& p = s.c[who]->ctl->pair[0];
        switch (op % 7) {
        case 0: p.tx_head.v = a; break;
        case 1: p.rx_cur.v = a; break;
        case 2: {
            netmap_slot& sl = s.tx[who]->slot[a % slots];
            sl.buf_idx = b;
            sl.len = std::uint16_t(a >> 16);
            sl.flags = std::uint16_t(a >> 4) & NS_MOREFRAG;
            break;
        }
        case 3: s.rx[who]->slot[a % slots].buf_idx = b; break;
        case 4: s.c[who]->ctl->daemon_sleep.v = a; break;
        case 5: { // frame bytes: a destination and a source address
            char* buf = s.mem->buf(2 + a % 32);
            std::memcpy(buf + (b & 1 ? 0 : 6), &b, 4);
            break;
        }
        default: {
            (void)s.im.round();
            for (Client* c : s.c) {
                const KRing& t = c->vp->kring(Direction::tx, 0);
                const KRing& r = c->vp->kring(Direction::rx, 0);
                if (t.nr_hwcur.load() >= slots || r.nr_hwcur.load() >= slots || r.nr_hwtail.load() >= slots ||
                    c->ctl->pair[0].tx_done.v >= slots || c->ctl->pair[0].rx_tail.v >= slots)
                    __builtin_trap();
            }
        }
        }
    }
}

template <class R> void refused_with_reason(const R& r) {
    if (!r && r.error().message.empty()) __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t* p = data + 1;
    const std::size_t n = size - 1;
    switch (data[0] % 6) {
    case 0: {
        auto r = parse_hello(p, n, n % 3);
        refused_with_reason(r);
        if (r && (r->rings == 0 || r->rings > max_rings ||
                  r->shared_ofs + shared_bytes(r->rings) > r->object_bytes))
            __builtin_trap(); // an accepted control block lies inside the objects area
        break;
    }
    case 1: refused_with_reason(parse_welcome(p, n, n % 2)); break;
    case 2: refused_with_reason(parse_request(p, n, n % 2)); break;
    case 3: {
        auto r = parse_ctl_request(p, n, n % 2);
        refused_with_reason(r);
        if (r && (std::memchr(r->arg, 0, sizeof r->arg) == nullptr || !std::strchr("ladnrbB", r->op)))
            __builtin_trap();
        break;
    }
    case 5: {
        std::vector<DaemonSwitchEntry> out;
        const Status st = parse_listing(std::string_view(reinterpret_cast<const char*>(p), n), out);
        if (!st && st.error().message.empty()) __builtin_trap();
        for (const auto& sw : out)
            for (const auto& port : sw.ports)
                if (port.name.empty()) __builtin_trap(); // a port line names its port
        break;
    }
    default: run_rounds(Input{p, n});
    }
    return 0;
}
