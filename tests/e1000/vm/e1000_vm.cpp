// upio-e1000-vm -- the e1000 driver against a real device (QEMU's e1000,
// e1000e and igb models through VFIO in the test VM).
//
//   upio-e1000-vm info ADDR --mac MAC
//       opens the port, checks the MAC read from the NIC and the link
//   upio-e1000-vm echo ADDR [--count N] [--window W] [--poll] [--rings R] [--irq KIND]
//       sends N sequence-numbered frames of mixed sizes (60..1514 bytes) to
//       the host checker in "echo" mode and checks that every one comes back
//       intact and in order; waits on interrupts unless --poll (and then
//       checks that interrupts did wake it); then checks that the hardware
//       counters agree with the traffic; with --rings the NIC runs R queue
//       pairs (RSS; non-IP frames all land on queue 0); with --irq (msix,
//       msi, intx; also for info) fails unless the driver chose that
//       interrupt kind
//   upio-e1000-vm rss ADDR --rings R [--count N] [--flows F]
//       RSS on the 82576: N IPv4/UDP frames of F flows (source address and
//       port differ per flow) go out on queue 0 and come back through the
//       host checker's "echo"; every one must arrive intact, on the queue
//       the Toeplitz hash of its flow and the driver's key and redirection
//       table select, each flow in order on one queue, and at least two
//       queues must have received frames
//   upio-e1000-vm pcapcheck FILE --count N --size LO-HI
//       checks a capture of "pkt-gen -f rxseq --pcap FILE" fed by the host
//       checker's "seqsource:N:LO-HI": exactly N frames, frame n carrying
//       sequence number n, LO + n % (HI-LO+1) bytes long, a valid
//       Ethernet/IPv4/UDP frame (checksums) and byte for byte, from the
//       ethertype on, the frame pkt-gen's write_frame() builds
//
// Exit status 0 on success; failures print what differed.
#include "drivers/e1000/e1000.hpp"
#include "frame.hpp" // pkt-gen's frames (tools/pkt-gen)

#include <pcap/pcap.h>

#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace upio;
using clock_type = std::chrono::steady_clock;

namespace {

std::string mac_str(const std::array<std::uint8_t, 6>& m) {
    char b[18];
    std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return b;
}

std::size_t frame_len(std::uint32_t i) { return 60 + (std::size_t(i) * 97) % (1514 - 60 + 1); }

// Our frame number `seq`, as the host echoes it: addresses swapped.
void fill(std::uint8_t* p, std::uint32_t seq, std::size_t len, const std::uint8_t* dst, const std::uint8_t* src) {
    std::memcpy(p, dst, 6);
    std::memcpy(p + 6, src, 6);
    p[12] = 0x88;
    p[13] = 0xb6;
    std::memcpy(p + 14, &seq, 4);
    for (std::size_t i = 18; i < len; i++) p[i] = std::uint8_t(seq * 13 + i);
}

int fail(const char* fmt, const std::string& a = "", const std::string& b = "") {
    std::fprintf(stderr, fmt, a.c_str(), b.c_str());
    std::fputc('\n', stderr);
    return 1;
}

void print_stats(e1000::E1000Adapter& a) {
    const e1000::HwStats& s = a.stats();
    std::printf("stats: tx %llu pkts %llu bytes, rx %llu pkts %llu bytes, missed %llu, no-buffer %llu\n",
                (unsigned long long)s.tx_packets, (unsigned long long)s.tx_bytes, (unsigned long long)s.rx_packets,
                (unsigned long long)s.rx_bytes, (unsigned long long)s.rx_missed, (unsigned long long)s.rx_no_buffer);
}

int echo(Port& port, e1000::E1000Adapter& a, std::uint32_t count, std::uint32_t window, bool poll) {
    netmap_ring* tx = port.tx_ring(0);
    netmap_ring* rx = port.rx_ring(0);
    const auto mac = a.mac();
    const std::uint8_t peer[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0xee};
    std::vector<std::uint8_t> want(2048);
    std::uint32_t sent = 0, got = 0;
    std::uint64_t bytes = 0;
    auto last = clock_type::now();
    const auto t0 = last;
    while (got < count) {
        while (sent < count && sent - got < window && nm_ring_space(tx)) {
            netmap_slot& s = tx->slot[tx->cur];
            std::size_t len = frame_len(sent);
            fill(reinterpret_cast<std::uint8_t*>(NETMAP_BUF(tx, s.buf_idx)), sent, len, peer, mac.data());
            s.len = std::uint16_t(len);
            s.flags = 0;
            bytes += len + 4;
            sent++;
            tx->head = tx->cur = nm_ring_next(tx, tx->cur);
        }
        if (int rc = port.txsync(); rc < 0)
            return fail("txsync failed: %s %s", a.tx_hung(0) ? a.tx_hang_report(0) : port.last_error(), "");
        if (poll) {
            port.rxsync();
        } else if (port.wait(Direction::rx, std::chrono::milliseconds(200)) < 0) {
            return fail("wait failed: %s%s", port.last_error());
        }
        while (!nm_ring_empty(rx)) {
            netmap_slot& s = rx->slot[rx->cur];
            const std::size_t len = frame_len(got);
            fill(want.data(), got, len, mac.data(), peer);
            const auto* p = reinterpret_cast<const std::uint8_t*>(NETMAP_BUF(rx, s.buf_idx));
            if (s.len != len || std::memcmp(p, want.data(), len) != 0) {
                std::uint32_t seq = 0;
                std::memcpy(&seq, p + 14, 4);
                std::fprintf(stderr, "frame %u: got %u bytes (seq %u), expected %zu bytes\n", got, s.len, seq, len);
                return 1;
            }
            got++;
            last = clock_type::now();
            rx->head = rx->cur = nm_ring_next(rx, rx->cur);
        }
        if (clock_type::now() - last > std::chrono::seconds(20)) {
            std::fprintf(stderr, "no echo for 20 s: sent %u, received %u; link %s\n", sent, got,
                         a.link_status().up ? "up" : "down");
            print_stats(a);
            return 1;
        }
    }
    // let the last completions in, then compare with the NIC's counters
    for (int i = 0; i < 100 && nm_ring_space(tx) != tx->num_slots - 1; i++) {
        port.txsync();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::printf("echo: %u frames out and back intact, in order, %.1f s (guest clock), %s\n", count, secs,
                poll ? "busy polling" : "interrupts");
    if (!poll) {
        std::printf("interrupt messages consumed by waits: %llu\n", (unsigned long long)a.irq_wakeups());
        if (a.irq_wakeups() == 0) return fail("no interrupt ever woke a wait: the echo ran on timeouts%s%s");
    }
    const e1000::HwStats& s = a.stats();
    print_stats(a);
    if (s.tx_packets != count || s.rx_packets != count)
        return fail("hardware counters disagree: GPTC/GPRC %s, expected %s",
                    std::to_string(s.tx_packets) + "/" + std::to_string(s.rx_packets),
                    std::to_string(count) + "/" + std::to_string(count));
    if (s.tx_bytes != bytes || s.rx_bytes != bytes)
        return fail("hardware byte counters disagree: GOTC/GORC %s, expected %s",
                    std::to_string(s.tx_bytes) + "/" + std::to_string(s.rx_bytes), std::to_string(bytes));
    return 0;
}

// -- RSS (82576 7.1.2.8): the driver's key and RETA, computed here on our own
constexpr std::uint32_t rss_key_words[10] = {0xda565a6d, 0xc20e5b25, 0x3d256741, 0xb08fa343, 0xcb2bcad0,
                                             0xb4307bae, 0xa32dcb77, 0x0cf23080, 0x3bb7426a, 0xfa01acbe};

// Toeplitz hash of the IPv4/UDP 4-tuple (addresses and ports in network
// order), key bytes in the order the RSSRK registers hold them (byte 0 of a
// register is its low byte).
std::uint32_t toeplitz(const std::uint8_t* in, std::size_t n) {
    std::uint8_t key[40];
    for (unsigned i = 0; i < 40; i++) key[i] = std::uint8_t(rss_key_words[i / 4] >> (8 * (i % 4)));
    std::uint32_t hash = 0;
    std::uint64_t window = 0; // key bits [bit, bit+64)
    for (unsigned i = 0; i < 8; i++) window = window << 8 | key[i];
    for (std::size_t byte = 0; byte < n; byte++) {
        for (int b = 7; b >= 0; b--) {
            if (in[byte] >> b & 1) hash ^= std::uint32_t(window >> 32);
            window <<= 1;
        }
        if (byte + 8 < 40) window |= std::uint64_t(key[byte + 8]); // next key byte enters at the bottom
    }
    return hash;
}

struct Flow {
    pktgen::FrameSpec spec;
    std::uint32_t hash = 0, queue = 0; // the queue RSS must pick
    int seen_on = -1;
    std::uint64_t next = 0; // next sequence number expected of this flow
    std::uint64_t received = 0;
};

int rss(Port& port, e1000::E1000Adapter& a, std::uint32_t count, std::uint32_t nflows) {
    const std::uint32_t nq = a.num_rings(Direction::rx);
    if (nq < 2) return fail("rss needs --rings 2 or more, the NIC has %s%s", std::to_string(nq));
    const auto mac = a.mac();
    const pktgen::Mac peer{0x02, 0x00, 0x00, 0x00, 0x00, 0xee};
    std::vector<Flow> flows(nflows);
    for (std::uint32_t f = 0; f < nflows; f++) {
        Flow& fl = flows[f];
        fl.next = f; // frame n belongs to flow n % F
        fl.spec.src_mac = mac;
        fl.spec.dst_mac = peer;
        fl.spec.src_ip = 0x0a000001 + (f << 8);  // 10.0.f.1
        fl.spec.src_port = std::uint16_t(1000 + 7 * f);
        std::uint8_t tuple[12];
        for (int i = 0; i < 4; i++) tuple[i] = std::uint8_t(fl.spec.src_ip >> (24 - 8 * i));
        for (int i = 0; i < 4; i++) tuple[4 + i] = std::uint8_t(fl.spec.dst_ip >> (24 - 8 * i));
        tuple[8] = std::uint8_t(fl.spec.src_port >> 8), tuple[9] = std::uint8_t(fl.spec.src_port);
        tuple[10] = std::uint8_t(fl.spec.dst_port >> 8), tuple[11] = std::uint8_t(fl.spec.dst_port);
        fl.hash = toeplitz(tuple, sizeof tuple);
        fl.queue = (fl.hash & 0x7f) % nq; // RETA entry i holds i % nq (E1000Adapter::setup_rss)
    }
    // frame n: flow n % F, sequence number n, 60..1514 bytes
    auto frame_of = [&](std::uint64_t n, std::uint8_t* buf, bool echoed) {
        const Flow& fl = flows[n % nflows];
        pktgen::FrameSpec spec = fl.spec;
        if (echoed) std::swap(spec.src_mac, spec.dst_mac); // the checker swaps the MACs only
        return pktgen::write_frame(buf, spec, frame_len(std::uint32_t(n)), &n, nullptr);
    };
    netmap_ring* tx = port.tx_ring(0);
    std::vector<std::uint64_t> per_queue(nq, 0);
    std::vector<std::uint8_t> want(pktgen::max_frame);
    std::uint64_t sent = 0, got = 0;
    const std::uint32_t window = 32;
    auto last = clock_type::now();
    while (got < count) {
        while (sent < count && sent - got < window && nm_ring_space(tx)) {
            netmap_slot& s = tx->slot[tx->cur];
            s.len = frame_of(sent, reinterpret_cast<std::uint8_t*>(NETMAP_BUF(tx, s.buf_idx)), false);
            s.flags = 0;
            sent++;
            tx->head = tx->cur = nm_ring_next(tx, tx->cur);
        }
        if (port.txsync() < 0) return fail("txsync failed: %s%s", port.last_error());
        if (port.wait(Direction::rx, std::chrono::milliseconds(200)) < 0)
            return fail("wait failed: %s%s", port.last_error());
        for (std::uint32_t q = 0; q < nq; q++) {
            netmap_ring* rx = port.rx_ring(q);
            while (!nm_ring_empty(rx)) {
                netmap_slot& s = rx->slot[rx->cur];
                const auto* p = reinterpret_cast<const std::uint8_t*>(NETMAP_BUF(rx, s.buf_idx));
                const std::uint64_t seq = s.len >= pktgen::seq_offset + 8 ? pktgen::frame_seq(p) : ~0ull;
                if (seq >= sent) {
                    std::fprintf(stderr, "queue %u: a frame of %u bytes with sequence %llu, which was not sent\n", q,
                                 s.len, (unsigned long long)seq);
                    return 1;
                }
                Flow& fl = flows[seq % nflows];
                const std::size_t len = frame_of(seq, want.data(), true);
                if (s.len != len || std::memcmp(p, want.data(), len) != 0 ||
                    !pktgen::verify_frame({p, std::size_t(s.len)})) {
                    std::fprintf(stderr, "queue %u: frame %llu (%u bytes, expected %zu) differs from what was sent\n",
                                 q, (unsigned long long)seq, s.len, len);
                    return 1;
                }
                if (q != fl.queue) {
                    std::fprintf(stderr,
                                 "frame %llu of flow %llu (hash %08x) arrived on queue %u, RSS selects queue %u\n",
                                 (unsigned long long)seq, (unsigned long long)(seq % nflows), fl.hash, q, fl.queue);
                    return 1;
                }
                if (seq != fl.next) {
                    std::fprintf(stderr, "flow %llu: frame %llu arrived, expected %llu (reordered or lost)\n",
                                 (unsigned long long)(seq % nflows), (unsigned long long)seq,
                                 (unsigned long long)fl.next);
                    return 1;
                }
                fl.next = seq + nflows;
                fl.received++;
                per_queue[q]++;
                got++;
                last = clock_type::now();
                rx->head = rx->cur = nm_ring_next(rx, rx->cur);
            }
        }
        if (clock_type::now() - last > std::chrono::seconds(20)) {
            std::fprintf(stderr, "no echo for 20 s: sent %llu, received %llu\n", (unsigned long long)sent,
                         (unsigned long long)got);
            print_stats(a);
            return 1;
        }
    }
    std::uint32_t used = 0;
    std::printf("rss: %u frames of %u flows back intact, each flow in order on the queue its hash selects:", count,
                nflows);
    for (std::uint32_t q = 0; q < nq; q++) {
        std::printf(" q%u=%llu", q, (unsigned long long)per_queue[q]);
        used += per_queue[q] > 0;
    }
    std::printf("\n");
    for (std::uint32_t f = 0; f < nflows; f++)
        std::printf("  flow %u: 10.0.%u.1:%u -> 10.1.0.1:4321 hash %08x queue %u, %llu frames\n", f, f,
                    flows[f].spec.src_port, flows[f].hash, flows[f].queue, (unsigned long long)flows[f].received);
    if (used < 2) return fail("all frames arrived on one queue: RSS did not spread the flows%s%s");
    return 0;
}

int pcapcheck(const std::string& path, std::uint64_t count, std::uint32_t lo, std::uint32_t hi) {
    char ebuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline(path.c_str(), ebuf);
    if (!p) return fail("cannot read %s: %s", path, ebuf);
    pcap_pkthdr* h;
    const u_char* data;
    std::uint64_t n = 0, bad = 0;
    std::vector<std::uint8_t> want(pktgen::max_frame);
    pktgen::FrameSpec spec; // pkt-gen's defaults, as the checker sends them
    while (pcap_next_ex(p, &h, &data) == 1) {
        const std::size_t len = lo + std::size_t(n % (hi - lo + 1));
        std::uint64_t seq = 0;
        if (h->caplen >= pktgen::seq_offset + 8) seq = pktgen::frame_seq(data);
        bool ok = h->caplen == h->len && h->caplen == len && seq == n &&
                  pktgen::verify_frame({data, std::size_t(h->caplen)});
        if (ok) {
            pktgen::write_frame(want.data(), spec, len, &seq, nullptr);
            ok = std::memcmp(data + 12, want.data() + 12, len - 12) == 0;
        }
        if (!ok && bad++ < 5)
            std::fprintf(stderr, "frame %llu: %u bytes (expected %zu), sequence %llu%s\n", (unsigned long long)n,
                         h->caplen, len, (unsigned long long)seq, seq == n ? ", contents differ" : "");
        n++;
    }
    pcap_close(p);
    std::printf("pcapcheck: %llu frames, %llu bad, %llu expected\n", (unsigned long long)n, (unsigned long long)bad,
                (unsigned long long)count);
    return n == count && bad == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: upio-e1000-vm info|echo ADDR [--mac MAC] [--count N] [--window W] [--poll] [--rings R] [--irq msix|msi|intx]\n       upio-e1000-vm rss ADDR --rings R [--count N] [--flows F]\n       upio-e1000-vm pcapcheck FILE --count N --size LO-HI\n");
        return 2;
    }
    std::string cmd = argv[1], addr = argv[2], want_mac, want_irq;
    std::uint32_t count = 1000, window = 32, rings = 1, flows = 16;
    bool poll = false;
    std::uint32_t lo = 60, hi = 1514;
    for (int i = 3; i < argc; i++) {
        std::string o = argv[i];
        if (o == "--size" && i + 1 < argc) {
            if (std::sscanf(argv[++i], "%u-%u", &lo, &hi) != 2 || lo < pktgen::min_frame || hi < lo ||
                hi > pktgen::max_frame)
                return fail("bad --size %s%s", argv[i]);
            continue;
        }
        if (o == "--mac" && i + 1 < argc) want_mac = argv[++i];
        else if (o == "--count" && i + 1 < argc) count = std::uint32_t(std::strtoul(argv[++i], nullptr, 0));
        else if (o == "--window" && i + 1 < argc) window = std::uint32_t(std::strtoul(argv[++i], nullptr, 0));
        else if (o == "--rings" && i + 1 < argc) rings = std::uint32_t(std::strtoul(argv[++i], nullptr, 0));
        else if (o == "--irq" && i + 1 < argc) want_irq = argv[++i];
        else if (o == "--flows" && i + 1 < argc) flows = std::uint32_t(std::strtoul(argv[++i], nullptr, 0));
        else if (o == "--poll") poll = true;
        else return fail("unknown option %s", o);
    }
    if (cmd == "pcapcheck") return pcapcheck(addr, count, lo, hi);
    register_port_type("e1000", &e1000::Factory::open_name);
    PortOptions opts;
    opts.tx_slots = opts.rx_slots = 256;
    opts.rings = rings;
    opts.memory.hugepages = HugepagePolicy::never;
    // all rings in this Port: the echo uses ring 0, the others must stay quiet
    auto p = Port::open("e1000:" + addr, opts);
    if (!p) return fail("%s", p.error().message);
    auto& a = dynamic_cast<e1000::E1000Adapter&>(p.value()->adapter());
    e1000::LinkStatus l = a.link_status();
    std::printf("%s: %s, %u queue pairs, MAC %s, link %s %u Mb/s %s, interrupts %s\n", a.name().c_str(),
                a.chip().name, a.num_rings(Direction::rx),
                mac_str(a.mac()).c_str(), l.up ? "up" : "down", l.speed_mbps, l.full_duplex ? "full" : "half",
                !a.has_interrupts() ? "none"
                : a.irq_kind() == IrqKind::msix ? "MSI-X"
                : a.irq_kind() == IrqKind::msi  ? "MSI"
                                                : "INTx");
    if (!a.irq_error().empty()) std::printf("%s\n", a.irq_error().c_str());
    if (!want_irq.empty()) {
        const char* got = !a.has_interrupts() ? "none"
                          : a.irq_kind() == IrqKind::msix ? "msix"
                          : a.irq_kind() == IrqKind::msi  ? "msi"
                                                          : "intx";
        if (want_irq != got) return fail("interrupts: the driver chose %s, expected %s", got, want_irq);
        std::printf("interrupts: %s with %u vector(s), as expected\n", got, a.irq_vectors());
    }
    if (cmd == "info") {
        if (!want_mac.empty() && mac_str(a.mac()) != want_mac) return fail("MAC %s, expected %s", mac_str(a.mac()), want_mac);
        return l.up ? 0 : fail("link is down%s%s");
    }
    if (cmd == "echo") {
        // QEMU's e1000 ignores rx for a second after RCTL is written
        std::this_thread::sleep_for(std::chrono::milliseconds(1200));
        return echo(*p.value(), a, count, std::min(window, opts.rx_slots / 2), poll);
    }
    if (cmd == "rss") {
        if (flows == 0) return fail("--flows must be at least 1%s%s");
        std::this_thread::sleep_for(std::chrono::milliseconds(1200)); // as for echo
        return rss(*p.value(), a, count, flows);
    }
    return fail("unknown command %s%s", cmd);
}
