// vale_cost -- the VALE switch's own work per frame, for callgrind.
//
//   vale_cost SENDERS[b] BATCH LEN [ROUNDS]
//
// SENDERS ports send to one receiver ("sink") whose address the switch has
// learned (with "b", as "1b": to the broadcast address, as pkt-gen does by
// default; with one sender the sink is the only other port); each round every sender queues BATCH frames of LEN bytes and
// runs txsync (validation, lookup, copy into the sink's ring), then the
// sink runs rxsync and releases what it got. Under
//   valgrind --tool=callgrind --collect-atstart=no \
//            --toggle-collect='upio::Port::txsync*' --toggle-collect='upio::Port::rxsync*'
// the instructions counted are the syncs' alone (the framework's prologue and
// the switch); divided by the "frames" this prints, instructions per frame.
// bench/vale_callgrind_check.sh holds them to bounds.
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr std::uint8_t sink_mac[6] = {0x02, 0, 0, 0, 0, 0x64};

int usage() {
    std::fprintf(stderr, "usage: vale_cost SENDERS(1-8)[b: broadcast] BATCH(1-512) LEN(60-1514) [ROUNDS]\n");
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 4 || argc > 5) return usage();
    char* end = nullptr;
    const int nsend = int(std::strtol(argv[1], &end, 10));
    const bool bcast = *end == 'b';
    if (*end && !(bcast && end[1] == 0)) return usage();
    const int batch = std::atoi(argv[2]);
    const int len = std::atoi(argv[3]);
    const int rounds = argc == 5 ? std::atoi(argv[4]) : 200;
    if (nsend < 1 || nsend > 8 || (bcast && nsend > 1) || batch < 1 || batch > 512 || len < 60 || len > 1514 || rounds < 1) return usage();

    upio::PortOptions o;
    o.tx_slots = o.rx_slots = 1024;
    const std::string sw = "valecost";
    auto sink_r = upio::Port::open(sw + ":sink", o);
    if (!sink_r) {
        std::fprintf(stderr, "vale_cost: %s\n", sink_r.error().message.c_str());
        return 1;
    }
    std::unique_ptr<upio::Port> sink = std::move(sink_r.value());
    std::vector<std::unique_ptr<upio::Port>> senders;
    for (int i = 0; i < nsend; i++) {
        auto p = upio::Port::open(sw + ":s" + std::to_string(i), o);
        if (!p) {
            std::fprintf(stderr, "vale_cost: %s\n", p.error().message.c_str());
            return 1;
        }
        netmap_ring* r = p.value()->tx_ring(0);
        for (std::uint32_t k = 0; k < r->num_slots; k++) {
            char* b = NETMAP_BUF(r, r->slot[k].buf_idx);
            std::memset(b, 0x5a, std::size_t(len));
            if (bcast)
                std::memset(b, 0xff, 6);
            else
                std::memcpy(b, sink_mac, 6);
            const std::uint8_t src[6] = {0x02, 0, 0, 0, 1, std::uint8_t(i)};
            std::memcpy(b + 6, src, 6);
            r->slot[k].len = std::uint16_t(len);
        }
        senders.push_back(std::move(p.value()));
    }
    // The sink speaks once, so that its address is learned.
    netmap_ring* t = sink->tx_ring(0);
    char* b = NETMAP_BUF(t, t->slot[0].buf_idx);
    std::memset(b, 0xff, 6);
    std::memcpy(b + 6, sink_mac, 6);
    t->slot[0].len = 60;
    t->head = t->cur = 1;
    sink->txsync();

    std::uint64_t frames = 0, expected = 0;
    netmap_ring* rx = sink->rx_ring(0);
    for (int n = 0; n < rounds; n++) {
        for (auto& p : senders) {
            netmap_ring* r = p->tx_ring(0);
            const std::uint32_t q = std::min(std::uint32_t(batch), nm_ring_space(r));
            std::uint32_t h = r->head + q;
            if (h >= r->num_slots) h -= r->num_slots;
            r->head = r->cur = h;
            expected += q;
            p->txsync();
        }
        sink->rxsync();
        for (std::uint32_t i = rx->head; i != rx->tail; i = nm_ring_next(rx, i)) frames++;
        rx->head = rx->cur = rx->tail;
        sink->rxsync();
    }
    std::printf("senders %d%s batch %d len %d frames %llu\n", nsend, bcast ? "b" : "", batch, len, static_cast<unsigned long long>(frames));
    if (frames != expected) {
        std::fprintf(stderr, "vale_cost: %llu frames queued, %llu received\n",
                     static_cast<unsigned long long>(expected), static_cast<unsigned long long>(frames));
        return 1;
    }
    return 0;
}
