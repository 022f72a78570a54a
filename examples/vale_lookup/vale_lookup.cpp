// vale_lookup: a VALE switch whose learning bridge is replaced by a flow
// load balancer (netmap's bdg_regops, as a C++ callable).
//
// Port "front" faces the clients; ports "be0".."beN-1" are the backends.
// IPv4 frames from the front go to the backend chosen by a hash of the
// 5-tuple, so every flow sticks to one backend; frames from a backend go to
// the front; anything else from the front (ARP, IPv6) is dropped and counted
// as drop_filtered on the front port.
//
// The program sends `flows` UDP flows from the front, drains the backends,
// checks that each flow landed on exactly one backend, and prints the spread
// and the switch's counters. Exit status 0 when the checks pass.
//
//   vale_lookup [backends=3] [flows=64] [frames_per_flow=8]
#include <upio/netmap_user.h>
#include <upio/port.hpp>
#include <upio/vale.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr std::size_t eth = 14;

// FNV-1a over the IPv4 addresses, protocol and the UDP/TCP ports.
std::uint32_t flow_hash(const std::uint8_t* ip, std::uint32_t avail) {
    std::uint32_t h = 2166136261u;
    auto mix = [&](const std::uint8_t* p, std::size_t n) {
        for (std::size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    };
    mix(ip + 9, 1);  // protocol
    mix(ip + 12, 8); // source and destination address
    const std::size_t ihl = std::size_t(ip[0] & 0x0f) * 4;
    if ((ip[9] == 6 || ip[9] == 17) && avail >= ihl + 4) mix(ip + ihl, 4); // ports
    return h;
}

void build_udp(char* b, std::uint16_t len, std::uint32_t flow, std::uint32_t seq) {
    std::memset(b, 0, len);
    const std::uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0xfe}, src[6] = {0x02, 0, 0, 0, 0, 0x01};
    std::memcpy(b, dst, 6);
    std::memcpy(b + 6, src, 6);
    b[12] = 0x08; // IPv4
    char* ip = b + eth;
    ip[0] = 0x45;
    ip[8] = 64;
    ip[9] = 17; // UDP
    const std::uint8_t saddr[4] = {10, 0, std::uint8_t(flow >> 8), std::uint8_t(flow)}, daddr[4] = {10, 1, 0, 1};
    std::memcpy(ip + 12, saddr, 4);
    std::memcpy(ip + 16, daddr, 4);
    const std::uint16_t sport = std::uint16_t(1024 + flow), dport = 4321;
    std::memcpy(ip + 20, &sport, 2);
    std::memcpy(ip + 22, &dport, 2);
    std::memcpy(ip + 28, &flow, 4); // payload: flow id and sequence
    std::memcpy(ip + 32, &seq, 4);
}

} // namespace

int main(int argc, char** argv) {
    const std::uint32_t backends = argc > 1 ? std::uint32_t(std::atoi(argv[1])) : 3;
    const std::uint32_t flows = argc > 2 ? std::uint32_t(std::atoi(argv[2])) : 64;
    const std::uint32_t per_flow = argc > 3 ? std::uint32_t(std::atoi(argv[3])) : 8;
    if (backends < 1 || backends > 200 || flows < 1 || flows > 4096 || per_flow < 1 || per_flow > 64) {
        std::fprintf(stderr, "usage: vale_lookup [backends 1..200] [flows 1..4096] [frames_per_flow 1..64]\n");
        return 2;
    }
    const std::string sw = "vale_lb";
    if (auto s = upio::vale::create_switch(sw); !s) {
        std::fprintf(stderr, "%s\n", s.error().message.c_str());
        return 1;
    }

    upio::PortOptions o;
    o.tx_slots = o.rx_slots = 1024;
    o.memory.hugepages = upio::HugepagePolicy::never;
    auto front = upio::Port::open(sw + ":front", o);
    if (!front) {
        std::fprintf(stderr, "%s\n", front.error().message.c_str());
        return 1;
    }
    std::vector<std::unique_ptr<upio::Port>> be;
    std::vector<std::uint32_t> be_index;
    for (std::uint32_t i = 0; i < backends; i++) {
        const std::string name = sw + ":be" + std::to_string(i);
        auto p = upio::Port::open(name, o);
        if (!p) {
            std::fprintf(stderr, "%s\n", p.error().message.c_str());
            return 1;
        }
        be.push_back(std::move(p.value()));
        be_index.push_back(upio::vale::port_index(name).value());
    }
    const std::uint32_t front_index = upio::vale::port_index(sw + ":front").value();

    // The lookup: runs in the sender's txsync, in several senders at once;
    // it captures only immutable data.
    auto status = upio::vale::set_lookup(sw, [front_index, be_index](const upio::vale::FrameInfo& f) -> std::uint32_t {
        if (f.src_port != front_index) return front_index; // replies
        if (f.len < eth + 20 || f.data[12] != 0x08 || f.data[13] != 0x00) return upio::vale::drop;
        return be_index[flow_hash(f.data + eth, f.len - eth) % be_index.size()];
    });
    if (!status) {
        std::fprintf(stderr, "%s\n", status.error().message.c_str());
        return 1;
    }

    // Send every flow's frames, interleaved, plus one ARP frame (dropped).
    upio::Port& fp = *front.value();
    netmap_ring* tx = fp.tx_ring(0);
    std::map<std::uint32_t, std::map<std::uint32_t, std::uint32_t>> seen; // flow -> backend -> frames
    auto drain = [&] {
        for (std::uint32_t i = 0; i < backends; i++) {
            be[i]->rxsync();
            netmap_ring* rx = be[i]->rx_ring(0);
            for (; !nm_ring_empty(rx); rx->head = rx->cur = nm_ring_next(rx, rx->cur)) {
                const char* b = NETMAP_BUF(rx, rx->slot[rx->cur].buf_idx);
                std::uint32_t flow;
                std::memcpy(&flow, b + eth + 28, 4);
                seen[flow][i]++;
            }
            be[i]->rxsync();
        }
    };
    for (std::uint32_t seq = 0; seq < per_flow; seq++) {
        for (std::uint32_t flow = 0; flow < flows; flow++) {
            if (nm_ring_empty(tx)) {
                fp.txsync();
                drain();
            }
            netmap_slot& s = tx->slot[tx->cur];
            build_udp(NETMAP_BUF(tx, s.buf_idx), 60, flow, seq);
            s.len = 60;
            tx->head = tx->cur = nm_ring_next(tx, tx->cur);
        }
    }
    netmap_slot& arp = tx->slot[tx->cur];
    char* a = NETMAP_BUF(tx, arp.buf_idx);
    std::memset(a, 0xff, 60);
    a[12] = 0x08;
    a[13] = 0x06;
    arp.len = 60;
    tx->head = tx->cur = nm_ring_next(tx, tx->cur);
    fp.txsync();
    drain();

    // Checks and report.
    bool ok = seen.size() == flows;
    std::vector<std::uint32_t> per_backend(backends);
    for (auto& [flow, where] : seen) {
        if (where.size() != 1 || where.begin()->second != per_flow) ok = false;
        per_backend[where.begin()->first]++;
    }
    std::printf("%u flows x %u frames over %u backends:\n", flows, per_flow, backends);
    for (std::uint32_t i = 0; i < backends; i++) std::printf("  be%u  %u flows\n", i, per_backend[i]);
    auto info = upio::vale::describe(sw).value();
    std::printf("%-16s", "port");
    for (const auto& f : upio::vale::stat_fields) std::printf(" %15.*s", int(f.name.size()), f.name.data());
    std::printf("\n");
    for (const auto& p : info.ports) {
        std::printf("%-16s", p.name.c_str());
        for (const auto& f : upio::vale::stat_fields)
            std::printf(" %15llu", static_cast<unsigned long long>(p.stats.*f.field));
        std::printf("\n");
    }
    const auto fs = upio::vale::port_stats(sw + ":front").value();
    ok = ok && fs.drop_filtered == 1 && fs.tx_packets == std::uint64_t(flows) * per_flow;
    std::printf("%s\n", ok ? "ok: every flow stuck to one backend; the ARP frame was dropped"
                           : "FAILED: a flow was split, lost, or the ARP frame got through");
    front.value().reset();
    be.clear();
    (void)upio::vale::destroy_switch(sw);
    return ok ? 0 : 1;
}
